"""Create and migrate the model's tables from the entity definitions: add, never drop.

``plan`` compares the tables the definitions ask for (``entities.ddl``) with the catalog and
returns the changes a run applies: a missing table (with its default partition and indexes), a
new nullable column, a relaxed NOT NULL, a new index or foreign key. Anything else (a changed
type, a removed column, a new NOT NULL column, another key or partitioning) is refused with a
``SchemaConflictError`` naming the table, the column and both definitions, and nothing is
altered. A staging table gets the same additions (its conflicts are its model table's, reported
there). ``apply`` runs the changes and records each in ``etl_migration``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

from spark_etl.db.ddl import (
    TableSpec,
    column_sql,
    create_statements,
    default_partition_sql,
    foreign_key_sql,
    index_sql,
    model_tables,
)
from spark_etl.definitions import Entity, Model
from spark_etl.errors import EtlError

log = logging.getLogger(__name__)


class SchemaConflictError(EtlError):
    """The database holds a table the definitions describe differently, beyond an addition."""


@dataclass(frozen=True)
class Change:
    table: str
    what: str  # one line for people: "add column cart.coupon (text)"
    statement: sql.Composable


@dataclass(frozen=True)
class CatalogTable:
    columns: dict[str, str]  # name -> "type[ NOT NULL]"
    primary_key: tuple[str, ...]
    partition_by: str | None
    indexes: frozenset[str]
    constraints: frozenset[str]
    partitions: frozenset[str]


def _catalog_table(cur: Any, schema: str, table: str) -> CatalogTable | None:
    cur.execute(
        "SELECT c.oid, pg_get_partkeydef(c.oid) AS partkey FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s "
        "AND c.relkind IN ('r', 'p')",
        (schema, table),
    )
    row = cur.fetchone()
    if row is None:
        return None
    oid = row["oid"]
    cur.execute(
        "SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull FROM pg_attribute "
        "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (oid,),
    )
    columns = {
        r["attname"]: r["type"] + (" NOT NULL" if r["attnotnull"] else "") for r in cur.fetchall()
    }
    cur.execute(
        "SELECT a.attname FROM pg_index i "
        "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = %s AND i.indisprimary ORDER BY k.n",
        (oid,),
    )
    primary_key = tuple(r["attname"] for r in cur.fetchall())
    cur.execute(
        "SELECT (SELECT array_agg(relname::text) FROM pg_class WHERE oid IN "
        "  (SELECT indexrelid FROM pg_index WHERE indrelid = %(oid)s)) AS indexes, "
        "(SELECT array_agg(conname::text) FROM pg_constraint WHERE conrelid = %(oid)s) "
        "AS constraints, "
        "(SELECT array_agg(inhrelid::regclass::text) FROM pg_inherits WHERE inhparent = %(oid)s) "
        "AS partitions",
        {"oid": oid},
    )
    names = cur.fetchone()
    return CatalogTable(
        columns,
        primary_key,
        row["partkey"],
        frozenset(names["indexes"] or ()),
        frozenset(names["constraints"] or ()),
        frozenset(name.split(".")[-1].strip('"') for name in names["partitions"] or ()),
    )


def _table_changes(spec: TableSpec, found: CatalogTable | None) -> tuple[list[Change], list[str]]:
    """The additive changes that bring ``found`` to ``spec``, and the conflicts that forbid it."""
    name = spec.name
    if found is None:
        return [Change(name, what, statement) for what, statement in create_statements(spec)], []
    changes: list[Change] = []
    conflicts: list[str] = []
    table = sql.Identifier(name)
    declared = {column.name: column for column in spec.columns}
    for column_name, definition in found.columns.items():
        if column_name not in declared:
            conflicts.append(
                f"table {name}, column {column_name}: the database has it ({definition}), the "
                "definitions do not; columns are never dropped: declare it again"
            )
    for column in spec.columns:
        existing = found.columns.get(column.name)
        if existing is None:
            if not column.nullable:
                conflicts.append(
                    f"table {name}, column {column.name}: new and NOT NULL ({column.definition}), "
                    "which rows already in the table cannot satisfy; declare it nullable"
                )
                continue
            changes.append(
                Change(
                    name,
                    f"add column {name}.{column.name} ({column.type})",
                    sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(table, column_sql(column)),
                )
            )
        elif existing != column.definition:
            if existing == column.definition + " NOT NULL":  # relaxing NOT NULL only widens
                changes.append(
                    Change(
                        name,
                        f"allow NULL in {name}.{column.name}",
                        sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL").format(
                            table, sql.Identifier(column.name)
                        ),
                    )
                )
            else:
                conflicts.append(
                    f"table {name}, column {column.name}: defined as {column.definition}, "
                    f"the database has {existing}"
                )
    if found.primary_key != spec.primary_key:
        conflicts.append(
            f"table {name}: primary key defined as ({', '.join(spec.primary_key)}), "
            f"the database has ({', '.join(found.primary_key)})"
        )
    if found.partition_by != spec.partition_by:
        conflicts.append(
            f"table {name}: partitioning defined as {spec.partition_by or 'none'}, "
            f"the database has {found.partition_by or 'none'}"
        )
    if spec.unlogged:  # staging: its columns follow the model's, whose conflicts are reported
        return changes, []
    if conflicts:
        return [], conflicts
    if spec.default_partition and spec.default_partition not in found.partitions:
        changes.append(
            Change(name, f"create partition {spec.default_partition}", default_partition_sql(spec))
        )
    for key in spec.foreign_keys:
        if key.name not in found.constraints:
            statement = sql.SQL("ALTER TABLE {} ADD {}").format(table, foreign_key_sql(key))
            changes.append(Change(name, f"add foreign key {key.name}", statement))
    for index in spec.indexes:
        if index.name not in found.indexes:
            changes.append(Change(name, f"create index {index.name}", index_sql(name, index)))
    # an index earlier definitions created and these retire: derived data, and every load
    # would keep building it for its new partitions
    for index_name in spec.dropped_indexes:
        if index_name in found.indexes:
            statement = sql.SQL("DROP INDEX {}").format(sql.Identifier(index_name))
            changes.append(Change(name, f"drop index {index_name}", statement))
    return changes, conflicts


def plan(conn: Any, schema: str, model: Model, entities: tuple[Entity, ...]) -> list[Change]:
    """What a run of ``entities`` (with the ones they reference) applies; changes nothing.

    Raises ``SchemaConflictError`` when a table differs beyond an addition.
    """
    changes: list[Change] = []
    conflicts: list[str] = []
    with conn.cursor() as cur:
        for spec in model_tables(model, model.with_dependencies(entities)):
            found = _catalog_table(cur, schema, spec.name)
            table_changes, table_conflicts = _table_changes(spec, found)
            changes += table_changes
            conflicts += table_conflicts
    conn.rollback()
    if conflicts:
        raise SchemaConflictError(
            "The database and the entity definitions disagree, beyond what a migration may "
            f"add: {'; '.join(conflicts)}. Nothing was changed: restore the definition, or "
            "migrate the table by hand."
        )
    return changes


def apply(conn: Any, changes: list[Change], run_id: str | None, job: str) -> None:
    """Run ``changes`` and record each in ``etl_migration``, in one committed transaction
    (committed before staging: the staging writers' own connections must see the tables)."""
    with conn.cursor() as cur:
        for change in changes:
            statement = change.statement.as_string(cur)
            log.info("Migrating: %s", change.what)
            cur.execute(statement)
            cur.execute(
                "INSERT INTO etl_migration (run_id, job, table_name, change, statement) "
                "VALUES (%s, %s, %s, %s, %s)",
                (run_id, job, change.table, change.what, statement),
            )
    conn.commit()


def render(conn: Any, changes: list[Change]) -> str:
    """The changes as a SQL script a person can read (and run)."""
    if not changes:
        return "-- The database matches the entity definitions: nothing to apply."
    lines = []
    with conn.cursor() as cur:
        for change in changes:
            lines += [f"-- {change.what}", change.statement.as_string(cur) + ";", ""]
    return "\n".join(lines).rstrip()


def migrate(
    conn: Any, schema: str, model: Model, entities: tuple[Entity, ...], job: str
) -> list[Change]:
    """Plan and apply in one go, outside any run (the analytics job, tests)."""
    changes = plan(conn, schema, model, entities)
    apply(conn, changes, None, job)
    return changes
