"""The harness's generated increments (the next night's new lines), where the nightly's time
goes, and the scale-out table."""

from __future__ import annotations

from datetime import datetime

import pytest

from bench.inputs import nightly_input
from bench.phases import nightly_breakdown
from bench.scale_out import main as scale_out_main
from bench.scale_out import table


def test_the_nightly_input_is_every_100th_line_new_and_dated_the_day_after_the_last(tmp_path):
    source = tmp_path / "input"
    source.mkdir()
    rows = [f"{i},{i % 7 + 1},{i % 5 + 1},{i % 3 + 1},2024-12-{i % 28 + 1:02d} 10:{i % 60:02d}:00,"
            for i in range(1, 251)]  # fmt: skip
    rows[100] = "x101,1,1,1,yesterday,"  # a broken line: its id and time not read as such
    (source / "carts.csv").write_text(
        "id,product_id,customer_id,quantity,created_at,delete_at\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )

    assert nightly_input(source, tmp_path / "nightly") == 3

    written = (tmp_path / "nightly" / "carts.csv").read_text(encoding="utf-8").splitlines()
    # lines 1, 101 (broken: kept so) and 201; ids after 250, the day after 2024-12-28
    assert written == [
        "id,product_id,customer_id,quantity,created_at,delete_at",
        "251,2,2,2,2024-12-29 10:01:00,",
        "252,1,1,1,yesterday,",
        "253,6,2,1,2024-12-29 10:21:00,",
    ]
    # the second night: the lines after those, ids after the first night's, one day later
    assert nightly_input(source, tmp_path / "night-2", night=2) == 3
    assert (tmp_path / "night-2" / "carts.csv").read_text(encoding="utf-8").splitlines()[1:] == [
        "254,3,3,3,2024-12-30 10:02:00,",
        "255,5,3,1,2024-12-30 10:42:00,",
        "256,7,3,2,2024-12-30 10:22:00,",
    ]


# a nightly's log as the load writes it (cut short; the times are what matters)
NIGHTLY_LOG = """\
2026-12-03 18:18:47,498 DEBUG cart_data_transform run=- spark_etl.cli.main: spark_etl 0.1.0 from /x
2026-12-03 18:18:50,822 INFO cart_data_transform run=- spark_etl.spark.session: Spark 3.5.9 session ready: spark.master=local[*]
2026-12-03 18:18:50,888 INFO cart_data_transform run=b0 spark_etl.io.readers: Reading /n/carts.csv as csv
2026-12-03 18:18:52,844 DEBUG cart_data_transform run=b0 spark_etl.io.readers: Lookup product: 100000 rows in 1 read(s)
2026-12-03 18:18:53,022 DEBUG cart_data_transform run=b0 spark_etl.io.readers: Lookup product_variation: 100000 rows in 1 read(s)
Traceback (most recent call last): a continuation line, not a message
2026-12-03 18:19:02,395 INFO cart_data_transform run=b0 spark_etl.spark.progress: cart_data_transform: read and check: done in 8 s
2026-12-03 18:19:10,707 INFO cart_data_transform run=b0 spark_etl.runs.pipeline: cart_data_transform: merged {'inserted': 100000}
2026-12-03 18:19:32,835 INFO - run=- spark_etl.analytics.refresh: Summarized the cart lines: 1 months recomputed, 0 changed lines applied, 0 purchases recounted, in 22.1 s
2026-12-03 18:20:06,702 INFO cart_data_transform run=- spark_etl.spark.progress: analytics: refresh: done in 56 s
"""


def test_the_nightly_breakdown_reads_each_step_from_the_load_log_and_leaves_the_rest_as_other():
    phases = {"read_validate": 11.5, "stage": 2.9, "merge": 5.4}

    parts = nightly_breakdown(NIGHTLY_LOG, datetime(2026, 12, 3, 18, 18, 46), 81.5, phases)

    assert parts == {
        "process_start": 1.5,  # launched 18:18:46, first line 18:18:47.498
        "spark_session": 3.32,
        "lookups": 2.13,  # from the source's read to the last lookup
        "read_and_check": 9.37,
        "stage": 2.9,
        "merge": 5.4,
        "summaries": 22.1,
        "views": 33.89,  # merged 18:19:10.707 to refreshed 18:20:06.702, less the summaries
        "other": 0.88,
    }


def test_the_scale_out_table_shows_each_phase_and_its_speed_up_against_the_first_count():
    def result(workers, read, refresh):
        phases = {"read_validate": read, "stage": 2.0, "merge": 8.0}
        return {"workers": workers, "load": read + 10.0, "refresh": refresh,
                "jobs": {"cart_data_transform": phases}}  # fmt: skip

    text = table([result(1, 40.0, 30.0), result(2, 25.0, 30.0)], 1_000_000, 1, "4g")

    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| phase | 1 worker(s) (s) | 2 workers (s) | speed-up x2 ÷ x1 |"
    assert rows[1] == "| --- | ---: | ---: | ---: |"
    assert rows[2:] == [
        "| cart_data_transform: read_validate | 40.0 | 25.0 | 1.60 |",
        "| cart_data_transform: stage | 2.0 | 2.0 | 1.00 |",
        "| cart_data_transform: merge | 8.0 | 8.0 | 1.00 |",
        "| the rest of the loads (Spark's start, DDL, the lake's writes) | 0.0 | 0.0 | — |",
        "| the three loads (submit.sh all, wall) | 50.0 | 35.0 | 1.43 |",
        "| analytics refresh + report (submit.sh analytics, wall) | 30.0 | 30.0 | 1.00 |",
        "| suite (wall) | 80.0 | 65.0 | 1.23 |",
    ]
    assert text.startswith(
        "Scale-out on the Docker stack: 1,000,000 cart lines, 1 core(s) and 4g per worker (one "
        "executor each), "
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "two"], "argument --workers: 'two' is not a list of worker counts like 1,2"),
        (["--workers", "1,0"], "argument --workers: '1,0' is not a list of worker counts like 1,2"),
        (["--carts", "-5"], "argument --carts: '-5' is not a whole number of at least 1"),
        (
            ["--memory-per-worker", "4"],
            "argument --memory-per-worker: '4' is not a memory size like 4g or 3500m",
        ),
    ],
)
def test_the_scale_out_refuses_bad_arguments_in_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        scale_out_main(args)

    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: {message}")
