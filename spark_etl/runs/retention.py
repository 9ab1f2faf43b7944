"""Data retention: months of an entity's range-partitioned table that fall out of the window,
and the rejects and flags of old runs, archived to Parquet, verified, then dropped; and the
way back (``restore``).

What every step keeps true: each row is in PostgreSQL or in a verified archive, never in
neither. An archive is verified when Spark has read its files back and their row count and
content checksum (``spark_etl.db.checksums``) equal what PostgreSQL holds; only then, in the one
transaction that has held the rows still since the count, is the archive recorded in
``etl_archive`` and the partition dropped (or the audit rows deleted). A failure or a kill
before that commit leaves the rows where they were; files written by it are overwritten by the
next run.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import reduce
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from psycopg2 import sql
from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_etl.config import Connection, DatabaseSettings
from spark_etl.db.checksums import Checksum, pg_checksum_query, spark_checksum, unsupported_types
from spark_etl.db.merges import attach_range, create_range_table, partition_name
from spark_etl.db.postgres import quoted
from spark_etl.definitions import Entity
from spark_etl.errors import ArchiveError, ConfigError
from spark_etl.io import readers, writers
from spark_etl.transforms.rules import spark_type

log = logging.getLogger(__name__)

AUDIT_TABLES = ("etl_reject", "etl_flag")  # rows of a run, archived when the run is old
BOUND = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})[^']*'\) TO \('(\d{4}-\d{2}-\d{2})[^']*'\)")


@dataclass(frozen=True)
class Batch:
    """Rows to archive: one month of an entity's table, or the audit rows of old runs."""

    table: str  # cart, etl_reject, etl_flag
    period: date  # the month; for audit rows the day before which their runs started
    source: str  # the table holding the rows (the month partition, or the audit table)
    rows: int
    bytes: int

    @property
    def label(self) -> str:
        if self.table in AUDIT_TABLES:
            return f"{self.table} of runs before {self.period:%Y-%m-%d}"
        return f"{self.table} {self.period:%Y-%m}"


@dataclass(frozen=True)
class Plan:
    newest: date | None  # the newest month holding rows
    first_kept: date | None  # the first month of the window
    batches: tuple[Batch, ...]


@dataclass(frozen=True)
class Archived:
    batch: Batch
    path: str
    checksum: Checksum


def month_of(moment: date) -> date:
    return date(moment.year, moment.month, 1)


def months_before(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)


def describe_months(months: list[date]) -> str:
    """``2020-01, 2020-03`` or, for many, ``2020-01 .. 2023-12 (47 months)``."""
    if not months:
        return "none"
    if len(months) <= 6:
        return ", ".join(f"{month:%Y-%m}" for month in months)
    return f"{months[0]:%Y-%m} .. {months[-1]:%Y-%m} ({len(months)} months)"


def archive_path(archive_dir: str, table: str, period: date) -> str:
    folder = archive_dir.rstrip("/")
    if table in AUDIT_TABLES:
        return f"{folder}/{table}/before={period:%Y-%m-%d}"
    return f"{folder}/{table}/month={period:%Y-%m}"


def check_entity(entity: Entity) -> None:
    """Retention drops whole months: the entity's table must be range-partitioned by month."""
    parts = entity.table.partitioning
    if parts is None or parts.interval != "month":
        raise ConfigError(
            f"Retention keeps whole months: the {entity.entity} table must be range-partitioned "
            "by month (table.partitioning.interval: month in its definition)."
        )
    floats = unsupported_types([(name, column.type) for name, column in entity.columns.items()])
    if floats:
        raise ConfigError(
            f"Retention cannot verify floating-point columns ({', '.join(floats)}) of "
            f"{entity.entity} byte for byte; declare them numeric(p,s)."
        )


