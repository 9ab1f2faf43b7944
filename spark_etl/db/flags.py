"""Soft anomalies: rows loaded as they are, each flag recorded in ``etl_flag`` with its run,
inside the load's transaction (declared per entity under ``flags``)."""

from __future__ import annotations

from typing import Any

from psycopg2 import sql

from spark_etl.db.ddl import IS_CURRENT
from spark_etl.definitions import Entity, Model
from spark_etl.definitions.model import Flag, HistoryMerge
from spark_etl.errors import AccountingError

ALL_FLAGS = ""  # the key of flag_rows' count of rows with any flag (no flag is named '')


def _flag_condition(
    model: Model, entity: Entity, flag: Flag, joins: dict[str, tuple[str, sql.Composable]]
) -> sql.Composable:
    """The SQL condition of one flag over the staged row ``s``; ``joins`` collects the
    referenced tables it compares with (entity -> alias and join)."""
    if flag.shared is not None:
        history = entity.merge if isinstance(entity.merge, HistoryMerge) else None
        in_history = history is not None and flag.shared in history.columns
        table = history.table if history is not None and in_history else entity.table.name
        current = (
            sql.SQL(" AND o.{}").format(sql.Identifier(IS_CURRENT)) if in_history else sql.SQL("")
        )
        return sql.SQL(
            "EXISTS (SELECT 1 FROM {table} o WHERE o.{column} = s.{column} "
            "AND o.{key} <> s.{key}{current})"
        ).format(
            table=sql.Identifier(table),
            column=sql.Identifier(flag.shared),
            key=sql.Identifier(entity.key),
            current=current,
        )
    assert flag.column is not None and flag.before is not None
    other, _, name = flag.before.rpartition(".")
    if not other:
        return sql.SQL("s.{} < s.{}").format(sql.Identifier(flag.column), sql.Identifier(name))
    if other not in joins:
        alias = f"r{len(joins)}"
        target = model.entity(other)
        column = next(r.column for r in entity.references if r.entity == other)
        joins[other] = (
            alias,
            sql.SQL("LEFT JOIN {} {} ON {} = {}").format(
                sql.Identifier(target.table.name),
                sql.Identifier(alias),
                sql.Identifier(alias, target.key),
                sql.Identifier("s", column),
            ),
        )
    alias = joins[other][0]
    return sql.SQL("s.{} < {}").format(sql.Identifier(flag.column), sql.Identifier(alias, name))


def flag_conditions(
    model: Model, entity: Entity
) -> tuple[list[tuple[Flag, sql.Composable]], sql.Composable]:
    """Each flag of ``entity`` with its SQL condition over a staged row ``s``, and the joins
    (to the referenced tables they compare with) that the conditions need."""
    joins: dict[str, tuple[str, sql.Composable]] = {}
    conditions = [(flag, _flag_condition(model, entity, flag, joins)) for flag in entity.flags]
    return conditions, sql.SQL(" ").join(join for _, join in joins.values())


def flag_rows(cur: Any, model: Model, entity: Entity, run_id: str, job: str) -> dict[str, int]:
    """List each staged row's soft anomalies in etl_flag; return the rows flagged per flag
    (and under ``ALL_FLAGS`` the rows with any flag)."""
    if not entity.flags:
        return {ALL_FLAGS: 0}
    # what a foreign key would check for every row, once: the run exists, and stays until the
    # load's transaction ends
    cur.execute("SELECT 1 FROM etl_run WHERE run_id = %s FOR KEY SHARE", (run_id,))
    if cur.fetchone() is None:
        raise AccountingError(f"etl_run holds no run {run_id} for the flags of {job}.")
    conditions, joins = flag_conditions(model, entity)
    cases = [
        sql.SQL("CASE WHEN {} THEN {} END").format(condition, sql.Literal(flag.flag))
        for flag, condition in conditions
    ]
    # One row per flagged row, kept for the counts: at 60% of 10M lines flagged, counting
    # what the INSERT returned (a row per flag, then its distinct rows) cost more than the
    # INSERT itself.
    counts = [
        sql.SQL("count(*) FILTER (WHERE {} = ANY(flags)) AS {}").format(
            sql.Literal(flag.flag), sql.Identifier(f"flag_{number}")
        )
        for number, flag in enumerate(entity.flags)
    ]
    cur.execute(
        sql.SQL(
            "WITH anomalies AS MATERIALIZED (SELECT record_id, flags FROM (SELECT s.{key} AS "
            "record_id, array_remove(ARRAY[{cases}]::text[], NULL) AS flags "
            "FROM {stage} s {joins}) a WHERE flags <> '{{}}'), "
            "flagged AS (INSERT INTO etl_flag (run_id, job, record_id, flag) "
            "SELECT CAST(%(run_id)s AS uuid), %(job)s, record_id, unnest(flags) FROM anomalies) "
            "SELECT count(*) AS flagged, {counts} FROM anomalies"
        ).format(
            key=sql.Identifier(entity.key),
            cases=sql.SQL(", ").join(cases),
            stage=sql.Identifier(entity.stage_table),
            joins=joins,
            counts=sql.SQL(", ").join(counts),
        ),
        {"run_id": run_id, "job": job},
    )
    row = cur.fetchone()
    flagged = {
        flag.flag: int(row[f"flag_{number}"])
        for number, flag in enumerate(entity.flags)
        if row[f"flag_{number}"]
    }
    return {**flagged, ALL_FLAGS: int(row["flagged"])}
