"""Parsing and rejection helpers shared by every entity.

A parsed frame carries the typed model columns, the raw record (``_raw``), lineage columns and
``_reasons``: the list of every hard rule the row breaks. An empty list means the row loads.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_etl.readers import SOURCE_FILE, SOURCE_ORDER
from spark_etl.schemas import CORRUPT_RECORD

RAW = "_raw"
REASONS = "_reasons"
REASON_SEPARATOR = "|"
POSITIVE_ID = r"^[0-9]{1,18}$"
DUPLICATE = "duplicate"
MALFORMED = "malformed record"


def raw(name: str) -> Column:
    """A raw text column of the source record, trimmed, with empty text as NULL."""
    value = F.trim(F.col(f"{RAW}.{name}"))
    return F.when(value != "", value)


def pack_raw(frame: DataFrame, columns: Sequence[str]) -> DataFrame:
    """Fold the source columns into one ``_raw`` struct, next to the lineage columns."""
    return frame.select(F.struct(*columns, CORRUPT_RECORD).alias(RAW), SOURCE_FILE, SOURCE_ORDER)


def parse_id(text: Column) -> Column:
    """A positive integer id, or NULL when the text is not one."""
    number = text.cast("long")
    return F.when(text.rlike(POSITIVE_ID) & (number > 0), number)


def parse_timestamp(text: Column, formats: Sequence[str]) -> Column:
    """The first of ``formats`` that parses the text, as a UTC timestamp; NULL when none does."""
    return F.coalesce(*[F.to_timestamp(text, fmt) for fmt in formats])


def clean_text(text: Column) -> Column:
    """Trimmed text with runs of white space collapsed to one space; NULL when blank."""
    collapsed = F.trim(F.regexp_replace(text, r"\s+", " "))
    return F.when(collapsed != "", collapsed)


def reasons(*rules: tuple[Column, str]) -> Column:
    """The messages of every ``(broken, message)`` rule whose condition is true."""
    return F.array_compact(F.array(*[F.when(broken, F.lit(message)) for broken, message in rules]))


def id_rules(name: str, parsed: Column) -> list[tuple[Column, str]]:
    return [
        (raw(name).isNull(), f"{name} is missing"),
        (raw(name).isNotNull() & parsed.isNull(), f"{name} is not a positive integer"),
    ]


def timestamp_rules(
    name: str, parsed: Column, formats: Sequence[str], *, required: bool = True
) -> list[tuple[Column, str]]:
    accepted = " or ".join(formats)
    rules = [(raw(name).isNotNull() & parsed.isNull(), f"{name} is not a date ({accepted})")]
    if required:
        rules.insert(0, (raw(name).isNull(), f"{name} is missing"))
    return rules


def malformed_rule() -> tuple[Column, str]:
    return (F.col(f"{RAW}.{CORRUPT_RECORD}").isNotNull(), MALFORMED)


def add_reason(frame: DataFrame, broken: Column, message: str) -> DataFrame:
    """Append ``message`` to the reasons of the rows where ``broken`` is true."""
    extended = F.when(broken, F.concat(F.col(REASONS), F.array(F.lit(message))))
    return frame.withColumn(REASONS, F.coalesce(extended, F.col(REASONS)))


def mark_duplicates(frame: DataFrame, *, key: str) -> DataFrame:
    """Among otherwise valid rows sharing ``key``, keep one winner; the others get ``duplicate``.

    The winner is the latest ``created_at``, then the last line read; so the choice is the same
    on every run.
    """
    valid = F.size(REASONS) == 0
    latest_first = Window.partitionBy(key, valid).orderBy(
        F.col("created_at").desc(), F.col(SOURCE_FILE).desc(), F.col(SOURCE_ORDER).desc()
    )
    return add_reason(frame, valid & (F.row_number().over(latest_first) > 1), DUPLICATE)


def accepted_rows(frame: DataFrame, columns: Sequence[str]) -> DataFrame:
    """The rows that break no rule, reduced to the model columns."""
    return frame.where(F.size(REASONS) == 0).select(*columns)


def rejected_rows(frame: DataFrame) -> DataFrame:
    """The rows set aside: their file, the raw record as JSON and every reason."""
    return frame.where(F.size(REASONS) > 0).select(
        F.col(SOURCE_FILE).alias("source_file"),
        F.to_json(RAW).alias("raw_record"),
        F.array_join(REASONS, REASON_SEPARATOR).alias("reasons"),
    )
