"""The tables an entity definition asks for, and the DDL that creates them.

Pure: no connection here. ``tables`` turns a definition into table specifications (the main
table, the history table of a ``history`` merge, the staging table); ``create_statements``
renders one as deterministic DDL. ``spark_etl.db.migrations`` compares them with the catalog.
Identifiers are composed with ``psycopg2.sql.Identifier``; types come from the whitelist of
``model.canonical_type``; CHECK and WHERE conditions are SQL written in the definition.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from psycopg2 import sql

from spark_etl.db.attempts import ATTEMPT_COLUMN
from spark_etl.definitions import Model
from spark_etl.definitions.model import Entity, HistoryMerge, Index

MAX_NAME = 63  # PostgreSQL truncates longer identifiers
DEFAULT_PARTITION = "{}_default"
VALID_FROM, VALID_TO, IS_CURRENT = "valid_from", "valid_to", "is_current"
TIMESTAMP = "timestamp without time zone"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    nullable: bool = True
    check: str | None = None

    @property
    def definition(self) -> str:
        """As the catalog describes it: ``integer NOT NULL``."""
        return self.type + ("" if self.nullable else " NOT NULL")


@dataclass(frozen=True)
class IndexSpec:
    name: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str | None = None


@dataclass(frozen=True)
class ForeignKeySpec:
    name: str
    column: str
    table: str
    table_column: str


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...] = ()
    partition_by: str | None = None  # as pg_get_partkeydef() spells it: RANGE (created_at)
    foreign_keys: tuple[ForeignKeySpec, ...] = ()
    checks: tuple[str, ...] = ()
    indexes: tuple[IndexSpec, ...] = ()
    unlogged: bool = False
    dropped_indexes: tuple[str, ...] = ()  # created by earlier definitions; dropped if found

    @property
    def default_partition(self) -> str | None:
        return DEFAULT_PARTITION.format(self.name) if self.partition_by else None


def object_name(*parts: str) -> str:
    """``parts`` joined by ``_``, shortened with a stable hash when over 63 bytes."""
    name = "_".join(parts)
    if len(name.encode()) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name.encode()[: MAX_NAME - 9].decode(errors='ignore')}_{digest}"


def _index(table: str, index: Index) -> IndexSpec:
    name = index.name or object_name(table, *index.columns, "idx")
    return IndexSpec(name, index.columns, index.unique, index.where)


def _foreign_key(table: str, column: str, target: str, target_column: str) -> ForeignKeySpec:
    return ForeignKeySpec(object_name(table, column, "fkey"), column, target, target_column)


def tables(entity: Entity, model: Model) -> tuple[TableSpec, ...]:
    """The main table, the history table (``history`` merge) and the staging table."""
    columns = entity.columns
    spec = entity.table
    parts = spec.partitioning
    foreign_keys = [
        _foreign_key(
            spec.name, ref.column, model.entity(ref.entity).table.name, model.entity(ref.entity).key
        )
        for ref in entity.references
    ]
    for key in spec.foreign_keys:
        # a history table's key is its surrogate key; otherwise the column of the same name
        owner = model.owner_of(key.table)
        history = owner.merge if owner and isinstance(owner.merge, HistoryMerge) else None
        default = history.surrogate_key if history and history.table == key.table else key.column
        target = key.table_column or default
        foreign_keys.append(_foreign_key(spec.name, key.column, key.table, target))
    foreign_keys.sort(key=lambda key: list(columns).index(key.column))
    main = TableSpec(
        spec.name,
        tuple(
            ColumnSpec(name, columns[name].type, columns[name].nullable, columns[name].check)
            for name in entity.table_columns
        ),
        entity.primary_key,
        f"RANGE ({parts.range})" if parts else None,
        tuple(foreign_keys),
        spec.checks,
        tuple(_index(spec.name, index) for index in spec.indexes),
        dropped_indexes=spec.dropped_indexes,
    )
    stage = TableSpec(
        entity.stage_table,
        (
            *(ColumnSpec(name, column.type) for name, column in columns.items()),
            ColumnSpec(ATTEMPT_COLUMN, "bigint"),  # which task attempt wrote the row
        ),
        unlogged=True,
    )
    if not isinstance(entity.merge, HistoryMerge):
        return main, stage
    return main, _history_table(entity, entity.merge), stage


def _history_table(entity: Entity, merge: HistoryMerge) -> TableSpec:
    """One row per version of the history columns, valid over ``[valid_from, valid_to)``."""
    key = entity.columns[entity.key]
    surrogate = merge.surrogate_key
    history_columns = tuple(
        ColumnSpec(
            name,
            entity.columns[name].type,
            entity.columns[name].nullable,
            entity.columns[name].check,
        )
        for name in merge.columns
    )
    return TableSpec(
        merge.table,
        (
            ColumnSpec(surrogate, "bigint", nullable=False, check=f"{surrogate} >= 1"),
            ColumnSpec(entity.key, key.type, nullable=False),
            *history_columns,
            ColumnSpec(VALID_FROM, TIMESTAMP, nullable=False),
            ColumnSpec(VALID_TO, TIMESTAMP),
            ColumnSpec(IS_CURRENT, "boolean", nullable=False),
        ),
        (surrogate,),
        foreign_keys=(_foreign_key(merge.table, entity.key, entity.table.name, entity.key),),
        checks=(
            f"{VALID_TO} IS NULL OR {VALID_TO} >= {VALID_FROM}",
            f"{IS_CURRENT} = ({VALID_TO} IS NULL)",
        ),
        indexes=(
            IndexSpec(object_name(merge.table, "current_uidx"), (entity.key,), True, IS_CURRENT),
            IndexSpec(object_name(merge.table, entity.entity, "idx"), (entity.key, VALID_FROM)),
            *(_index(merge.table, index) for index in merge.indexes),
        ),
    )


def history_lookup_columns(entity: Entity) -> tuple[str, ...]:
    """What a lookup of ``entity``'s versions reads: surrogate key, key, the history columns
    and the validity interval."""
    assert isinstance(entity.merge, HistoryMerge)
    merge = entity.merge
    return (merge.surrogate_key, entity.key, *merge.columns, VALID_FROM, VALID_TO)


def model_tables(model: Model, entities: tuple[Entity, ...]) -> tuple[TableSpec, ...]:
    """Every table of ``entities``, in load order (a referenced table before its users)."""
    return tuple(table for entity in entities for table in tables(entity, model))


def _names(names: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, names))


def column_sql(column: ColumnSpec) -> sql.Composable:
    parts = [sql.Identifier(column.name), sql.SQL(column.type)]
    if not column.nullable:
        parts.append(sql.SQL("NOT NULL"))
    if column.check:
        parts.append(sql.SQL("CHECK ({})").format(sql.SQL(column.check)))
    return sql.SQL(" ").join(parts)


def foreign_key_sql(key: ForeignKeySpec) -> sql.Composable:
    return sql.SQL("CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})").format(
        sql.Identifier(key.name),
        sql.Identifier(key.column),
        sql.Identifier(key.table),
        sql.Identifier(key.table_column),
    )


def index_sql(table: str, index: IndexSpec) -> sql.Composable:
    statement = sql.SQL("CREATE {}INDEX {} ON {} ({})").format(
        sql.SQL("UNIQUE " if index.unique else ""),
        sql.Identifier(index.name),
        sql.Identifier(table),
        _names(index.columns),
    )
    if index.where:
        statement = sql.SQL("{} WHERE {}").format(statement, sql.SQL(index.where))
    return statement


def create_statements(table: TableSpec) -> list[tuple[str, sql.Composable]]:
    """CREATE TABLE with its key, foreign keys and checks; its default partition; its indexes;
    each with what it does in words."""
    items = [column_sql(column) for column in table.columns]
    if table.primary_key:
        items.append(
            sql.SQL("CONSTRAINT {} PRIMARY KEY ({})").format(
                sql.Identifier(object_name(table.name, "pkey")), _names(table.primary_key)
            )
        )
    items += [foreign_key_sql(key) for key in table.foreign_keys]
    items += [sql.SQL("CHECK ({})").format(sql.SQL(check)) for check in table.checks]
    create = sql.SQL("CREATE {}TABLE {} (\n    {}\n)").format(
        sql.SQL("UNLOGGED " if table.unlogged else ""),
        sql.Identifier(table.name),
        sql.SQL(",\n    ").join(items),
    )
    if table.partition_by:
        create = sql.SQL("{} PARTITION BY {}").format(create, sql.SQL(table.partition_by))
    kind = "unlogged table" if table.unlogged else "table"
    statements: list[tuple[str, sql.Composable]] = [(f"create {kind} {table.name}", create)]
    if table.default_partition:
        statements.append(
            (f"create partition {table.default_partition}", default_partition_sql(table))
        )
    statements += [
        (f"create index {index.name}", index_sql(table.name, index)) for index in table.indexes
    ]
    return statements


def default_partition_sql(table: TableSpec) -> sql.Composable:
    """The partition of rows whose range has no partition of its own yet."""
    return sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT").format(
        sql.Identifier(table.default_partition or ""), sql.Identifier(table.name)
    )
