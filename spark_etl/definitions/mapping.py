"""Mapping templates: another source layout (one file per entity, its own column names, format,
delimiter, encoding and timestamp formats) onto the entities' source columns."""

from __future__ import annotations

import codecs
from typing import Literal

from pydantic import Field, field_validator, model_validator

from spark_etl.definitions.model import Name, _Strict


class MappedColumn(_Strict):
    """A source column of the entity taken from a column of another name, or computed by a
    Spark SQL expression over the file's columns (read as text)."""

    column: str | None = None
    expression: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> MappedColumn:
        if (self.column is None) == (self.expression is None):
            raise ValueError("give either column or expression")
        return self


class _SourceFormat(_Strict):
    format: Literal["csv", "jsonl", "parquet"] | None = None  # default: by file extension
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)  # CSV
    encoding: str | None = None  # CSV and JSON Lines; default UTF-8
    timestamp_formats: tuple[str, ...] | None = Field(default=None, min_length=1)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding '{value}'") from None
        return value


class EntityMapping(_SourceFormat):
    """How one entity's source columns come out of another layout; a source column the
    template does not name is read from the file's column of the same name."""

    file: Name | None = None  # the file stem; default the entity's
    columns: dict[str, str | MappedColumn] = Field(default_factory=dict)


class Mapping(_SourceFormat):
    """A template mapping a whole export (one file per entity) onto the entities; the format
    settings here apply to every entity that does not set its own."""

    description: str | None = None
    entities: dict[str, EntityMapping] = Field(min_length=1)

    def for_entity(self, entity: str) -> EntityMapping | None:
        """The entity's mapping with this template's defaults filled in (None: not mapped)."""
        own = self.entities.get(entity)
        if own is None:
            return None
        defaults = {
            name: getattr(self, name)
            for name in ("format", "delimiter", "encoding", "timestamp_formats")
            if getattr(own, name) is None
        }
        return own.model_copy(update=defaults)
