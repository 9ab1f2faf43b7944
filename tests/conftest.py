"""Shared fixtures: one local Spark session and one real PostgreSQL for the whole test run.

The PostgreSQL is a throwaway embedded server in a temporary folder, unless PGHOST names a
server to use instead. Each integration test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg2 import sql
from pyspark.sql import SparkSession

from spark_etl.cli import logs
from spark_etl.config import Connection, Settings, connection_from_env, load_settings
from spark_etl.local.postgres import LocalPostgres
from spark_etl.spark.session import build_session
from tests.helpers import job_config, open_connection, pg_environment

# An installation's lake (the Docker image sets /data/lake) is not the tests': a test that
# wants a lake sets lake.warehouse itself.
os.environ.pop("SPARK_ETL_LAKE_WAREHOUSE", None)


@pytest.fixture(scope="session")
def settings() -> Settings:
    defaults = load_settings()
    return defaults.model_copy(
        update={
            "spark": defaults.spark.model_copy(
                update={
                    "master": "local[2]",
                    "app_name": "spark-etl-tests",
                    "shuffle_partitions": 2,
                    "log_level": "ERROR",
                    "ui_enabled": False,
                }
            )
        }
    )


@pytest.fixture(scope="session")
def spark(settings: Settings) -> Iterator[SparkSession]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run the tests' Python
    session = build_session(settings.spark, settings.database.jdbc_jar)
    yield session
    session.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres | None]:
    """The throwaway PostgreSQL of this test run; None when PGHOST names a server to use."""
    if os.environ.get("PGHOST"):
        yield None
        return
    base = Path(tempfile.mkdtemp(prefix="spark-etl-pg-"))
    base.chmod(0o755)  # the server may run as another user (postgres) when tests run as root
    server = LocalPostgres(base / "pg", _free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def connection(postgres_server: LocalPostgres | None) -> Connection:
    """Where the real PostgreSQL of the tests is."""
    if postgres_server is None:
        return connection_from_env()
    return connection_from_env(postgres_server.environment)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Remove the handlers a test's call of ``cli.main`` installs on the root logger."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def db_settings(settings: Settings, connection: Connection) -> Iterator[Settings]:
    """Settings whose model lives in a fresh schema of its own, dropped after the test."""
    yield from schema_of_its_own(settings, connection)


def schema_of_its_own(settings: Settings, connection: Connection) -> Iterator[Settings]:
    """Settings with fresh model and analytics schemas, dropped when the generator ends."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    database = {"db_schema": schema, "analytics_schema": f"{schema}_analytics"}
    yield settings.model_copy(update={"database": settings.database.model_copy(update=database)})
    conn = open_connection(connection)
    with conn.cursor() as cur:
        for name in database.values():
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    conn.commit()
    conn.close()


@pytest.fixture
def cli_env(db_settings, connection, tmp_path, monkeypatch, restore_logging) -> Path:
    """For a test calling ``cli.main``: PG* variables of the test database, logs in the test
    folder; returns a --config file for the test's schemas."""
    for key, value in pg_environment(connection).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(logs.LOG_DIR_ENV, str(tmp_path / "logs"))
    return job_config(tmp_path, db_settings)
