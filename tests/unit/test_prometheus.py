"""Which figures each job's metrics take from an invocation: a success's, or only a failure's
exit code and time; the textfile merges a run into what earlier runs wrote."""

from __future__ import annotations

from spark_etl.monitoring import prometheus
from spark_etl.monitoring.prometheus import JobFigures

PLANNED = {"customer_data_transform": "customer", "cart_data_transform": "cart"}


def run(job: str, status: str) -> dict[str, object]:
    return {
        "job": job,
        "status": status,
        "rows_read": 10,
        "rows_loaded": 7,
        "rows_rejected": 2,
        "rows_duplicate": 1,
        "seconds": 4.5,
        "ended_epoch": 1000.0,
    }


def test_a_committed_job_and_one_an_earlier_failure_never_started():
    figures = prometheus.job_figures(
        PLANNED, [run("customer_data_transform", "failed")], 75, 2000.0, 9.0
    )

    assert figures == [
        JobFigures("customer_data_transform", "customer", 75, 1000.0, 4.5, False, 10, 7, 3),
        JobFigures("cart_data_transform", "cart", 75, 2000.0, 9.0, False),
    ]
    assert figures[1].values() == {
        "last_run_exit_code": 75.0,
        "last_run_timestamp_seconds": 2000.0,
        "last_run_duration_seconds": 9.0,
    }


def test_a_success_is_0_unless_the_refresh_after_it_failed():
    runs = [run("customer_data_transform", "succeeded"), run("cart_data_transform", "succeeded")]

    assert [f.exit_code for f in prometheus.job_figures(PLANNED, runs, 0, 0.0, 0.0)] == [0, 0]
    assert [f.exit_code for f in prometheus.job_figures(PLANNED, runs, 3, 0.0, 0.0)] == [3, 3]
    success = prometheus.job_figures(PLANNED, runs, 0, 0.0, 0.0)[0].values()
    assert (success["rows_read"], success["rows_loaded"], success["rows_set_aside"]) == (10, 7, 3)


def test_the_textfile_keeps_other_jobs_and_a_failure_keeps_the_success(tmp_path):
    path = tmp_path / "etl.prom"
    ok = JobFigures("cart_data_transform", "cart", 0, 100.0, 5.0, True, 10, 9, 1)
    other = JobFigures("customer_data_transform", "customer", 0, 90.0, 2.0, True, 3, 3, 0)
    prometheus.write_textfile(path, [ok, other])
    prometheus.write_textfile(
        path, [JobFigures("cart_data_transform", "cart", 4, 200.0, 6.0, False)]
    )

    series = prometheus.read_textfile(path)

    cart = ("cart_data_transform", "cart")
    assert series["last_run_exit_code"] == {cart: 4.0, ("customer_data_transform", "customer"): 0.0}
    assert (series["last_success_timestamp_seconds"][cart], series["rows_read"][cart]) == (100, 10)
    assert series["last_run_timestamp_seconds"][cart] == 200.0
