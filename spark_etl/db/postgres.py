"""PostgreSQL side of a load: connections, the audit schema, the load lock and the run audit
(the entity tables are created by ``migrations`` and merged by ``merges``).

Everything here goes through psycopg2 with bound parameters; identifiers that vary (the
configured schema, partition names) are composed with ``psycopg2.sql.Identifier``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import psycopg2
import psycopg2.extras
from psycopg2 import sql

from spark_etl.config import Connection, DatabaseSettings
from spark_etl.errors import ConcurrentRunError, DatabaseError, DatabaseUnavailableError

log = logging.getLogger(__name__)

# One advisory lock for every load: jobs read what other jobs write, so loads never interleave.
LOAD_LOCK_KEY = 0x5E7_E7_1  # arbitrary, fixed
STAGE_REJECT = "stage_reject"
# libpq's messages of a connection refused for a reason a user fixes (the rest, such as no
# answer, "the database system is starting up" or "too many clients", pass by themselves)
REFUSALS = (
    "password authentication failed",
    "no password supplied",
    "does not exist",  # the role or the database
    "no pg_hba.conf entry",
    "could not translate host name",
    "invalid port number",
    "authentication failed",
    "permission denied",
    "SSL error",  # PGSSLMODE / PGSSLROOTCERT: a certificate that does not verify
    "server does not support SSL",
    "root certificate file",
    "SSL off",  # pg_hba.conf wants TLS (hostssl) but PGSSLMODE=disable
)
DUPLICATE = ("duplicate",)  # the reasons of a row set aside only as a repeated id


def quoted(*names: str) -> str:
    """``names`` as one qualified SQL identifier in text ("schema"."table"), where a string is
    needed rather than a composed statement (Spark's JDBC table, to_regclass): the one place
    identifiers become text; statements compose them with ``psycopg2.sql.Identifier``."""
    return ".".join('"' + name.replace('"', '""') + '"' for name in names)


def read_sql(*path: str) -> str:
    """A SQL file of the package (``read_sql("db", "schema.sql")``), also when the package runs
    from a zip (``--py-files``)."""
    return resources.files("spark_etl").joinpath(*path).read_text(encoding="utf-8")


def connect(connection: Connection, schema: str, timeout_seconds: int) -> Any:
    """Open a connection whose ``search_path`` is the model's schema."""
    try:
        tls: dict[str, Any] = dict(connection.ssl)  # PGSSL*: also on an executor without them
        conn = psycopg2.connect(
            host=connection.host,
            port=connection.port,
            dbname=connection.database,
            user=connection.user,
            password=connection.password,
            connect_timeout=timeout_seconds,
            cursor_factory=psycopg2.extras.RealDictCursor,
            application_name="spark-etl",
            **tls,
        )
    except psycopg2.OperationalError as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else "no answer"
        where = f"PostgreSQL at {connection.host}:{connection.port} as {connection.user}"
        if any(refusal in str(exc) for refusal in REFUSALS):  # a setting to fix: not retried
            raise DatabaseError(
                f"Cannot connect to {where} ({reason}); check the PG* variables or run "
                "./submit.sh --local."
            ) from None
        raise DatabaseUnavailableError(
            f"Cannot connect to {where} ({reason}); it may be down, starting or in recovery: "
            "run again later, or check the PG* variables."
        ) from None
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        # Plans over every cart partition hold thousands of expressions: JIT compiling them
        # took longer than it saved (5-15 s per analytics view at 10M lines).
        cur.execute("SET jit = off")
    conn.commit()
    return conn


def check_primary(conn: Any) -> None:
    """Refuse a server in recovery (a standby, or one replaying its WAL after a crash or
    during a failover): it takes no writes now, and may later (exit 75)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery() AS recovering")
        recovering = cur.fetchone()["recovering"]
    conn.commit()
    if recovering:
        info = conn.info
        raise DatabaseUnavailableError(
            f"PostgreSQL at {info.host}:{info.port} is in recovery (a standby, or a failover "
            "under way) and takes no writes; run again later, or point PGHOST at the primary."
        )


def open_model(connection: Connection, db: DatabaseSettings) -> Any:
    """A connection to the model's schema, with the configured connect timeout."""
    return connect(connection, db.db_schema, db.connect_timeout_seconds)


def key_range(connection: Connection, db: DatabaseSettings, table: str, key: str) -> Any:
    """Rows of a model table and the least and greatest value of its ``key`` (``n``, ``low``,
    ``high``), on a connection of its own: how a lookup's parallel reads are sliced."""
    conn = open_model(connection, db)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT count(*) AS n, min({key}) AS low, max({key}) AS high FROM {t}"
                ).format(key=sql.Identifier(key), t=sql.Identifier(db.db_schema, table))
            )
            return cur.fetchone()
    finally:
        conn.close()


@contextmanager
def load_lock(conn: Any) -> Iterator[None]:
    """Hold the ETL's advisory lock for the block, or refuse if another run holds it (or the
    server is a standby: every job taking the lock writes)."""
    check_primary(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s) AS locked", (LOAD_LOCK_KEY,))
        locked = cur.fetchone()["locked"]
    conn.commit()
    if not locked:
        raise ConcurrentRunError(
            "Another load is running against this database; wait for it to finish and run again."
        )
    try:
        yield
    finally:
        if not conn.closed:
            conn.rollback()
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (LOAD_LOCK_KEY,))
            conn.commit()


