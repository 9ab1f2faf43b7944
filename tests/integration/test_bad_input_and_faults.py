"""Bad input and faults: one clear message, nothing written to the model, the run recorded.

Every case here leaves the model tables empty (or as they were) and an ``etl_run`` row that
says what happened.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from spark_etl.errors import InputError
from spark_etl.local.datagen import DataSpec, generate
from tests.helpers import (
    REPO,
    job_config,
    pg_environment,
    query,
    run_job,
    spark_submit,
    wait_for,
    wait_for_no_lock,
)

pytestmark = pytest.mark.integration

BAD_CUSTOMER_FILES = {
    "header lacks a column": (
        b"id,name\n1,Ada\n",
        "{path} lacks column(s) created_at; expected the header id,name,created_at.",
    ),
    "header has an unknown column": (
        b"id,name,created_at,email\n1,Ada,2020-01-01,a@example.com\n",
        "{path} has unknown column(s) email; expected the header id,name,created_at.",
    ),
    "empty file": (b"", "{path} is empty; it needs a header row: id,name,created_at."),
    "not UTF-8": (
        "id,name,created_at\n1,Jäger,2020-01-01\n".encode("cp1252"),
        "{path} is not UTF-8 (byte 0xe4 at offset 22); convert it, for example: "
        "iconv -f latin1 -t utf-8 IN > OUT.",
    ),
}


@pytest.mark.parametrize("case", BAD_CUSTOMER_FILES)
def test_bad_file_stops_the_job_with_one_sentence_and_writes_nothing(
    spark, db_settings, connection, tmp_path, case
):
    content, message = BAD_CUSTOMER_FILES[case]
    path = tmp_path / "customers.csv"
    path.write_bytes(content)

    with pytest.raises(InputError) as raised:
        run_job(spark, db_settings, connection, tmp_path, job="customer_data_transform")

    expected = message.format(path=path)
    assert str(raised.value) == expected
    assert query(connection, db_settings, "SELECT count(*) FROM customer") == [(0,)]
    assert query(connection, db_settings, "SELECT count(*) FROM etl_reject") == [(0,)]
    assert query(connection, db_settings, "SELECT status, error_message FROM etl_run") == [
        ("failed", f"InputError: {expected}")
    ]


def test_killed_job_leaves_model_unchanged_and_the_next_run_completes(
    spark, db_settings, connection, tmp_path
):
    generate(tmp_path / "in", DataSpec.scaled(20_000, seed=5, broken_fraction=0.0))
    config = job_config(tmp_path, db_settings)
    run_job(spark, db_settings, connection, tmp_path / "in", job="customer_data_transform")
    run_job(spark, db_settings, connection, tmp_path / "in", job="product_data_transform")
    job = subprocess.Popen(
        [
            spark_submit(),
            "--master",
            "local[1]",
            "--jars",
            db_settings.database.jdbc_jar,
            str(REPO / "jobs" / "cart_data_transform.py"),
            "--input-dir",
            str(tmp_path / "in"),
            "--config",
            str(config),
        ],
        env={
            **os.environ,
            **pg_environment(connection),
            "SPARK_ETL_LOG_DIR": str(tmp_path / "logs"),
            "PYSPARK_PYTHON": sys.executable,  # also how spark-submit finds its Spark home
        },
        stdout=(tmp_path / "job.out").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: (
                query(
                    connection, db_settings, "SELECT count(*) FROM etl_run WHERE status = 'running'"
                )
                == [(1,)]
            )
        )
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=60)
    # the server ends the dead job's session, and its lock, once it sees the socket close
    wait_for_no_lock(connection, db_settings)
    assert query(connection, db_settings, "SELECT count(*) FROM cart") == [(0,)]

    run_job(spark, db_settings, connection, tmp_path / "in", job="cart_data_transform")

    runs = query(
        connection,
        db_settings,
        "SELECT status, error_message, rows_loaded FROM etl_run "
        "WHERE job = 'cart_data_transform' ORDER BY started_at",
    )
    assert runs == [
        ("failed", "interrupted: the process ended before the run finished", None),
        ("succeeded", None, 20_000),
    ]
    assert query(connection, db_settings, "SELECT count(*) FROM cart") == [(20_000,)]


def test_loads_go_on_after_postgresql_restarts_between_runs(
    spark, db_settings, connection, postgres_server, tmp_path
):
    if postgres_server is None:
        pytest.skip("PGHOST names an external server, which the tests do not restart")
    generate(tmp_path, DataSpec.scaled(500, seed=9, broken_fraction=0.0))
    run_job(spark, db_settings, connection, tmp_path)
    before = query(connection, db_settings, "SELECT count(*), sum(amount) FROM cart")

    postgres_server.stop()
    postgres_server.start()
    run_ids = run_job(spark, db_settings, connection, tmp_path)

    assert query(connection, db_settings, "SELECT count(*), sum(amount) FROM cart") == before
    statuses = query(
        connection,
        db_settings,
        "SELECT status, rows_inserted, rows_updated FROM etl_run "
        "WHERE run_id = ANY(CAST(%s AS uuid[]))",
        run_ids,
    )
    assert statuses == [("succeeded", 0, 0)] * 3
