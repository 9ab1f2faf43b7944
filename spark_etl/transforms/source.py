"""Explicit schemas of every source (never inferred): text columns named by the entity
definitions, plus the lineage columns every reader adds.

Sources are read as text first, so that a malformed value becomes a rejection with a reason
instead of a silent NULL; the transforms then parse each column into its model type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import types as T

if TYPE_CHECKING:
    from spark_etl.definitions import Entity
    from spark_etl.definitions.mapping import EntityMapping

CORRUPT_RECORD = "_corrupt_record"
# Where each source row came from, added by the readers: the file, the byte offset of the file
# split that read it, and an id that grows with the row's position within the split (duplicates
# keep the last line; rejections name the record).
SOURCE_FILE = "_source_file"
SOURCE_BLOCK = "_source_block"
SOURCE_ORDER = "_source_order"
MONEY = T.DecimalType(12, 2)
LINE_AMOUNT = T.DecimalType(14, 2)


@dataclass(frozen=True)
class SourceSpec:
    """One entity's input: its file stem and its columns, in contract order; with a mapping
    template, where each column comes from in another layout and how that file is written."""

    entity: str
    file_stem: str
    columns: tuple[str, ...]
    # contract column -> a column of the file, or a Spark SQL expression over its columns
    mapped: tuple[tuple[str, str, str], ...] = ()  # (contract column, "column"|"expression", text)
    file_format: str | None = None  # None: the run's input.format
    delimiter: str = ","
    encoding: str = "UTF-8"
    template: str | None = None  # the mapping template's file, named in messages
    formats: tuple[str, ...] = ("csv", "jsonl", "parquet")  # the definition's source.formats

    @classmethod
    def of(
        cls, entity: Entity, mapping: EntityMapping | None = None, template: str | None = None
    ) -> SourceSpec:
        """The input contract an entity definition declares, or a template maps onto it."""
        columns = tuple(entity.source.columns)
        formats = tuple(entity.source.formats)
        if mapping is None:
            return cls(entity.entity, entity.source.file, columns, formats=formats)
        mapped = []
        for name in columns:
            given = mapping.columns.get(name, name)
            if isinstance(given, str):
                mapped.append((name, "column", given))
            elif given.column is not None:
                mapped.append((name, "column", given.column))
            else:
                mapped.append((name, "expression", given.expression or ""))
        return cls(
            entity.entity,
            mapping.file or entity.source.file,
            columns,
            tuple(mapped),
            mapping.format,
            mapping.delimiter or ",",
            mapping.encoding or "UTF-8",
            template,
            formats,
        )

    @property
    def raw_schema(self) -> T.StructType:
        fields = [T.StructField(name, T.StringType(), nullable=True) for name in self.columns]
        return T.StructType(fields)

    def raw_schema_in_order(self, header: list[str]) -> T.StructType:
        """The raw schema with fields in the order a file's header lists them."""
        return T.StructType([T.StructField(name, T.StringType(), True) for name in header])
