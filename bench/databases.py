"""The harness's databases: a throwaway PostgreSQL of its own, a fresh database per size and
per peer, and their sizes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psycopg2 import sql

from spark_etl.config import Connection
from spark_etl.db import postgres
from spark_etl.local.postgres import LocalPostgres


def admin(connection: Connection) -> Any:
    conn = postgres.connect(connection, "public", 10)
    conn.autocommit = True
    return conn


def fresh_database(base: Connection, name: str) -> Connection:
    conn = admin(base)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    return Connection(base.host, base.port, name, base.user, base.password)


def drop_database(base: Connection, name: str) -> None:
    conn = admin(base)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.close()


@contextmanager
def throwaway_postgres(prefix: str, port: int) -> Iterator[None]:
    """A PostgreSQL of its own for the block (its PG* variables set), unless PGHOST names one;
    stopped and removed when the block ends."""
    if os.environ.get("PGHOST"):
        yield
        return
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o755)
    server = LocalPostgres(base / "pg", port)
    server.start()
    os.environ.update(server.environment)
    try:
        yield
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def database_mb(connection: Connection) -> float:
    conn = postgres.connect(connection, "public", 10)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database()) AS size")
        size = round(cur.fetchone()["size"] / 2**20, 1)
    conn.close()
    return size
