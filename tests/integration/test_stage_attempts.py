"""Staging tasks that Spark runs twice, on real multi-executor runs: every row loaded once.

Each load is a spark-submit of ``faulty_stage_job.py`` (a load job whose COPY task misbehaves
once) on two executor processes:

- an executor killed right after one task's COPY committed: ``local-cluster[2,1,1024]``;
- a slow task copied by speculation: a standalone master with two workers on two loopback
  addresses, as Spark never starts a speculative copy on the host of the running attempt, and
  every executor of ``local-cluster`` is on one host (``TaskSetManager`` marks the task
  speculatable there and never launches it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyspark
import pytest

from spark_etl.config import Settings
from spark_etl.db import attempts, migrations, postgres
from spark_etl.db.attempts import Attempt
from spark_etl.definitions import load_entities
from tests.helpers import (
    REPO,
    create_model,
    open_connection,
    pg_environment,
    query,
    spark_submit,
    write_csv,
)

pytestmark = pytest.mark.integration
# Several JVMs each (spark-submit, executors, a standalone cluster): run by ./test.sh on the
# host; the Docker image's suite, whose repository copy is read-only, leaves them out.
SEVERAL_JVMS = pytest.mark.skipif(
    not os.access(REPO, os.W_OK), reason="several JVMs: run on the host by ./test.sh"
)

JOB = REPO / "tests" / "integration" / "faulty_stage_job.py"
CUSTOMERS = 2000
BROKEN = (17, 1001, 1999)  # ids whose created_at is no time: set aside
NOT_A_TIME = "created_at is not a date (yyyy-MM-dd HH:mm:ss or yyyy-MM-dd)"
SPECULATION = (
    "spark.speculation=true",
    "spark.speculation.interval=100ms",
    "spark.speculation.multiplier=1",
    "spark.speculation.quantile=0.1",
    "spark.speculation.minTaskRuntime=100ms",
)


def customers(folder: Path) -> list[tuple[int, str, datetime]]:
    """A customer extract of several file splits; returns the rows the model must hold."""
    rows = [
        (
            str(n),
            f"Customer {n:05d}",
            "not a time" if n in BROKEN else f"2020-01-01 00:{n % 60:02d}:00",
        )
        for n in range(1, CUSTOMERS + 1)
    ]
    write_csv(folder, "customers", rows)
    return [
        (n, f"Customer {n:05d}", datetime(2020, 1, 1, 0, n % 60))
        for n in range(1, CUSTOMERS + 1)
        if n not in BROKEN
    ]


def load(tmp_path: Path, settings: Settings, connection, master: str, fault: str, *conf: str):
    """spark-submit the customer load with ``fault`` on ``master``; 4 file splits, 4 COPY tasks."""
    db = settings.database
    config = tmp_path / "etl.yaml"
    config.write_text(
        f"database:\n  schema: {db.db_schema}\n  analytics_schema: {db.analytics_schema}\n"
        "  write_partitions: 4\nspark:\n  ui_enabled: false\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        **pg_environment(connection),
        "SPARK_ETL_LOG_DIR": str(tmp_path / "logs"),
        "PYSPARK_PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "STAGE_FAULT": fault,
        "STAGE_FAULT_MARKER": str(tmp_path / "fault-done"),
    }
    options = [f"--conf={item}" for item in conf]
    command = [
        spark_submit(),
        "--master",
        master,
        "--jars",
        db.jdbc_jar,
        "--conf=spark.executor.memory=512m",
        "--conf=spark.sql.files.maxPartitionBytes=16k",
        "--conf=spark.sql.files.openCostInBytes=0",
        *options,
        str(JOB),
        "customer_data_transform",
        "--input-dir",
        str(tmp_path / "in"),
        "--config",
        str(config),
    ]
    return subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )


def attempts_of(connection, settings: Settings, table: str) -> list[tuple]:
    """The task attempts that committed into ``table``'s last write: (partition, attempt
    number, rows, kept)."""
    return query(
        connection,
        settings,
        "SELECT partition, attempt_number, rows, kept FROM stage_attempt "
        "JOIN stage_write USING (write_id) WHERE stage_table = %s ORDER BY 1, 2",
        table,
    )


def assert_loaded_once(connection, settings: Settings, expected: list[tuple]) -> None:
    assert (
        query(connection, settings, "SELECT customer_id, name, created_at FROM customer ORDER BY 1")
        == expected
    )
    assert query(
        connection, settings, "SELECT record_number, reasons FROM etl_reject ORDER BY 1"
    ) == [(n, [NOT_A_TIME]) for n in BROKEN]  # record n is customer n
    assert query(
        connection, settings, "SELECT status, rows_read, rows_loaded, rows_rejected FROM etl_run"
    ) == [("succeeded", CUSTOMERS, CUSTOMERS - len(BROKEN), len(BROKEN))]


def test_a_database_staged_by_an_earlier_version_gains_the_attempt_columns(db_settings, connection):
    schema = db_settings.database.db_schema
    conn = open_connection(connection)
    create_model(conn, schema)
    with conn.cursor() as cur:  # as the version before attempts left it
        cur.execute("DROP TABLE stage_write, stage_attempt")
        for table in ("stage_reject", "stage_customer", "stage_product", "stage_cart"):
            cur.execute(f"ALTER TABLE {table} DROP COLUMN stage_attempt")
    conn.commit()

    postgres.apply_schema(conn, schema)
    model = load_entities()
    changes = migrations.plan(conn, schema, model, model.entities)
    migrations.apply(conn, changes, None, "test")
    conn.close()

    assert [change.what for change in changes] == [
        f"add column {table}.stage_attempt (bigint)"
        for table in ("stage_customer", "stage_product", "stage_cart")
    ]
    assert query(
        connection,
        db_settings,
        "SELECT table_name FROM information_schema.columns WHERE table_schema = %s "
        "AND column_name = 'stage_attempt' ORDER BY 1",
        schema,
    ) == [("stage_cart",), ("stage_customer",), ("stage_product",), ("stage_reject",)]
    assert query(connection, db_settings, "SELECT count(*) FROM stage_write, stage_attempt") == [
        (0,)
    ]


def test_settling_waits_for_an_attempt_in_flight_and_shuts_out_later_ones(db_settings, connection):
    schema = db_settings.database.db_schema
    driver, in_flight, late = (open_connection(connection, schema) for _ in range(3))
    create_model(driver, schema)
    earlier = attempts.begin(driver, "stage_customer")
    write_id = attempts.begin(driver, "stage_customer")  # the earlier write is replaced
    kept, spare = Attempt(0, 7, 1, 1), Attempt(0, 3, 0, 1)
    with in_flight.cursor() as cur:  # the slow first attempt: admitted, its row not committed
        assert attempts.admit(cur, "stage_customer", write_id)
        cur.execute("INSERT INTO stage_customer (customer_id, stage_attempt) VALUES (1, 3)")
        attempts.record(cur, write_id, spare)
    with late.cursor() as cur:  # the speculative copy, counted by Spark
        assert attempts.admit(cur, "stage_customer", write_id)
        cur.execute("INSERT INTO stage_customer (customer_id, stage_attempt) VALUES (1, 7)")
        attempts.record(cur, write_id, kept)
    late.commit()
    settling = threading.Thread(
        target=lambda: settled.append(attempts.settle(driver, "stage_customer", write_id, [kept]))
    )
    settled: list[attempts.Settled] = []

    settling.start()
    time.sleep(1)
    assert settled == []  # the attempt in flight holds the seal off
    in_flight.commit()
    settling.join(timeout=30)
    with late.cursor() as cur:  # a third attempt, or one of the replaced write, comes too late
        assert not attempts.admit(cur, "stage_customer", write_id)
        assert not attempts.admit(cur, "stage_customer", earlier)
    for conn in (driver, in_flight, late):
        conn.close()

    assert settled == [attempts.Settled((kept,), (spare,))]
    assert query(
        connection, db_settings, "SELECT customer_id, stage_attempt FROM stage_customer"
    ) == [(1, 7)]
    assert query(connection, db_settings, "SELECT attempt, kept FROM stage_attempt ORDER BY 1") == [
        (3, False),
        (7, True),
    ]


@SEVERAL_JVMS
@pytest.mark.parametrize(
    ("table", "partition"),
    [("stage_customer", "1"), (postgres.STAGE_REJECT, "any")],  # "any": one that has rejects
)
def test_a_task_rerun_after_its_executor_died_stages_its_rows_once(
    db_settings, connection, tmp_path, table, partition
):
    expected = customers(tmp_path / "in")

    result = load(
        tmp_path,
        db_settings,
        connection,
        "local-cluster[2,1,1024]",
        f"kill:{table}:{partition}",
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_loaded_once(connection, db_settings, expected)
    staged = attempts_of(connection, db_settings, table)
    # one task committed twice: its first attempt died with its executor, after its commit
    discarded = [row for row in staged if row[3] is False]
    assert len(discarded) == 1 and discarded[0][1] == 0 and discarded[0][2] > 0
    kept = [row for row in staged if row[0] == discarded[0][0] and row[3]]
    assert [row[1:] for row in kept] == [(kept[0][1], discarded[0][2], True)]
    assert kept[0][1] > 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory) -> Iterator[str]:
    """A standalone master and two one-core workers on 127.0.0.2 and 127.0.0.3; its URL."""
    home = Path(pyspark.__file__).parent  # pip's pyspark is a Spark home
    spark_class = str(home / "bin" / "spark-class")
    folder = tmp_path_factory.mktemp("standalone")
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_WORKER_DIR": str(folder / "work")}
    env.pop("SPARK_LOCAL_IP", None)
    deploy = "org.apache.spark.deploy"
    master = ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(_free_port())]
    commands = [[spark_class, f"{deploy}.master.Master", *master]]
    for host in ("127.0.0.2", "127.0.0.3"):
        worker = ["--host", host, "--cores", "1", "--memory", "1g"]
        worker += ["--webui-port", str(_free_port()), url]
        commands.append([spark_class, f"{deploy}.worker.Worker", *worker])
    processes = []
    try:
        for number, command in enumerate(commands):
            with (folder / f"daemon{number}.log").open("w") as log:  # the child keeps it open
                processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
            if number == 0:
                time.sleep(3)
        deadline = time.monotonic() + 60
        while not all(
            "Successfully registered with master" in (folder / f"daemon{n}.log").read_text()
            for n in (1, 2)
        ):
            assert time.monotonic() < deadline, "the standalone workers did not register"
            time.sleep(0.5)
        yield url
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


@SEVERAL_JVMS
def test_a_speculative_copy_of_a_slow_task_stages_its_rows_once(
    db_settings, connection, tmp_path, two_hosts
):
    expected = customers(tmp_path / "in")

    result = load(
        tmp_path, db_settings, connection, two_hosts, "slow:stage_customer:2:20", *SPECULATION
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_loaded_once(connection, db_settings, expected)
    staged = attempts_of(connection, db_settings, "stage_customer")
    # partition 2's first attempt committed and slept; its speculative copy was kept
    first, copy = [row for row in staged if row[0] == 2]
    assert first[1:] == (0, copy[2], False) and copy[1:] == (1, copy[2], True) and copy[2] > 0
    assert [row for row in staged if row[0] != 2 and not row[3]] == []
