"""What PostgreSQL holds for retention: the month partitions of a range-partitioned table, the
audit rows of old runs, the archives recorded in ``etl_archive``, and the plan of what a
retention run would archive now."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from psycopg2 import sql

from spark_etl.db.checksums import Checksum, pg_checksum_query
from spark_etl.db.postgres import quoted
from spark_etl.definitions import Entity
from spark_etl.errors import ArchiveError

AUDIT_TABLES = ("etl_reject", "etl_flag", "etl_run_metric")  # rows of a run, archived when old


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


def table_exists(cur: Any, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (quoted(table),))
    return bool(cur.fetchone()["present"])


def month_partitions(cur: Any, table: str) -> dict[date, str]:
    """The month partitions attached to ``table``: start -> partition name (not the default)."""
    if not table_exists(cur, table):
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
    if not table_exists(cur, entity.table.name):
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
    if not table_exists(cur, "etl_archive"):
        return []
    cur.execute(
        "SELECT period FROM etl_archive WHERE table_name = %s AND restored_at IS NULL "
        "ORDER BY period",
        (table,),
    )
    return [row["period"] for row in cur.fetchall()]


def _held_months(cur: Any, table: str, newest: date) -> set[date]:
    """Restored months kept online until the window moves past the month it had then."""
    if not table_exists(cur, "etl_archive"):
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


def old_runs(before: date, schema: str) -> sql.Composable:
    """The rows of runs started before ``before`` (qualified: Spark's JDBC reads use it)."""
    return sql.SQL(
        "run_id IN (SELECT run_id FROM {} WHERE started_at < {} AND status <> 'running')"
    ).format(sql.Identifier(schema, "etl_run"), sql.Literal(before))


def _audit_batch(cur: Any, table: str, before: date, schema: str) -> Batch | None:
    cur.execute(
        sql.SQL(
            "SELECT count(*) AS rows, coalesce(sum(pg_column_size(t.*)), 0) AS bytes "
            "FROM {} t WHERE {}"
        ).format(sql.Identifier(table), old_runs(before, schema))
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


def pg_checksum(cur: Any, columns: list[tuple[str, str]], source: sql.Composable) -> Checksum:
    cur.execute(pg_checksum_query(columns, source))
    row = cur.fetchone()
    return Checksum(int(row["rows"]), row["total"])


def partition_leaves(cur: Any, source: str) -> list[str]:
    cur.execute(
        "SELECT relid::regclass::text AS leaf FROM pg_partition_tree(%s) WHERE isleaf ORDER BY 1",
        (quoted(source),),
    )
    return [row["leaf"].rsplit(".", 1)[-1].strip('"') for row in cur.fetchall()] or [source]


def remove_batch(cur: Any, batch: Batch, rows: int, schema: str) -> None:
    if batch.table in AUDIT_TABLES:
        cur.execute(
            sql.SQL("DELETE FROM {} WHERE {}").format(
                sql.Identifier(batch.table), old_runs(batch.period, schema)
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


@dataclass(frozen=True)
class Record:
    archive_id: int
    path: str
    checksum: Checksum


def archived_records(cur: Any, table: str) -> dict[date, Record]:
    """The archives of the months of ``table`` not back in PostgreSQL, by month."""
    if not table_exists(cur, "etl_archive"):
        return {}
    cur.execute(
        "SELECT period, archive_id, path, row_count, checksum FROM etl_archive "
        "WHERE table_name = %s AND restored_at IS NULL ORDER BY period",
        (table,),
    )
    return {
        row["period"]: Record(
            row["archive_id"], row["path"], Checksum(int(row["row_count"]), row["checksum"])
        )
        for row in cur.fetchall()
    }


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


def archived_at(cur: Any, table: str) -> datetime | None:
    """When the latest archive of ``table`` still offline was written (for the report)."""
    if not table_exists(cur, "etl_archive"):
        return None
    cur.execute(
        "SELECT max(archived_at) AS at FROM etl_archive WHERE table_name = %s "
        "AND restored_at IS NULL",
        (table,),
    )
    return cur.fetchone()["at"]
