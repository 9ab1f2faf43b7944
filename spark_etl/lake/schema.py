"""The Iceberg tables of an entity: its model tables' columns with their types, the key as
identifier field, partitioned by the time range of the model's partitions (the hash
sub-partitions are PostgreSQL's alone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from pyiceberg.expressions import (
    And,
    BooleanExpression,
    GreaterThanOrEqual,
    LessThan,
    Or,
    Reference,
)
from pyiceberg.expressions.literals import Literal, literal
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import TableProperties
from pyiceberg.transforms import DayTransform, MonthTransform, Transform, YearTransform
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IcebergType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
)

from spark_etl.db.ddl import tables
from spark_etl.db.partitions import next_start
from spark_etl.definitions import Entity, Model
from spark_etl.definitions.model import HistoryMerge, Partitioning

# the PostgreSQL types of model columns (as format_type() spells them) -> Iceberg's
ICEBERG_TYPES: dict[str, IcebergType] = {
    "bigint": LongType(),
    "integer": IntegerType(),
    "smallint": IntegerType(),  # Iceberg's smallest integer
    "text": StringType(),
    "boolean": BooleanType(),
    "date": DateType(),
    "timestamp without time zone": TimestampType(),  # UTC like the model, without zone
    "double precision": DoubleType(),
}
TRANSFORMS: dict[str, Transform] = {
    "day": DayTransform(),
    "month": MonthTransform(),
    "year": YearTransform(),
}
FIRST_PARTITION_FIELD_ID = 1000  # Iceberg's convention: partition field ids start there


def iceberg_type(pg_type: str) -> IcebergType:
    """The Iceberg type of a model column's PostgreSQL type (decimals keep their precision)."""
    if pg_type.startswith("numeric("):
        precision, scale = pg_type[len("numeric(") : -1].split(",")
        return DecimalType(int(precision), int(scale))
    if pg_type.startswith("character varying("):
        return StringType()
    return ICEBERG_TYPES[pg_type]


@dataclass(frozen=True)
class LakeColumn:
    name: str
    type: str  # the PostgreSQL type, as format_type() spells it
    required: bool


@dataclass(frozen=True)
class LakeTable:
    """One model table as the lake keeps it."""

    name: str
    columns: tuple[LakeColumn, ...]
    identifier: tuple[str, ...]  # the key; required, whatever the definition says (a key is)
    partitioning: Partitioning | None = None  # by the range column's day, month or year

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def partition_field(self) -> str | None:
        """The partition field's name (``created_at_month``), None when unpartitioned."""
        parts = self.partitioning
        return f"{parts.range}_{parts.interval}" if parts else None

    def schema(self) -> Schema:
        fields = [
            NestedField(
                position,
                column.name,
                iceberg_type(column.type),
                required=column.required or column.name in self.identifier,
            )
            for position, column in enumerate(self.columns, start=1)
        ]
        ids = [position for position, f in enumerate(fields, start=1) if f.name in self.identifier]
        return Schema(*fields, identifier_field_ids=ids)

    def partition_spec(self) -> PartitionSpec:
        parts = self.partitioning
        if parts is None:
            return UNPARTITIONED_PARTITION_SPEC
        source = self.column_names.index(parts.range) + 1
        return PartitionSpec(
            PartitionField(
                source_id=source,
                field_id=FIRST_PARTITION_FIELD_ID,
                transform=TRANSFORMS[parts.interval],
                name=self.partition_field or "",
            )
        )

    def properties(self) -> dict[str, str]:
        """The table's properties: the name mapping that lets readers match the columns of
        Spark's Parquet files (which carry no Iceberg field ids) by name, and the metadata
        files of the oldest commits deleted past the last 100."""
        mapping = self.schema().name_mapping.model_dump_json()
        return {
            TableProperties.DEFAULT_NAME_MAPPING: mapping,
            TableProperties.METADATA_DELETE_AFTER_COMMIT_ENABLED: "true",
            TableProperties.METADATA_PREVIOUS_VERSIONS_MAX: "100",
        }

    def ranges_filter(self, starts: tuple[date, ...]) -> BooleanExpression:
        """Rows whose range column falls in one of the ranges beginning at ``starts``."""
        parts = self.partitioning
        assert parts is not None and starts
        column = next(column for column in self.columns if column.name == parts.range)
        bounds = [
            And(
                GreaterThanOrEqual(term=Reference(parts.range), value=_literal(start, column.type)),
                LessThan(
                    term=Reference(parts.range),
                    value=_literal(next_start(start, parts.interval), column.type),
                ),
            )
            for start in starts
        ]
        return bounds[0] if len(bounds) == 1 else Or(*bounds)


def _literal(start: date, pg_type: str) -> Literal[str]:
    """A range bound as Iceberg compares it with a date or timestamp column (ISO, no zone)."""
    if pg_type == "date":
        return literal(start.isoformat())
    return literal(datetime.combine(start, time()).isoformat())


def lake_tables(entity: Entity, model: Model) -> tuple[LakeTable, ...]:
    """The entity's table, and the history table of a ``history`` merge (by its surrogate
    key), as the lake keeps them: the columns of the PostgreSQL tables ``ddl`` creates."""
    specs = tables(entity, model)  # main, [history,] staging
    main = specs[0]
    kept = [
        LakeTable(
            main.name,
            tuple(LakeColumn(c.name, c.type, not c.nullable) for c in main.columns),
            (entity.key,),
            entity.table.partitioning,
        )
    ]
    if isinstance(entity.merge, HistoryMerge):
        history = specs[1]
        kept.append(
            LakeTable(
                history.name,
                tuple(LakeColumn(c.name, c.type, not c.nullable) for c in history.columns),
                (entity.merge.surrogate_key,),
            )
        )
    return tuple(kept)
