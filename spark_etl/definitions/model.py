"""The typed shape of an entity definition (one YAML file per entity), validated on load.

A definition says *what*: the source file and the rule of each of its columns, the business
key and the entities it references, the model columns with their PostgreSQL types, the target
table (key, partitioning, indexes), the merge mode and the soft anomalies to flag. Python
says *how*, once, for every entity (``spark_etl.db.ddl``, the transforms, the
pipeline); logic no declaration expresses is a named transform the definition refers to.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from spark_etl.config import EntityGates, Identifier, QualitySettings, refuse_float

# The PostgreSQL types a model column may have, as format_type() spells them (so a declared
# type compares with the catalog as text); the short spellings of the YAML map onto them.
TYPE_SPELLINGS = {
    "bigint": "bigint",
    "int8": "bigint",
    "integer": "integer",
    "int": "integer",
    "int4": "integer",
    "smallint": "smallint",
    "int2": "smallint",
    "text": "text",
    "boolean": "boolean",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp without time zone",
    "timestamp without time zone": "timestamp without time zone",
    "double precision": "double precision",
}
# A staging table's last column, not the entity's: the Spark task attempt that wrote the row
# (see spark_etl.db.attempts); no entity may declare a column of that name.
STAGE_ATTEMPT = "stage_attempt"
NUMERIC = re.compile(r"^numeric\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
VARCHAR = re.compile(r"^(?:varchar|character varying)\s*\(\s*(\d+)\s*\)$")


def canonical_type(declared: str) -> str:
    """The format_type() spelling of a declared column type; ValueError when not supported."""
    text = " ".join(declared.strip().lower().split())
    if text in TYPE_SPELLINGS:
        return TYPE_SPELLINGS[text]
    numeric = NUMERIC.match(text)
    if numeric:
        precision, scale = int(numeric.group(1)), int(numeric.group(2))
        if not 1 <= precision <= 38 or scale > precision:
            raise ValueError("numeric(p,s) needs 1 <= p <= 38 and s <= p (Spark's decimal limits)")
        return f"numeric({precision},{scale})"
    varchar = VARCHAR.match(text)
    if varchar:
        return f"character varying({int(varchar.group(1))})"
    known = ", ".join(sorted({*TYPE_SPELLINGS.values(), "numeric(p,s)", "varchar(n)"}))
    raise ValueError(f"type '{declared}' is not supported; use one of: {known}")


Name = Annotated[str, Field(min_length=1)]
SqlName = Identifier  # a lower-case SQL identifier, as the settings' schema names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- the source: one rule per column ----------------------------------------------------------


class _SourceColumn(_Strict):
    to: SqlName | None = None  # the model column it fills (default: the same name)
    required: bool = True  # a missing value is a reject


class IdRule(_SourceColumn):
    """A positive whole number of at most 18 digits."""

    rule: Literal["id"]


class TextRule(_SourceColumn):
    """Text, trimmed; ``collapse`` also turns runs of white space inside into one space."""

    rule: Literal["text"]
    whitespace: Literal["collapse", "trim"] = "collapse"


class _Range(_SourceColumn):
    # Either literal bounds, or the name of a range in the settings' ``validation`` section,
    # so an operator can change it in --config without touching the definition.
    min: Decimal | None = None
    max: Decimal | None = None
    range: SqlName | None = None  # price, quantity, or a name of validation.ranges

    _no_float = field_validator("min", "max", mode="before")(refuse_float)

    @model_validator(mode="after")
    def _one_source_of_bounds(self) -> _Range:
        if self.range is not None and (self.min is not None or self.max is not None):
            raise ValueError("give either range or min/max, not both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class MoneyRule(_Range):
    """An exact decimal amount that fits the model column's numeric(p,s), never rounded."""

    rule: Literal["money"]


class WholeNumberRule(_Range):
    """A whole number written with digits only, within the bounds."""

    rule: Literal["whole_number"]


class TimestampRule(_SourceColumn):
    """A time in one of the run's timestamp formats (or the mapping's own), as UTC."""

    rule: Literal["timestamp"]
    # set aside a value more than validation.future_days after the load's time
    not_after_load: bool = False


class PatternRule(_SourceColumn):
    """Trimmed text that must match a regular expression (Java syntax, as Spark's rlike)."""

    rule: Literal["pattern"]
    pattern: str
    reason: str | None = None  # the reject's reason; default "<column> does not match <pattern>"


SourceColumn = Annotated[
    IdRule | TextRule | MoneyRule | WholeNumberRule | TimestampRule | PatternRule,
    Field(discriminator="rule"),
]
FORMATS: tuple[Literal["csv", "jsonl", "parquet"], ...] = ("csv", "jsonl", "parquet")


class Source(_Strict):
    file: Name  # the file stem: <file>.csv, .jsonl/.ndjson/.json or .parquet in --input-dir
    formats: tuple[Literal["csv", "jsonl", "parquet"], ...] = FORMATS
    columns: dict[SqlName, SourceColumn] = Field(min_length=1)  # in the order of the contract


# --- the model: columns, table, merge, flags ---------------------------------------------------


class Column(_Strict):
    type: str
    nullable: bool = True
    check: str | None = None  # a SQL condition on the column, e.g. "price >= 0"
    description: str | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return canonical_type(value)


class Reference(_Strict):
    column: SqlName  # a model column of this entity ...
    entity: SqlName  # ... holding the key of this entity; it loads first


class Index(_Strict):
    columns: tuple[SqlName, ...] = Field(min_length=1)
    name: SqlName | None = None  # default <table>_<columns>_idx
    unique: bool = False
    where: str | None = None  # a SQL condition: a partial index


