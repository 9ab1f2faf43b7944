"""Small helpers for tests: write extracts, run jobs in-process, read back the model."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2.extensions
from pyspark.sql import SparkSession

from spark_etl.config import Connection, Settings
from spark_etl.db import migrations, postgres
from spark_etl.definitions import load_entities
from spark_etl.runs import pipeline
from spark_etl.runs.run_context import RunContext

REPO = Path(__file__).resolve().parent.parent

# The header of each source file, from the built-in entity definitions.
HEADERS = {entity.source.file: tuple(entity.source.columns) for entity in load_entities().entities}


def open_connection(connection: Connection, schema: str = "public"):
    """A psycopg2 connection (dict rows) whose search_path is ``schema``."""
    return postgres.connect(connection, schema, timeout_seconds=10)


def create_model(conn: Any, schema: str) -> None:
    """The audit tables and every built-in entity's tables, as a first load creates them."""
    postgres.apply_schema(conn, schema)
    model = load_entities()
    migrations.migrate(conn, schema, model, model.entities, "test")


def write_csv(
    folder: Path, stem: str, rows: list[tuple[str, ...]], header: tuple[str, ...] | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header or HEADERS[stem])
        writer.writerows(rows)
    return path


def pg_environment(connection: Connection) -> dict[str, str]:
    """The libpq variables that point a job at the test PostgreSQL."""
    return {
        "PGHOST": connection.host,
        "PGPORT": str(connection.port),
        "PGDATABASE": connection.database,
        "PGUSER": connection.user,
        "PGPASSWORD": connection.password or "",
    }


def job_config(folder: Path, settings: Settings) -> Path:
    """A --config file that sends a job to the test's own schemas, without a Spark UI."""
    db = settings.database
    path = folder / "etl.yaml"
    path.write_text(
        f"database:\n  schema: {db.db_schema}\n  analytics_schema: {db.analytics_schema}\n"
        "spark:\n  ui_enabled: false\n",
        encoding="utf-8",
    )
    return path


def spark_submit() -> str:
    """The spark-submit of the Python running the tests (pip's pyspark), else the one on PATH."""
    beside = Path(sys.executable).parent / "spark-submit"
    return str(beside) if beside.exists() else shutil.which("spark-submit") or "spark-submit"


def run_job(
    spark: SparkSession,
    settings: Settings,
    connection: Connection,
    input_dir: Path,
    job: str = "all",
    as_of: datetime = datetime(2030, 1, 1),
) -> list[str]:
    started: list[str] = []
    ctx = RunContext(settings, connection, str(input_dir), as_of)
    pipeline.run(spark, ctx, job, started)
    return started


def load_products(
    spark: SparkSession,
    settings: Settings,
    connection: Connection,
    folder: Path,
    products: list[tuple[str, ...]],
    as_of: datetime,
) -> list[str]:
    """A product extract written to ``folder`` and loaded as of ``as_of`` (a repricing)."""
    write_csv(folder, "products", products)
    return run_job(spark, settings, connection, folder, "product_data_transform", as_of=as_of)


def query(connection: Connection, settings: Settings, statement: str, *params: Any) -> list[tuple]:
    conn = open_connection(connection, settings.database.db_schema)
    try:
        with conn.cursor(cursor_factory=psycopg2.extensions.cursor) as cur:  # plain tuples
            cur.execute(statement, params)
            return cur.fetchall()
    finally:
        conn.close()


def change(connection: Connection, settings: Settings, statement: str, *params: Any) -> list[tuple]:
    """Run a statement that changes the model, as a hand-made fix would, and commit it;
    returns what it returns."""
    conn = open_connection(connection, settings.database.db_schema)
    try:
        with conn.cursor(cursor_factory=psycopg2.extensions.cursor) as cur:  # plain tuples
            cur.execute(statement, params)
            rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def wait_for(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


def wait_for_no_lock(connection: Connection, settings: Settings) -> None:
    """Until the server has ended a killed job's session, and with it the load lock."""
    wait_for(
        lambda: (
            query(
                connection,
                settings,
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
            )
            == [(0,)]
        )
    )


def kill_at(
    killer: str,
    step: str,
    argv: list[str],
    connection: Connection,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """Run a job (``argv``: its name and arguments) in a process of its own through the
    ``killer`` script (which patches the step named ``step`` to SIGKILL the whole process
    group, Python and Spark's JVM); wait for the server to end its session and lock."""
    script = tmp_path / "killer.py"
    script.write_text(killer, encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, str(script), step, *argv],
        env={
            **os.environ,
            **pg_environment(connection),
            "PYTHONPATH": str(REPO),
            "SPARK_ETL_LOG_DIR": str(tmp_path / "logs"),
            "PYSPARK_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": "127.0.0.1",
        },
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
    )
    assert completed.returncode == -signal.SIGKILL, completed.stdout + completed.stderr
    wait_for_no_lock(connection, settings)
