"""Merges from an entity's staging table into its model tables, generated from its definition
and run inside the load's transaction; then its soft anomalies are flagged.

- ``upsert`` (type 1): new keys inserted, changed rows overwritten, unchanged rows untouched
  (a re-run on the same input changes nothing). On a range-partitioned table a row whose
  partition columns changed moves, and the rows of ranges without a partition are bulk-loaded
  into new partitions.
- ``history`` (type 2): the entity's own columns upserted; the history columns versioned in
  their table over ``[valid_from, valid_to)``, a change closing the current version at the
  run's as-of time, surrogate keys continuing in key order.
- ``append``: rows whose key is not in the table yet are inserted; nothing loaded changes (the
  flags then cover only the rows inserted).

Identifiers come from validated definitions and are composed with ``psycopg2.sql``; values
(as-of time, run id, flag names) are bound or literal-quoted by psycopg2.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from psycopg2 import sql

from spark_etl.db.changes import differs, sql_names, sql_row
from spark_etl.db.ddl import IS_CURRENT, VALID_FROM, VALID_TO, object_name
from spark_etl.db.flags import ALL_FLAGS, flag_rows
from spark_etl.db.partitions import load_new_partitions, range_start
from spark_etl.definitions import Entity, Model
from spark_etl.definitions.model import AppendMerge, HistoryMerge
from spark_etl.errors import AccountingError

log = logging.getLogger(__name__)


def _one(cur: Any, statement: sql.Composable, params: dict[str, Any] | None = None) -> Any:
    cur.execute(statement, params or {})
    return cur.fetchone()


def merge(
    conn: Any, model: Model, entity: Entity, as_of: datetime, run_id: str, job: str
) -> tuple[dict[str, int], dict[str, int]]:
    """Merge the staged rows of ``entity``; return the inserted, updated and flagged counts,
    and the rows flagged per flag."""
    with conn.cursor() as cur:
        if isinstance(entity.merge, HistoryMerge):
            counts = _merge_history(cur, entity, entity.merge, as_of)
        elif isinstance(entity.merge, AppendMerge):
            counts = _append(cur, entity)
        else:
            counts = _upsert(cur, entity, entity.table.name, entity.table_columns)
        flags = flag_rows(cur, model, entity, run_id, job)
    counts["flagged"] = flags.pop(ALL_FLAGS)
    return counts, flags


# --- upsert -------------------------------------------------------------------------------------


def _key_range(cur: Any, entity: Entity) -> sql.Composable:
    """A condition on the model's key (alias ``t``): between the least and the greatest staged
    key, as literals, so that the planner sees them. The nightly's new rows carry keys above
    every loaded one: each leaf's key index then finds nothing in a probe, where a join on the
    key alone (it is not the partition key) read every row of the table."""
    row = _one(
        cur,
        sql.SQL("SELECT min({key}) AS low, max({key}) AS high FROM {stage}").format(
            key=sql.Identifier(entity.key), stage=sql.Identifier(entity.stage_table)
        ),
    )
    low, high = row["low"], row["high"]
    if low is None:
        return sql.SQL("false")
    return sql.SQL("t.{key} BETWEEN {low} AND {high}").format(
        key=sql.Identifier(entity.key), low=sql.Literal(low), high=sql.Literal(high)
    )


def _changes(
    cur: Any, entity: Entity, table: str, columns: tuple[str, ...], staged_keys: sql.Composable
) -> dict[str, int]:
    """Staged rows that are new, and those that differ from the model (read before merging);
    ``staged``: all of them."""
    row = _one(
        cur,
        sql.SQL(
            "SELECT count(*) FILTER (WHERE t.{key} IS NULL) AS inserted, "
            "count(*) FILTER (WHERE t.{key} IS NOT NULL AND {differs}) AS updated, "
            "count(*) AS staged "
            "FROM {stage} s LEFT JOIN {table} t ON t.{key} = s.{key} AND {staged_keys}"
        ).format(
            key=sql.Identifier(entity.key),
            differs=differs(entity, columns),
            stage=sql.Identifier(entity.stage_table),
            table=sql.Identifier(table),
            staged_keys=staged_keys,
        ),
    )
    return {name: int(row[name]) for name in ("inserted", "updated", "staged")}


def _changed_rows(
    cur: Any, entity: Entity, table: str, columns: tuple[str, ...], staged_keys: sql.Composable
) -> str:
    """The staged rows that are new or differ from the model, in a temporary table dropped at
    commit; its name. A full snapshot with 1% changed then upserts 1% of its rows: one hash
    join here instead of an index probe and a conflict check per staged row."""
    name = object_name(entity.stage_table, "changed")
    cur.execute(
        sql.SQL(
            "CREATE TEMPORARY TABLE {changed} ON COMMIT DROP AS SELECT s.* FROM {stage} s "
            "LEFT JOIN {table} t ON t.{key} = s.{key} AND {staged_keys} "
            "WHERE t.{key} IS NULL OR {differs}"
        ).format(
            changed=sql.Identifier(name),
            stage=sql.Identifier(entity.stage_table),
            table=sql.Identifier(table),
            key=sql.Identifier(entity.key),
            staged_keys=staged_keys,
            differs=differs(entity, columns),
        )
    )
    cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(name)))
    return name


def _upsert_statement(
    entity: Entity,
    table: str,
    columns: tuple[str, ...],
    where: sql.Composable,
    order: tuple[str, ...],
    source: str | None = None,
) -> sql.Composable:
    conflict = entity.primary_key if table == entity.table.name else (entity.key,)
    rest = [name for name in columns if name not in conflict]
    if rest:
        action: sql.Composable = sql.SQL("DO UPDATE SET {} WHERE {} IS DISTINCT FROM {}").format(
            sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(n), sql.Identifier(n))
                for n in rest
            ),
            sql_row(rest, "t"),
            sql_row(rest, "excluded"),
        )
    else:
        action = sql.SQL("DO NOTHING")
    return sql.SQL(
        "INSERT INTO {table} AS t ({columns}) SELECT {columns} FROM {stage} WHERE {where} "
        "{order} ON CONFLICT ({conflict}) {action}"
    ).format(
        table=sql.Identifier(table),
        columns=sql_names(columns),
        stage=sql.Identifier(source or entity.stage_table),
        where=where,
        order=sql.SQL("ORDER BY {}").format(sql_names(order)) if order else sql.SQL(""),
        conflict=sql_names(conflict),
        action=action,
    )


def _upsert(cur: Any, entity: Entity, table: str, columns: tuple[str, ...]) -> dict[str, int]:
    staged_keys = _key_range(cur, entity)
    counts = _changes(cur, entity, table, columns, staged_keys)
    staged = counts.pop("staged")
    changing = counts["inserted"] + counts["updated"]
    # unchanged rows (a snapshot) are left out first; when every row changes, the staging
    # table itself is the source (no copy of a full load)
    source = _changed_rows(cur, entity, table, columns, staged_keys) if changing < staged else None
    parts = entity.table.partitioning if table == entity.table.name else None
    new_ranges: list[date] = []
    bulk = 0
    order: tuple[str, ...] = ()
    where: sql.Composable = sql.SQL("true")
    if parts is not None:
        _remove_moved_rows(cur, entity, staged_keys, source)
        new_ranges, bulk = load_new_partitions(cur, entity, source)
        order = entity.primary_key[1:]  # each leaf partition receives its rows together
        where = sql.SQL("{} <> ALL (%(new)s)").format(range_start(entity))
    cur.execute(
        _upsert_statement(entity, table, columns, where, order, source), {"new": new_ranges}
    )
    written = bulk + cur.rowcount
    if written != changing:
        raise AccountingError(f"{table} merge wrote {written} rows, expected {counts}")
    return counts


def _remove_moved_rows(
    cur: Any, entity: Entity, staged_keys: sql.Composable, source: str | None = None
) -> int:
    """A partitioned table's key also holds the partition columns: a row whose partition
    columns changed is removed before it is inserted again."""
    moving = entity.primary_key[1:]
    cur.execute(
        sql.SQL(
            "DELETE FROM {table} t USING {stage} s WHERE t.{key} = s.{key} AND {staged_keys} "
            "AND {old} IS DISTINCT FROM {new}"
        ).format(
            table=sql.Identifier(entity.table.name),
            stage=sql.Identifier(source or entity.stage_table),
            key=sql.Identifier(entity.key),
            staged_keys=staged_keys,
            old=sql_row(moving, "t"),
            new=sql_row(moving, "s"),
        )
    )
    return int(cur.rowcount)


# --- history ------------------------------------------------------------------------------------


def _merge_history(
    cur: Any, entity: Entity, history: HistoryMerge, as_of: datetime
) -> dict[str, int]:
    names = {
        "stage": sql.Identifier(entity.stage_table),
        "table": sql.Identifier(entity.table.name),
        "history": sql.Identifier(history.table),
        "key": sql.Identifier(entity.key),
        "surrogate": sql.Identifier(history.surrogate_key),
        "valid_from": sql.Identifier(VALID_FROM),
        "valid_to": sql.Identifier(VALID_TO),
        "is_current": sql.Identifier(IS_CURRENT),
        "columns": sql_names(history.columns),
        "staged": sql_names(history.columns, "s"),
        "changed": sql.SQL("{} IS DISTINCT FROM {}").format(
            sql_row(history.columns, "v"), sql_row(history.columns, "s")
        ),
    }
    # Surrogate keys are max + n: nobody else may add versions until this commits.
    cur.execute(sql.SQL("LOCK TABLE {history} IN SHARE ROW EXCLUSIVE MODE").format(**names))
    own = [name for name in entity.table_columns if name != entity.key]
    row = _one(
        cur,
        sql.SQL(
            "SELECT count(*) FILTER (WHERE t.{key} IS NULL) AS inserted, "
            "count(*) FILTER (WHERE t.{key} IS NOT NULL AND ({own} OR {changed})) AS updated "
            "FROM {stage} s LEFT JOIN {table} t ON t.{key} = s.{key} "
            "LEFT JOIN {history} v ON v.{key} = s.{key} AND v.{is_current}"
        ).format(
            own=sql.SQL("{} IS DISTINCT FROM {}").format(sql_row(own, "t"), sql_row(own, "s"))
            if own
            else sql.SQL("false"),
            **names,
        ),
    )
    counts = {"inserted": int(row["inserted"]), "updated": int(row["updated"])}
    _upsert_statement_run(cur, entity)
    params = {"as_of": as_of}
    # A change in force from the moment the current version opened (a second load with the
    # same as-of, or an as-of before it opened): closing it would leave a zero-length [T, T)
    # version, so the change replaces the current version's values in place instead.
    cur.execute(
        sql.SQL(
            "UPDATE {history} v SET ({columns}) = ROW({staged}) FROM {stage} s "
            "WHERE v.{key} = s.{key} AND v.{is_current} AND v.{valid_from} >= %(as_of)s "
            "AND {changed}"
        ).format(**names),
        params,
    )
    replaced = cur.rowcount
    cur.execute(
        sql.SQL(
            "UPDATE {history} v SET {valid_to} = %(as_of)s, {is_current} = false "
            "FROM {stage} s WHERE v.{key} = s.{key} AND v.{is_current} "
            "AND v.{valid_from} < %(as_of)s AND {changed}"
        ).format(**names),
        params,
    )
    closed = cur.rowcount
    # Every staged key without a current version gets one: a new key from its first moment
    # (the declared column, else the as-of time), a changed one from when its previous version
    # closed. Keys continue the sequence in key order: the same input gets the same keys.
    first = (
        sql.SQL("s.{}").format(sql.Identifier(history.valid_from))
        if history.valid_from
        else sql.SQL("CAST(%(as_of)s AS timestamp)")
    )
    cur.execute(
        sql.SQL(
            "INSERT INTO {history} ({surrogate}, {key}, {columns}, {valid_from}, {valid_to}, "
            "{is_current}) "
            "SELECT (SELECT COALESCE(max({surrogate}), 0) FROM {history}) "
            "+ row_number() OVER (ORDER BY s.{key}), s.{key}, {staged}, "
            "COALESCE(previous.closed_at, {first}), NULL, true "
            "FROM {stage} s LEFT JOIN LATERAL (SELECT max(v.{valid_to}) AS closed_at "
            "FROM {history} v WHERE v.{key} = s.{key}) previous ON true "
            "WHERE NOT EXISTS "
            "(SELECT 1 FROM {history} v WHERE v.{key} = s.{key} AND v.{is_current})"
        ).format(first=first, **names),
        params,
    )
    log.info(
        "%s versions: %d replaced, %d closed, %d opened",
        history.table,
        replaced,
        closed,
        cur.rowcount,
    )
    return counts


def _upsert_statement_run(cur: Any, entity: Entity) -> None:
    """The entity's own columns, upserted (its history columns live in the history table)."""
    cur.execute(
        _upsert_statement(entity, entity.table.name, entity.table_columns, sql.SQL("true"), ())
    )


# --- append -------------------------------------------------------------------------------------


def _append(cur: Any, entity: Entity) -> dict[str, int]:
    """Insert the staged rows whose key is not loaded yet (the others are left out of the
    staging table first); on a partitioned table new months are bulk-loaded as in upsert."""
    names = {
        "table": sql.Identifier(entity.table.name),
        "stage": sql.Identifier(entity.stage_table),
        "key": sql.Identifier(entity.key),
        "columns": sql_names(entity.table_columns),
    }
    cur.execute(
        sql.SQL("DELETE FROM {stage} s USING {table} t WHERE t.{key} = s.{key}").format(**names)
    )
    parts = entity.table.partitioning
    new_ranges, bulk = load_new_partitions(cur, entity) if parts else ([], 0)
    where = sql.SQL("{} <> ALL (%(new)s)").format(range_start(entity)) if parts else sql.SQL("true")
    cur.execute(
        sql.SQL(
            "INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} WHERE {where}"
        ).format(where=where, **names),
        {"new": new_ranges},
    )
    return {"inserted": bulk + int(cur.rowcount), "updated": 0}