def local_archive_dir(archive_dir: str) -> str:
    """An absolute archive folder, created when it is local; refuse one that is not writable."""
    parsed = urlparse(archive_dir)
    if parsed.scheme not in ("", "file"):
        return archive_dir  # hdfs://, s3a://: Spark reports what goes wrong there
    folder = Path(parsed.path if parsed.scheme else archive_dir).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveError(
            f"Archive folder {folder} cannot be created ({exc.strerror}); set "
            "retention.archive_dir to a folder Spark can write."
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ArchiveError(
            f"Archive folder {folder} is not writable; set retention.archive_dir to a folder "
            "Spark can write."
        )
    return str(folder)


# --- what PostgreSQL holds ----------------------------------------------------------------------


def _exists(cur: Any, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (quoted(table),))
    return bool(cur.fetchone()["present"])


def month_partitions(cur: Any, table: str) -> dict[date, str]:
    """The month partitions attached to ``table``: start -> partition name (not the default)."""
    if not _exists(cur, table):
        return {}
    cur.execute(
        "SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s)",
        (quoted(table),),
    )
    months = {}
    for row in cur.fetchall():
        bound = BOUND.search(row["bound"])
        if bound:
            months[date.fromisoformat(bound[1])] = row["name"]
    return dict(sorted(months.items()))


def newest_month(cur: Any, entity: Entity) -> date | None:
    parts = entity.table.partitioning
    assert parts is not None
    if not _exists(cur, entity.table.name):
        return None
    cur.execute(
        sql.SQL("SELECT max({}) AS newest FROM {}").format(
            sql.Identifier(parts.range), sql.Identifier(entity.table.name)
        )
    )
    newest = cur.fetchone()["newest"]
    return month_of(newest) if newest else None


def archived_months(cur: Any, table: str) -> list[date]:
    """The months of ``table`` whose rows are in an archive and not back in PostgreSQL."""
    if not _exists(cur, "etl_archive"):
        return []
    cur.execute(
        "SELECT period FROM etl_archive WHERE table_name = %s AND restored_at IS NULL "
        "ORDER BY period",
        (table,),
    )
    return [row["period"] for row in cur.fetchall()]


def _held_months(cur: Any, table: str, newest: date) -> set[date]:
    """Restored months kept online until the window moves past the month it had then."""
    if not _exists(cur, "etl_archive"):
        return set()
    cur.execute(
        "SELECT period FROM etl_archive WHERE table_name = %s AND restored_at IS NOT NULL "
        "AND restored_newest >= %s",
        (table, newest),
    )
    return {row["period"] for row in cur.fetchall()}


def _size(cur: Any, source: str) -> tuple[int, int]:
    """Rows and bytes (with indexes, over every leaf) of a table."""
    cur.execute(
        sql.SQL(
            "SELECT (SELECT count(*) FROM {}) AS rows, "
            "(SELECT coalesce(sum(pg_total_relation_size(relid)), 0) "
            " FROM pg_partition_tree(%s)) AS bytes"
        ).format(sql.Identifier(source)),
        (quoted(source),),
    )
    row = cur.fetchone()
    return int(row["rows"]), int(row["bytes"])


def _old_runs(before: date, schema: str) -> sql.Composable:
    """The rows of runs started before ``before`` (qualified: Spark's JDBC reads use it)."""
    return sql.SQL(
        "run_id IN (SELECT run_id FROM {} WHERE started_at < {} AND status <> 'running')"
    ).format(sql.Identifier(schema, "etl_run"), sql.Literal(before))


def _audit_batch(cur: Any, table: str, before: date, schema: str) -> Batch | None:
    cur.execute(
        sql.SQL(
            "SELECT count(*) AS rows, coalesce(sum(pg_column_size(t.*)), 0) AS bytes "
            "FROM {} t WHERE {}"
        ).format(sql.Identifier(table), _old_runs(before, schema))
    )
    row = cur.fetchone()
    if not row["rows"]:
        return None
    return Batch(table, before, table, int(row["rows"]), int(row["bytes"]))


def plan(
    conn: Any,
    schema: str,
    entity: Entity,
    keep_months: int | None,
    audit_days: int | None,
    today: date,
) -> Plan:
    """What a retention run would archive now: months out of the window, then audit rows."""
    table = entity.table.name
    batches: list[Batch] = []
    with conn.cursor() as cur:
        newest = newest_month(cur, entity)
        first_kept = None
        if keep_months is not None and newest is not None:
            first_kept = months_before(newest, keep_months - 1)
            held = _held_months(cur, table, newest)
            for month, name in month_partitions(cur, table).items():
                if month < first_kept and month not in held:
                    batches.append(Batch(table, month, name, *_size(cur, name)))
        if audit_days is not None:
            before = today - timedelta(days=audit_days)
            for audit in AUDIT_TABLES:
                batch = _audit_batch(cur, audit, before, schema)
                if batch:
                    batches.append(batch)
    conn.rollback()  # read only
    return Plan(newest, first_kept, tuple(batches))


def table_columns(cur: Any, table: str) -> list[tuple[str, str]]:
    """(name, type as format_type spells it) of a table's columns, in their order."""
    cur.execute(
        "SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (quoted(table),),
    )
    return [(row["name"], row["type"]) for row in cur.fetchall()]


def _pg_checksum(cur: Any, columns: list[tuple[str, str]], source: sql.Composable) -> Checksum:
    cur.execute(pg_checksum_query(columns, source))
    row = cur.fetchone()
    return Checksum(int(row["rows"]), row["total"])


# --- Spark: read from PostgreSQL, write and read back Parquet ----------------------------------


def _typed(frame: DataFrame, columns: list[tuple[str, str]]) -> DataFrame:
    """The model's Spark types (decimals stay decimals, timestamps UTC); other PostgreSQL
    types (uuid, jsonb, arrays) as the JDBC driver gives them."""
    selected = []
    for name, pg_type in columns:
        try:
            selected.append(F.col(name).cast(spark_type(pg_type)).alias(name))
        except KeyError:
            selected.append(F.col(name))
    return frame.select(*selected)


def _leaves(cur: Any, source: str) -> list[str]:
    cur.execute(
        "SELECT relid::regclass::text AS leaf FROM pg_partition_tree(%s) WHERE isleaf ORDER BY 1",
        (quoted(source),),
    )
    return [row["leaf"].rsplit(".", 1)[-1].strip('"') for row in cur.fetchall()] or [source]


def _read_rows(
    spark: SparkSession,
    connection: Connection,
    db: DatabaseSettings,
    columns: list[tuple[str, str]],
    tables: list[str],
    where: sql.Composable | None,
    cur: Any,
) -> DataFrame:
    """The rows of ``tables`` (the leaves of a partition: read in parallel) as one frame."""
    names = ", ".join(quoted(name) for name, _ in columns)
    condition = f" WHERE {where.as_string(cur)}" if where is not None else ""
    frames = [
        readers.read_query(
            spark, connection, db, f"SELECT {names} FROM {quoted(db.db_schema, t)}{condition}"
        )
        for t in tables
    ]
    return _typed(reduce(DataFrame.unionByName, frames), columns)


def _write(frame: DataFrame, path: str) -> None:
    """Write ``frame`` as Parquet at ``path``, replacing what an unfinished run left there."""
    try:
        frame.write.mode("overwrite").parquet(path)
    except (Py4JJavaError, PySparkException) as exc:
        raise ArchiveError(f"Cannot write the archive {path} ({_first_line(exc)}).") from exc


def _read_back(
    spark: SparkSession, path: str, columns: list[tuple[str, str]], schema: T.StructType
) -> Checksum:
    """The checksum of what reading the written files back gives, in the schema written."""
    try:
        written = spark.read.parquet(path)
    except (Py4JJavaError, PySparkException) as exc:
        raise ArchiveError(f"Cannot read the archive {path} back ({_first_line(exc)}).") from exc
    wanted = [(field.name, field.dataType) for field in schema.fields]
    found = [(field.name, field.dataType) for field in written.schema.fields]
    if found != wanted:
        raise ArchiveError(f"The archive {path} read back has columns {found}, not {wanted}.")
    return spark_checksum(written, columns)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = next((t for t in text if "Exception" in t or "Error" in t), text[0] if text else "")
    return line.strip()[:300]


# --- archive ------------------------------------------------------------------------------------


def archive(
    spark: SparkSession,
    conn: Any,
    connection: Connection,
    db: DatabaseSettings,
    batch: Batch,
    archive_dir: str,
    run_id: str,
) -> Archived:
    """Archive one batch in one transaction: hold its rows, count them, write and read back
    the Parquet, compare, record the archive, then drop the month (or delete the audit rows)."""
    path = archive_path(archive_dir, batch.table, batch.period)
    audit = batch.table in AUDIT_TABLES
    with conn.cursor() as cur:
        cur.execute(
            "SELECT path FROM etl_archive WHERE table_name = %s AND period = %s "
            "AND restored_at IS NULL",
            (batch.table, batch.period),
        )
        archived = cur.fetchone()
        if archived:  # its files hold rows that are nowhere else: never overwrite them
            raise ArchiveError(
                f"{batch.label} is already archived at {archived['path']}; nothing changed."
            )
        # writers wait until this transaction ends; readers (Spark's JDBC read) go on
        cur.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(sql.Identifier(batch.source)))
        columns = table_columns(cur, batch.source)
        where = _old_runs(batch.period, db.db_schema) if audit else None
        source: sql.Composable = sql.Identifier(batch.source)
        if where is not None:
            source = sql.SQL("{} WHERE {}").format(source, where)
        expected = _pg_checksum(cur, columns, source)
        tables = [batch.source] if audit else _leaves(cur, batch.source)
        frame = _read_rows(spark, connection, db, columns, tables, where, cur)
        _write(frame, path)
        written = _read_back(spark, path, columns, frame.schema)
        if written != expected:
            raise ArchiveError(
                f"The archive of {batch.label} read back from {path} does not match PostgreSQL "
                f"({written}, expected {expected}); nothing was dropped."
            )
        cur.execute(
            "INSERT INTO etl_archive (table_name, period, path, row_count, checksum, bytes, "
            "run_id, archived_at) VALUES (%s, %s, %s, %s, %s, %s, %s, "
            "now() AT TIME ZONE 'UTC')",
            (batch.table, batch.period, path, expected.rows, expected.total, batch.bytes, run_id),
        )
        _remove(cur, batch, expected.rows, db.db_schema)
    conn.commit()
    log.info("Archived %s: %s to %s", batch.label, expected, path)
    return Archived(batch, path, expected)


