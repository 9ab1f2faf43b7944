"""What merging an entity's staged rows will change, read before the merge in its transaction
(the lake writes those tables and ranges again after the commit), and the SQL fragments the
merges share to compare a staged row with its loaded one."""

from __future__ import annotations

from datetime import date
from typing import Any

from psycopg2 import sql

from spark_etl.db.ddl import IS_CURRENT
from spark_etl.definitions import Entity
from spark_etl.definitions.model import AppendMerge, HistoryMerge


def sql_names(names: tuple[str, ...] | list[str], alias: str | None = None) -> sql.Composable:
    """``a.x, a.y`` (or ``x, y`` without an alias), each name quoted."""
    if alias is None:
        return sql.SQL(", ").join(map(sql.Identifier, names))
    return sql.SQL(", ").join(sql.Identifier(alias, name) for name in names)


def sql_row(names: tuple[str, ...] | list[str], alias: str) -> sql.Composable:
    """``ROW(a.x, a.y)``: compared with IS DISTINCT FROM, NULLs equal to each other."""
    return sql.SQL("ROW({})").format(sql_names(names, alias))


def differs(entity: Entity, columns: tuple[str, ...]) -> sql.Composable:
    """A staged row ``s`` differs from its loaded row ``t`` in a column other than the key."""
    others = [name for name in columns if name != entity.key]
    if not others:
        return sql.SQL("false")
    return sql.SQL("{} IS DISTINCT FROM {}").format(sql_row(others, "t"), sql_row(others, "s"))


def _range_start(entity: Entity, alias: str) -> sql.Composable:
    """The start of the partition range of the row ``alias``: its day, month or year."""
    parts = entity.table.partitioning
    assert parts is not None
    return sql.SQL("CAST(date_trunc({}, {}) AS date)").format(
        sql.Literal(parts.interval), sql.Identifier(alias, parts.range)
    )


def changed_ranges(conn: Any, entity: Entity) -> tuple[date, ...]:
    """The starts of the ranges (days, months or years) of the entity's range-partitioned
    table that merging its staged rows will change: those of new and changed rows, and those
    changed rows move out of. Read before the merge, in its transaction."""
    names = _change_names(entity)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT DISTINCT start FROM ("
                "SELECT {new} AS start FROM {stage} s LEFT JOIN {table} t ON t.{key} = s.{key} "
                "WHERE t.{key} IS NULL OR {differs} "
                "UNION ALL SELECT {old} FROM {stage} s JOIN {table} t ON t.{key} = s.{key} "
                "WHERE {differs}) ranges ORDER BY start"
            ).format(new=_range_start(entity, "s"), old=_range_start(entity, "t"), **names)
        )
        return tuple(row["start"] for row in cur.fetchall())


def _change_names(entity: Entity) -> dict[str, sql.Composable]:
    appending = isinstance(entity.merge, AppendMerge)  # a loaded row never changes
    return {
        "stage": sql.Identifier(entity.stage_table),
        "table": sql.Identifier(entity.table.name),
        "key": sql.Identifier(entity.key),
        "differs": sql.SQL("false") if appending else differs(entity, entity.table_columns),
    }


def changed_tables(conn: Any, entity: Entity) -> dict[str, tuple[date, ...] | None]:
    """The entity's model tables that merging its staged rows will change, each with the
    starts of its ranges changed (``changed_ranges``) or None (not range-partitioned); a table
    the merge leaves as it is is not listed. Read before the merge, in its transaction."""
    changed: dict[str, tuple[date, ...] | None] = {}
    if entity.table.partitioning is not None:
        ranges = changed_ranges(conn, entity)
        if ranges:
            changed[entity.table.name] = ranges
    elif _any(
        conn,
        sql.SQL(
            "SELECT 1 FROM {stage} s LEFT JOIN {table} t ON t.{key} = s.{key} "
            "WHERE t.{key} IS NULL OR {differs}"
        ).format(**_change_names(entity)),
    ):
        changed[entity.table.name] = None
    history = entity.merge
    if isinstance(history, HistoryMerge) and _any(
        conn,
        sql.SQL(
            "SELECT 1 FROM {stage} s LEFT JOIN {history} v ON v.{key} = s.{key} AND v.{current} "
            "WHERE v.{key} IS NULL OR {changed}"
        ).format(
            stage=sql.Identifier(entity.stage_table),
            history=sql.Identifier(history.table),
            key=sql.Identifier(entity.key),
            current=sql.Identifier(IS_CURRENT),
            changed=sql.SQL("{} IS DISTINCT FROM {}").format(
                sql_row(history.columns, "v"), sql_row(history.columns, "s")
            ),
        ),
    ):
        changed[history.table] = None
    return changed


def _any(conn: Any, rows: sql.Composable) -> bool:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT EXISTS ({}) AS found").format(rows))
        return bool(cur.fetchone()["found"])
