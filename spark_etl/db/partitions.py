"""Range partitions of an entity's table: their names, and the DDL that creates, bulk-loads and
attaches them (a new range is loaded unindexed, then attached: one index build per range)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from psycopg2 import sql

from spark_etl.db.ddl import object_name
from spark_etl.definitions import Entity

log = logging.getLogger(__name__)


NAME_FORMATS = {"day": "%Y_%m_%d", "month": "%Y_%m", "year": "%Y"}


def partition_name(table: str, start: date, interval: str = "month") -> str:
    """``cart_2024_11`` (month), ``review_2024_03_05`` (day), ``log_2024`` (year)."""
    return object_name(table, f"{start:{NAME_FORMATS[interval]}}")


def next_start(start: date, interval: str) -> date:
    """Where the range that begins at ``start`` ends (exclusive)."""
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "year":
        return date(start.year + 1, 1, 1)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def range_start(entity: Entity) -> sql.Composable:
    """The start of the partition range of a staged row: its day, month or year."""
    parts = entity.table.partitioning
    assert parts is not None
    return sql.SQL("CAST(date_trunc({}, {}) AS date)").format(
        sql.Literal(parts.interval), sql.Identifier(parts.range)
    )


def load_new_partitions(
    cur: Any, entity: Entity, source: str | None = None
) -> tuple[list[date], int]:
    """Bulk-load the staged rows (of ``source``, the staging table by default) of ranges
    (days, months or years) that have no partition yet; return the starts of those ranges and
    the rows inserted.

    The new range tables hang under an unindexed loading table first, so one INSERT reads the
    staging table once and routes every row to its range and hash leaf. Each range is then
    moved under the entity's table: PostgreSQL builds its key and indexes in one pass and checks
    each foreign key with one query, instead of updating every index and firing a trigger per
    row. A CHECK constraint matching the range spares the attach its scan.
    """
    parts = entity.table.partitioning
    assert parts is not None
    table, stage = entity.table.name, source or entity.stage_table
    month_of = range_start(entity)
    interval = parts.interval
    cur.execute(
        sql.SQL("SELECT DISTINCT {} AS month FROM {} ORDER BY month").format(
            month_of, sql.Identifier(stage)
        )
    )
    months = []
    for row in cur.fetchall():
        name = partition_name(table, row["month"], interval)
        cur.execute(
            "SELECT to_regclass(%s) IS NULL AS missing", (sql.Identifier(name).as_string(cur),)
        )
        if cur.fetchone()["missing"]:
            months.append(row["month"])
    if not months:
        return [], 0
    loading = sql.Identifier(object_name(table, "loading"))
    like = sql.SQL("(LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(
        sql.Identifier(table)
    )
    cur.execute(
        sql.SQL("CREATE TABLE {} {} PARTITION BY RANGE ({})").format(
            loading, like, sql.Identifier(parts.range)
        )
    )
    for month in months:
        name = partition_name(table, month, interval)
        create_range_table(cur, entity, name)
        cur.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM (%s) TO (%s)").format(
                loading, sql.Identifier(name)
            ),
            (month, next_start(month, interval)),
        )
    columns = sql.SQL(", ").join(map(sql.Identifier, entity.table_columns))
    cur.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} WHERE {} = ANY(%s)").format(
            loading, columns, columns, sql.Identifier(stage), month_of
        ),
        (months,),
    )
    inserted = int(cur.rowcount)
    for month in months:
        name = partition_name(table, month, interval)
        cur.execute(
            sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(loading, sql.Identifier(name))
        )
        attach_range(cur, entity, name, month)
    cur.execute(sql.SQL("DROP TABLE {}").format(loading))
    log.info(
        "Loaded %d new %s partitions of %s (%s .. %s)",
        len(months),
        interval,
        table,
        months[0],
        months[-1],
    )
    return months, inserted


def attach_range(cur: Any, entity: Entity, name: str, start: date) -> None:
    """Attach the filled range table ``name`` (starting at ``start``) to the entity's table.

    Its leaves are analyzed first (which also plans the attach's key checks), not the range
    table: a query names the entity's table, and the planner reads the statistics of that
    table and of the leaves it scans, never those of a partitioned table in between; analyzing
    the range table would sample its rows once more. A CHECK matching the range spares the
    attach its scan of the rows.
    """
    parts = entity.table.partitioning
    assert parts is not None
    table = sql.Identifier(name)
    in_range = sql.Identifier(object_name(name, "in_range"))
    column = sql.Identifier(parts.range)
    bounds = (start, next_start(start, parts.interval))
    cur.execute(
        sql.SQL("ANALYZE {}").format(
            sql.SQL(", ").join(sql.Identifier(leaf) for leaf in range_leaves(entity, name))
        )
    )
    cur.execute(
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} >= %s AND {} < %s)").format(
            table, in_range, column, column
        ),
        bounds,
    )
    cur.execute(
        sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM (%s) TO (%s)").format(
            sql.Identifier(entity.table.name), table
        ),
        bounds,
    )
    cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, in_range))


def range_leaves(entity: Entity, name: str) -> list[str]:
    """The tables holding the rows of the range table ``name``: its hash partitions, or itself."""
    parts = entity.table.partitioning
    assert parts is not None
    if parts.hash is None:
        return [name]
    return [f"{name}_h{remainder}" for remainder in range(parts.hash.partitions)]


def create_range_table(cur: Any, entity: Entity, name: str) -> None:
    """A range table shaped like the entity's table, split by hash when declared."""
    parts = entity.table.partitioning
    assert parts is not None
    like = sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(
        sql.Identifier(name), sql.Identifier(entity.table.name)
    )
    if parts.hash is None:
        cur.execute(like)
        return
    cur.execute(
        sql.SQL("{} PARTITION BY HASH ({})").format(like, sql.Identifier(parts.hash.column))
    )
    for remainder, leaf in enumerate(range_leaves(entity, name)):
        cur.execute(
            sql.SQL(
                "CREATE TABLE {} PARTITION OF {} FOR VALUES WITH (MODULUS %s, REMAINDER %s)"
            ).format(sql.Identifier(leaf), sql.Identifier(name)),
            (parts.hash.partitions, remainder),
        )