def apply_schema(conn: Any, schema: str) -> None:
    """Create the schema and every table and index that is missing; drop nothing."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        cur.execute(read_sql("db", "schema.sql"))
    conn.commit()


def truncate_stage(conn: Any, stage_table: str) -> None:
    """Empty an entity's staging table and the rejects' (in the caller's transaction)."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("TRUNCATE {}, {}").format(
                sql.Identifier(stage_table), sql.Identifier(STAGE_REJECT)
            )
        )


def count_rows(conn: Any, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(table)))
        return int(cur.fetchone()["n"])


def analyze(conn: Any, *tables: str) -> None:
    with conn.cursor() as cur:
        for table in tables:
            cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


def start_run(
    conn: Any,
    run_id: str,
    job: str,
    input_dir: str,
    as_of: datetime,
    extract: str | None = None,
    backfill: bool | None = None,
) -> None:
    """Record a run as started, committed at once so a crash still leaves a trace (``extract``
    and ``backfill``: a load's kind of extract, and whether its --as-of is in the past)."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO etl_run (run_id, job, input, as_of, started_at, status, extract, "
            "backfill) VALUES (%s, %s, %s, %s, now() AT TIME ZONE 'UTC', 'running', %s, %s)",
            (run_id, job, input_dir, as_of, extract, backfill),
        )
    conn.commit()


def finish_run(
    conn: Any,
    run_id: str,
    counts: dict[str, int | None],
    seconds: dict[str, float],
    status: str = "succeeded",
) -> None:
    """Record a run's counts and times, as succeeded; called inside the load's transaction,
    so both commit together (``failed``: a load its quality gates stopped)."""
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE etl_run SET status = %(status)s, finished_at = now() AT TIME ZONE 'UTC', "
            "stage_seconds = %(seconds)s, "
            "rows_read = %(read)s, rows_loaded = %(loaded)s, rows_rejected = %(rejected)s, "
            "rows_duplicate = %(duplicate)s, "
            "rows_inserted = %(inserted)s, rows_updated = %(updated)s, rows_flagged = %(flagged)s "
            "WHERE run_id = %(run_id)s",
            {
                "inserted": None,
                "updated": None,
                "flagged": None,
                **counts,
                "run_id": run_id,
                "status": status,
                "seconds": psycopg2.extras.Json(seconds),
            },
        )


def fail_run(conn: Any, run_id: str, message: str) -> None:
    """Mark a run failed after its load was rolled back."""
    conn.rollback()
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE etl_run SET status = 'failed', finished_at = now() AT TIME ZONE 'UTC', "
            "error_message = %s WHERE run_id = %s",
            (message, run_id),
        )
    conn.commit()


@dataclass(frozen=True)
class Rejects:
    """The rows of a run set aside: for a rule (with the reasons each combination of them was
    given for) and as repeated ids."""

    rejected: int
    duplicates: int
    reasons: dict[tuple[str, ...], int]


def keep_rejects(conn: Any, run_id: str, job: str) -> Rejects:
    """Copy the staged rejects of this run into ``etl_reject``, counted per reasons."""
    with conn.cursor() as cur:
        cur.execute(
            "WITH kept AS ("
            " INSERT INTO etl_reject (run_id, job, source_file, record_number, raw_record, reasons)"
            " SELECT %s, %s, source_file, record_number, CAST(raw_record AS jsonb),"
            " string_to_array(reasons, '|') FROM stage_reject RETURNING reasons) "
            "SELECT reasons, count(*) AS n FROM kept GROUP BY reasons",
            (run_id, job),
        )
        combinations = {tuple(row["reasons"]): int(row["n"]) for row in cur.fetchall()}
    duplicates = combinations.pop(DUPLICATE, 0)
    return Rejects(sum(combinations.values()), duplicates, combinations)


def close_interrupted_runs(conn: Any) -> int:
    """Mark runs left 'running' by a process that died as failed (the caller holds the lock)."""
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE etl_run SET status = 'failed', finished_at = now() AT TIME ZONE 'UTC', "
            "error_message = 'interrupted: the process ended before the run finished' "
            "WHERE status = 'running'"
        )
        closed = cur.rowcount
    conn.commit()
    if closed:
        log.warning("Marked %d interrupted run(s) as failed", closed)
    return closed


def run_summaries(conn: Any, run_ids: list[str]) -> list[dict[str, Any]]:
    """The audit rows of the given runs, in the order they started."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT run_id, job, status, extract, quality, rows_read, rows_loaded, rows_rejected, "
            "rows_duplicate, rows_inserted, rows_updated, rows_flagged, stage_seconds, "
            "error_message, EXTRACT(EPOCH FROM finished_at - started_at) AS seconds, "
            "EXTRACT(EPOCH FROM finished_at) AS ended_epoch FROM etl_run "
            "WHERE run_id = ANY(CAST(%s AS uuid[])) ORDER BY started_at, job",
            (run_ids,),
        )
        return list(cur.fetchall())