def _remove(cur: Any, batch: Batch, rows: int, schema: str) -> None:
    if batch.table in AUDIT_TABLES:
        cur.execute(
            sql.SQL("DELETE FROM {} WHERE {}").format(
                sql.Identifier(batch.table), _old_runs(batch.period, schema)
            )
        )
        if cur.rowcount != rows:  # the table is locked: this would be a defect
            raise ArchiveError(f"{batch.label}: deleted {cur.rowcount} rows, archived {rows}.")
        return
    cur.execute(
        sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
            sql.Identifier(batch.table), sql.Identifier(batch.source)
        )
    )
    cur.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(batch.source)))


# --- restore ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    archive_id: int
    path: str
    checksum: Checksum


def restorable(cur: Any, table: str, month: date) -> Record:
    """The archive of an offline month of ``table``; refused when the month is online or has
    no archive."""
    if month in month_partitions(cur, table):
        raise ArchiveError(f"Month {month:%Y-%m} of {table} is online; nothing to restore.")
    cur.execute(
        "SELECT archive_id, path, row_count, checksum FROM etl_archive "
        "WHERE table_name = %s AND period = %s AND restored_at IS NULL",
        (table, month),
    )
    row = cur.fetchone()
    if row is None:
        raise ArchiveError(
            f"Month {month:%Y-%m} of {table} is not archived; archived: "
            f"{describe_months(archived_months(cur, table))}."
        )
    return Record(row["archive_id"], row["path"], Checksum(int(row["row_count"]), row["checksum"]))