class ForeignKey(_Strict):
    """A foreign key to a table that is not an entity's main table (a history table)."""

    column: SqlName
    table: SqlName
    table_column: SqlName | None = None  # default: the same name


class HashPartitions(_Strict):
    column: str
    partitions: int = Field(ge=1, le=64)


class Partitioning(_Strict):
    range: str  # a timestamp or date column
    interval: Literal["day", "month", "year"] = "month"
    hash: HashPartitions | None = None


class Table(_Strict):
    name: SqlName
    partitioning: Partitioning | None = None
    indexes: tuple[Index, ...] = ()
    dropped_indexes: tuple[SqlName, ...] = ()  # indexes of earlier versions, dropped if found
    foreign_keys: tuple[ForeignKey, ...] = ()
    checks: tuple[str, ...] = ()  # SQL conditions over several columns


class Retention(_Strict):
    """How the retention job keeps the entity's monthly partitions (settings may override)."""

    # whole months kept online, counted back from the newest month holding rows; older ones
    # are archived, verified and dropped (retention.months.<entity> in the settings wins)
    months: int | None = Field(default=None, ge=1, le=1200)
    rows: str = Field(default="rows", pattern=r"^[a-z ]{1,30}$")  # what messages call a row


class UpsertMerge(_Strict):
    """Type 1: a new key is inserted, a changed row overwritten, an unchanged one untouched."""

    mode: Literal["upsert"]


class AppendMerge(_Strict):
    """Rows whose key is not in the table yet are inserted; nothing already loaded changes."""

    mode: Literal["append"]


class HistoryMerge(_Strict):
    """Type 2 on ``columns``: they live in ``table``, one version per change, each valid over
    ``[valid_from, valid_to)``, the current one with ``is_current``; ``surrogate_key`` numbers
    the versions in key order, so the same input always gets the same keys."""

    mode: Literal["history"]
    table: SqlName
    surrogate_key: SqlName
    columns: tuple[str, ...] = Field(min_length=1)
    # the first version of a new key is valid from this column (default: the run's --as-of)
    valid_from: SqlName | None = None
    indexes: tuple[Index, ...] = ()


Merge = Annotated[UpsertMerge | AppendMerge | HistoryMerge, Field(discriminator="mode")]


POSTGRESQL, ICEBERG = "postgresql", "iceberg"
Target = Literal["postgresql", "iceberg"]


class Flag(_Strict):
    """A soft anomaly: the row loads, and the flag is listed in etl_flag.

    ``column`` before ``before`` (a column of this entity, or ``entity.column`` of a referenced
    one); or ``shared``: the value is also the current value of another row.
    """

    flag: Name
    column: str | None = None
    before: str | None = None
    shared: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Flag:
        comparison = self.column is not None and self.before is not None
        if comparison == (self.shared is not None) or (self.column is None) != (
            self.before is None
        ):
            raise ValueError("give either column and before, or shared")
        return self


class Entity(_Strict):
    entity: SqlName
    description: str | None = None
    job: str | None = None  # default <entity>_data_transform
    source: Source
    key: str
    # among rows repeating the key, the one with the latest value of this column loads (then
    # the last line read); without it, the last line read
    latest_by: SqlName | None = None
    references: tuple[Reference, ...] = ()
    columns: dict[SqlName, Column] = Field(min_length=1)  # staged and merged, in this order
    transforms: tuple[str, ...] = ()  # named transforms run after the rules, in this order
    table: Table
    merge: Merge
    flags: tuple[Flag, ...] = ()
    retention: Retention | None = None
    quality: EntityGates | None = None  # the gates of its loads (the settings' quality wins)
    # where its loads go: PostgreSQL always (the lake is written from what PostgreSQL commits),
    # Iceberg too when listed; default: iceberg whenever the settings' lake.warehouse is set
    targets: tuple[Target, ...] | None = Field(default=None, min_length=1)

    @field_validator("targets")
    @classmethod
    def _postgresql_first(cls, targets: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if targets is None:
            return None
        if POSTGRESQL not in targets:
            raise ValueError(
                "postgresql is always a target (the lake is written from what PostgreSQL "
                "commits); list [postgresql] or [postgresql, iceberg]"
            )
        if len(set(targets)) < len(targets):
            raise ValueError("a target is listed twice")
        return targets

    def to_lake(self, lake_set: bool) -> bool:
        """Whether its loads also write the lake (``lake_set``: lake.warehouse is set)."""
        return lake_set if self.targets is None else ICEBERG in self.targets

    @property
    def job_name(self) -> str:
        return self.job or f"{self.entity}_data_transform"

    @property
    def rows_called(self) -> str:
        """What messages call its rows: "lines" for cart (retention.rows), else "rows"."""
        return self.retention.rows if self.retention else "rows"

    def gates(self, quality: QualitySettings) -> EntityGates:
        """Its quality gates: the settings' quality.<entity> over its definition's."""
        configured = quality.entities.get(self.entity)
        if configured is None:
            return self.quality or EntityGates()
        return configured.over(self.quality)

    @property
    def stage_table(self) -> str:
        return f"stage_{self.entity}"

    @property
    def history_columns(self) -> tuple[str, ...]:
        return self.merge.columns if isinstance(self.merge, HistoryMerge) else ()

    @property
    def table_columns(self) -> tuple[str, ...]:
        """The model columns kept in the entity's own table (history columns live apart)."""
        return tuple(name for name in self.columns if name not in self.history_columns)

    @property
    def primary_key(self) -> tuple[str, ...]:
        """The key, then the partition columns (a partitioned table's key must hold them)."""
        key = [self.key]
        parts = self.table.partitioning
        if parts is not None:
            key += [parts.range] + ([parts.hash.column] if parts.hash else [])
        return tuple(dict.fromkeys(key))
