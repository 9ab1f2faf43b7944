"""Generated data through the jobs, and a real spark-submit of the job modules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager

import pytest
from psycopg2 import sql
from py4j.protocol import Py4JNetworkError

from spark_etl.analytics.schema import definition_hash
from spark_etl.cli import main as cli
from spark_etl.local.datagen import DataSpec, generate
from tests.helpers import (
    REPO,
    job_config,
    open_connection,
    pg_environment,
    query,
    run_job,
    spark_submit,
)

pytestmark = pytest.mark.integration


def audit(connection, settings):
    return query(
        connection,
        settings,
        "SELECT job, rows_read, rows_loaded, rows_rejected, rows_duplicate FROM etl_run "
        "ORDER BY started_at",
    )


def test_clean_generated_set_loads_every_row(spark, db_settings, connection, tmp_path):
    written = generate(tmp_path, DataSpec.scaled(3000, broken_fraction=0.0))

    run_job(spark, db_settings, connection, tmp_path)

    assert audit(connection, db_settings) == [
        ("customer_data_transform", written["customers.csv"], written["customers.csv"], 0, 0),
        ("product_data_transform", written["products.csv"], written["products.csv"], 0, 0),
        ("cart_data_transform", written["carts.csv"], written["carts.csv"], 0, 0),
    ]
    assert query(connection, db_settings, "SELECT count(*), count(DISTINCT cart_id) FROM cart") == [
        (3000, 3000)
    ]


def test_every_generated_row_is_loaded_or_set_aside_with_a_reason(
    spark, db_settings, connection, tmp_path
):
    generate(tmp_path, DataSpec(3000, customers=300, products=200, broken_fraction=0.05))

    run_job(spark, db_settings, connection, tmp_path)

    for job, read, loaded, rejected, duplicates in audit(connection, db_settings):
        assert read == loaded + rejected + duplicates, job
        assert rejected > 0, job
        assert duplicates > 0, job
        kept = query(
            connection,
            db_settings,
            "SELECT count(*) FROM etl_reject WHERE job = %s AND cardinality(reasons) > 0",
            job,
        )
        assert kept == [(rejected + duplicates,)], job
    cart_loaded = audit(connection, db_settings)[2][2]
    assert query(connection, db_settings, "SELECT count(*) FROM cart") == [(cart_loaded,)]


def test_unexpected_failure_points_to_the_log_with_the_trace(
    cli_env, tmp_path, capsys, monkeypatch
):
    def explode(*args, **kwargs):
        raise RuntimeError("boom\nsecond line of a long Java trace")

    monkeypatch.setattr(cli, "spark_session", explode)

    assert cli.main("all", ["--input-dir", str(tmp_path), "--config", str(cli_env)]) == 1

    log_file = tmp_path / "logs" / "spark-etl.log"
    assert capsys.readouterr().err == (
        f"error: all failed (RuntimeError: boom); the full trace is in {log_file}\n"
    )
    assert "Traceback" in log_file.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("lost", "shown"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "ConnectionRefusedError: [Errno 111] Connection refused"),
        (Py4JNetworkError("Answer from Java side is empty"), "Py4JNetworkError: Answer from Java side is empty"),
    ],
)  # fmt: skip
def test_a_driver_jvm_lost_mid_run_is_said_to_be_most_often_memory(
    cli_env, tmp_path, capsys, monkeypatch, lost, shown
):
    # what py4j raises once the driver's JVM has exited (an OutOfMemoryError, typically)
    def jvm_gone(*args, **kwargs):
        raise lost

    monkeypatch.setattr(cli, "spark_session", jvm_gone)

    assert cli.main("all", ["--input-dir", str(tmp_path), "--config", str(cli_env)]) == 1

    log_file = tmp_path / "logs" / "spark-etl.log"
    assert capsys.readouterr().err == (
        f"error: all: the Spark driver's JVM stopped during the run ({shown}); most often it "
        "ran out of memory: give it more with spark.driver_memory in the settings (or "
        "spark-submit's --driver-memory). What was not committed was rolled back; the full "
        f"trace is in {log_file}\n"
    )


def test_an_executor_out_of_memory_is_said_with_the_settings_that_give_it_more(
    cli_env, tmp_path, capsys, monkeypatch
):
    # how the driver sees a standalone cluster's executor killed by an OutOfMemoryError
    # (the stack's 1g default at 10M cart lines did this)
    def executor_lost(*args, **kwargs):
        raise RuntimeError(
            "An error occurred while calling o1789.count.\n: org.apache.spark.SparkException: "
            "Job aborted due to stage failure: Task 1 in stage 60.0 failed 4 times, most recent "
            "failure: Lost task 1.3 in stage 60.0 (TID 160) (172.18.0.5 executor 2): "
            "ExecutorLostFailure (executor 2 exited caused by one of the running tasks) Reason: "
            "Command exited with code 52"
        )

    monkeypatch.setattr(cli, "spark_session", executor_lost)

    assert cli.main("all", ["--input-dir", str(tmp_path), "--config", str(cli_env)]) == 1

    log_file = tmp_path / "logs" / "spark-etl.log"
    assert capsys.readouterr().err == (
        "error: all: a Spark executor ran out of memory (Command exited with code 52); give the "
        "executors more: SPARK_EXECUTOR_MEMORY in .env on the Docker stack (at most "
        "SPARK_WORKER_MEMORY), spark-submit's --executor-memory on a cluster, "
        "spark.driver_memory (or --driver-memory) in local mode, where the executors share the "
        "driver's heap. What was not committed was rolled back; the full trace is in "
        f"{log_file}\n"
    )


def test_cli_runs_a_job_and_prints_the_summary(spark, cli_env, tmp_path, monkeypatch, capsys):
    generate(tmp_path / "in", DataSpec(40, 5, 10, broken_fraction=0.0))

    @contextmanager
    def shared_session(*args, **kwargs):
        yield spark  # the test session, left running for the other tests

    monkeypatch.setattr(cli, "spark_session", shared_session)

    code = cli.main(
        "customer_data_transform", ["--input-dir", str(tmp_path / "in"), "--config", str(cli_env)]
    )

    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "job                      status     read    loaded    set aside    duplicates    new    changed    flagged",
        "-----------------------  ---------  ------  --------  -----------  ------------  -----  ---------  ---------",
        "customer_data_transform  succeeded  5       5         0            0             5      0          0",
    ]


def test_a_failed_refresh_after_a_committed_load_is_not_reported_as_a_failed_load(
    spark, cli_env, db_settings, connection, tmp_path, monkeypatch, capsys
):
    generate(tmp_path / "in", DataSpec(40, 5, 10, broken_fraction=0.0))
    analytics_schema = db_settings.database.analytics_schema
    conn = open_connection(connection)
    with conn.cursor() as cur:  # an up-to-date schema whose refresh fails
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(analytics_schema)))
        cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(analytics_schema)))
        cur.execute("CREATE TABLE definition (sha256 text NOT NULL, triggers bigint NOT NULL)")
        cur.execute("INSERT INTO definition VALUES (%s, 0)", (definition_hash(),))
        cur.execute(  # (the refresh reads the last one's step times first)
            "CREATE TABLE refresh_step (name text PRIMARY KEY, seconds double precision,"
            " refreshed_at timestamptz)"
        )
        cur.execute(
            "CREATE FUNCTION summarize_cart(numeric, OUT months_recomputed bigint, "
            "OUT lines_applied bigint) LANGUAGE sql AS 'SELECT CAST(1 / 0 AS bigint), 0'"
        )
    conn.commit()
    conn.close()

    @contextmanager
    def shared_session(*args, **kwargs):
        yield spark

    monkeypatch.setattr(cli, "spark_session", shared_session)

    code = cli.main(
        "customer_data_transform", ["--input-dir", str(tmp_path / "in"), "--config", str(cli_env)]
    )

    assert code == 3
    out, err = capsys.readouterr()
    assert out.splitlines()[2].startswith("customer_data_transform  succeeded  5       5")
    log_file = tmp_path / "logs" / "spark-etl.log"
    assert err.splitlines()[-1] == (
        "error: the load succeeded (see the summary), but refreshing the analytics views failed "
        f"(DivisionByZero: division by zero); the full trace is in {log_file}. "
        "Run the analytics job to retry."
    )
    assert query(connection, db_settings, "SELECT count(*) FROM customer") == [(5,)]


def submit_job(
    entry: str,
    tmp_path,
    connection,
    settings,
    config,
    *options: str,
    extra_env=None,
    entry_args: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """spark-submit ``entry`` in local[2] from ``tmp_path`` on the generated input in ``in/``."""
    env = {
        **os.environ,
        **pg_environment(connection),
        "SPARK_ETL_LOG_DIR": str(tmp_path / "logs"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        **(extra_env or {}),
    }
    command = [
        spark_submit(),
        "--master",
        "local[2]",
        "--jars",
        settings.database.jdbc_jar,
        *options,
        entry,
        *entry_args,
        "--input-dir",
        str(tmp_path / "in"),
        "--config",
        str(config),
    ]
    return subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )


def test_spark_submit_runs_all_jobs_from_the_job_modules(db_settings, connection, tmp_path):
    generate(tmp_path / "in", DataSpec.scaled(500, seed=1, broken_fraction=0.0))
    config = job_config(tmp_path, db_settings)
    result = submit_job(
        str(REPO / "jobs" / "all.py"),
        tmp_path,
        connection,
        db_settings,
        config,
        "--driver-java-options",
        "-Duser.timezone=UTC",
    )

    assert result.returncode == 0, result.stderr[-3000:]
    # spark-submit merges the job's stderr (progress lines) into stdout; the summary ends it.
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("job "))
    summary = [line.split()[:7] for line in lines[header:]]
    assert summary == [
        ["job", "status", "read", "loaded", "set", "aside", "duplicates"],
        [
            "-----------------------",
            "---------",
            "------",
            "--------",
            "-----------",
            "------------",
            "-----",
        ],
        ["customer_data_transform", "succeeded", "25", "25", "0", "0", "25"],
        ["product_data_transform", "succeeded", "10", "10", "0", "0", "10"],
        ["cart_data_transform", "succeeded", "500", "500", "0", "0", "500"],
    ]
    logs = "".join(path.read_text(encoding="utf-8") for path in (tmp_path / "logs").iterdir())
    assert connection.password, "the test server has a password"
    assert connection.password not in result.stdout + result.stderr + logs
    assert query(connection, db_settings, "SELECT count(*), sum(amount) > 0 FROM cart") == [
        (500, True)
    ]


def test_spark_submit_conf_wins_over_the_settings_and_the_driver_comes_from_jars(
    db_settings, connection, tmp_path
):
    generate(tmp_path / "in", DataSpec(40, 5, 10, broken_fraction=0.0))
    config = job_config(tmp_path, db_settings)  # shuffle_partitions: 8 by default
    events = tmp_path / "events"
    events.mkdir()
    result = submit_job(
        str(REPO / "jobs" / "main.py"),
        tmp_path,
        connection,
        db_settings,
        config,
        "--conf",
        "spark.sql.shuffle.partitions=3",
        "--conf",
        "spark.eventLog.enabled=true",
        "--conf",
        f"spark.eventLog.dir=file://{events}",
        entry_args=("load", "customer"),
        # the settings' jar does not exist: the driver comes from --jars alone
        extra_env={"SPARK_ETL_JDBC_JAR": str(tmp_path / "no-such.jar")},
    )

    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / "logs" / "spark-etl.log").read_text(encoding="utf-8")
    ready = next(line for line in log.splitlines() if "session ready" in line)
    assert "spark.master=local[2] (spark-submit)" in ready
    assert "spark.sql.shuffle.partitions=3 (spark-submit)" in ready
    assert f"spark.jars=file://{db_settings.database.jdbc_jar} (spark-submit)" in ready or (
        f"spark.jars={db_settings.database.jdbc_jar} (spark-submit)" in ready
    )
    assert query(connection, db_settings, "SELECT count(*) FROM customer") == [(5,)]
    (event_log,) = events.iterdir()  # what Spark itself recorded of the application's settings
    environment = next(
        event
        for event in map(json.loads, event_log.read_text(encoding="utf-8").splitlines())
        if event["Event"] == "SparkListenerEnvironmentUpdate"
    )
    assert environment["Spark Properties"]["spark.sql.shuffle.partitions"] == "3"
    assert environment["Spark Properties"]["spark.sql.session.timeZone"] == "UTC"


def test_packaged_zip_runs_a_job_under_spark_submit(db_settings, connection, tmp_path):
    dist = tmp_path / "dist"
    built = subprocess.run(
        ["bash", str(REPO / "scripts" / "package.sh")],
        env={**os.environ, "PYTHON": sys.executable, "DIST_DIR": str(dist)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    package = dist / "spark_etl-0.1.0.zip"
    assert built.stdout.splitlines() == [
        str(dist / "spark_etl-0.1.0-py3-none-any.whl"),
        str(package),
    ]
    generate(tmp_path / "in", DataSpec(200, 20, 10, seed=3, broken_fraction=0.0))
    config = job_config(tmp_path, db_settings)
    entry = tmp_path / "customer_data_transform.py"  # outside the repository
    shutil.copy(REPO / "jobs" / "customer_data_transform.py", entry)
    result = submit_job(
        str(entry),
        tmp_path,
        connection,
        db_settings,
        config,
        "--py-files",
        str(package),
        extra_env={"PYTHONPATH": ""},
    )

    assert result.returncode == 0, result.stdout[-3000:]
    log = (tmp_path / "logs" / "spark-etl.log").read_text(encoding="utf-8")
    assert f"from {package}/spark_etl" in log  # the code came from the zip, not the checkout
    assert query(connection, db_settings, "SELECT count(*) FROM customer") == [(20,)]