def restore(
    spark: SparkSession,
    conn: Any,
    connection: Connection,
    db: DatabaseSettings,
    entity: Entity,
    month: date,
    run_id: str,
) -> Checksum:
    """Bring an archived month back: its partition with hash leaves and indexes, its rows
    checked against the archive's record before the partition is attached."""
    table = entity.table.name
    name = partition_name(table, month)
    with conn.cursor() as cur:
        record = restorable(cur, table, month)
        try:
            frame = spark.read.parquet(record.path)
        except (Py4JJavaError, PySparkException) as exc:
            raise ArchiveError(
                f"Cannot read the archive {record.path} ({_first_line(exc)})."
            ) from exc
        columns = [(n, c.type) for n, c in entity.columns.items()]
        frame = frame.select(*(n for n, _ in columns))
        found = spark_checksum(frame, columns)
        if found != record.checksum:
            raise ArchiveError(
                f"The archive {record.path} holds {found}, not the {record.checksum} recorded "
                "when it was written; nothing was restored."
            )
        # a table of that name that is not attached: left by a restore that was stopped
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        create_range_table(cur, entity, name)
    conn.commit()  # Spark's writers need to see the table
    try:
        writers.write_stage(frame, name, connection, db)
        with conn.cursor() as cur:
            loaded = _pg_checksum(cur, columns, sql.Identifier(name))
            if loaded != record.checksum:
                raise ArchiveError(
                    f"Month {month:%Y-%m} restored into PostgreSQL holds {loaded}, not the "
                    f"archive's {record.checksum}; nothing was restored."
                )
            newest = newest_month(cur, entity)
            attach_range(cur, entity, name, month)
            cur.execute(
                "UPDATE etl_archive SET restored_at = now() AT TIME ZONE 'UTC', "
                "restore_run_id = %s, restored_newest = %s WHERE archive_id = %s",
                (run_id, max(newest or month, month), record.archive_id),
            )
        conn.commit()
    except BaseException:
        conn.rollback()
        with conn.cursor() as cur:
            if month not in month_partitions(cur, table):  # never attached: take it away
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.commit()
        raise
    log.info("Restored %s %s: %s from %s", table, f"{month:%Y-%m}", loaded, record.path)
    return loaded


def archived_at(cur: Any, table: str) -> datetime | None:
    """When the latest archive of ``table`` still offline was written (for the report)."""
    if not _exists(cur, "etl_archive"):
        return None
    cur.execute(
        "SELECT max(archived_at) AS at FROM etl_archive WHERE table_name = %s "
        "AND restored_at IS NULL",
        (table,),
    )
    return cur.fetchone()["at"]
