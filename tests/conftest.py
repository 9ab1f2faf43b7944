"""Shared fixtures: one local Spark session and one real PostgreSQL for the whole test run.

The PostgreSQL is a throwaway embedded server in a temporary folder, unless PGHOST names a
server to use instead. Each integration test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.extras
import pytest
from psycopg2 import sql
from pyspark.sql import SparkSession

from spark_etl.config import Connection, Settings, connection_from_env, load_settings
from spark_etl.local_postgres import LocalPostgres
from spark_etl.session import build_session

REPO = Path(__file__).resolve().parent.parent


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


def open_connection(connection: Connection, schema: str | None = None):
    conn = psycopg2.connect(
        host=connection.host,
        port=connection.port,
        dbname=connection.database,
        user=connection.user,
        password=connection.password,
        cursor_factory=psycopg2.extras.RealDictCursor,
    )
    if schema:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.commit()
    return conn


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
