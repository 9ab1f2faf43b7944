"""Parsing and rejection helpers shared by every entity: pure column expressions and
``DataFrame -> DataFrame`` functions (the actions that run them are in ``spark_etl.spark``).

A parsed frame carries the typed model columns, the raw record (``_raw``), lineage columns and
``_reasons``: the list of every hard rule the row breaks. An empty list means the row loads.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import reduce
from operator import or_

from pyspark.sql import Column, DataFrame, Window, WindowSpec
from pyspark.sql import functions as F

from spark_etl.transforms.source import CORRUPT_RECORD, SOURCE_BLOCK, SOURCE_FILE, SOURCE_ORDER

log = logging.getLogger(__name__)

RAW = "_raw"
TEXT = "_text_"  # prefix of the trimmed source texts (``with_trimmed_texts``)
REASONS = "_reasons"
REASON_SEPARATOR = "|"
POSITIVE_ID = r"^[0-9]{1,18}$"
DUPLICATE = "duplicate"
MALFORMED = "malformed record"
NOT_UTF8 = "not valid UTF-8"
REPLACEMENT_CHARACTER = "\ufffd"  # what the UTF-8 decoder puts in place of invalid bytes
READ_ORDER = (SOURCE_FILE, SOURCE_BLOCK, SOURCE_ORDER)


def trimmed(name: str) -> Column:
    """A raw text column of the source record, trimmed, with empty text as NULL."""
    value = F.trim(F.col(f"{RAW}.{name}"))
    return F.when(value != "", value)


def raw(name: str) -> Column:
    """Source column ``name`` as ``trimmed`` gives it, computed once per row beforehand
    (``with_trimmed_texts``): the rules read it several times each."""
    return F.col(TEXT + name)


def with_trimmed_texts(source: DataFrame, columns: Sequence[str]) -> DataFrame:
    """The packed source rows with each column's trimmed text beside them, for ``raw``.

    A projection of its own: Spark then evaluates each text once, where the rules over it
    would otherwise repeat it in every condition.
    """
    return source.select(*[trimmed(name).alias(TEXT + name) for name in columns], "*")


def pack_raw(frame: DataFrame, columns: Sequence[str]) -> DataFrame:
    """Fold the source columns into one ``_raw`` struct, next to the lineage columns."""
    return frame.select(F.struct(*columns, CORRUPT_RECORD).alias(RAW), *READ_ORDER)


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
    """The messages of every ``(broken, message)`` rule whose condition is true.

    The list is built only for a row that breaks a rule: most rows break none, and building
    and compacting a list for each of them took most of the time of parsing an extract.
    """
    listed = F.array_compact(
        F.array(*[F.when(broken, F.lit(message)) for broken, message in rules])
    )
    if not rules:
        return listed
    any_broken = reduce(or_, [broken for broken, _ in rules])
    return F.when(any_broken, listed).otherwise(F.array().cast("array<string>"))


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


def record_rules(columns: Sequence[str]) -> list[tuple[Column, str]]:
    """Rules on the record as a whole: it parsed, and its bytes were UTF-8."""
    # each field searched (no concatenated copy of the record per row)
    replaced = [F.col(f"{RAW}.{name}").contains(REPLACEMENT_CHARACTER) for name in columns]
    return [
        (F.col(f"{RAW}.{CORRUPT_RECORD}").isNotNull(), MALFORMED),
        (reduce(or_, replaced), NOT_UTF8),
    ]


def not_found(column: str, entity: str) -> str:
    """The reason of a row whose reference names no row of the entity it references."""
    return f"{column} not found in {entity}"


def add_reason(frame: DataFrame, broken: Column, message: str | Column) -> DataFrame:
    """Append ``message`` (text, or a column saying it per row) to the reasons of the rows
    where ``broken`` is true."""
    text = F.lit(message) if isinstance(message, str) else message
    extended = F.when(broken, F.concat(F.col(REASONS), F.array(text)))
    return frame.withColumn(REASONS, F.coalesce(extended, F.col(REASONS)))


def _latest_first(latest_by: str | None, *partition: str | Column) -> WindowSpec:
    """Rows sharing ``partition`` in the order they win in: the latest ``latest_by`` (when
    given), then the last line read; so the choice is the same on every run."""
    order = [F.col(latest_by).desc()] if latest_by else []
    return Window.partitionBy(*partition).orderBy(
        *order, *[F.col(name).desc() for name in READ_ORDER]
    )


def mark_duplicates(frame: DataFrame, *, key: str, latest_by: str | None = None) -> DataFrame:
    """Among otherwise valid rows sharing ``key``, keep one winner; the others get ``duplicate``.

    Sorts whole rows: ``duplicates_marked`` does it only when too many keys repeat to join
    them back by broadcast.
    """
    valid = F.size(REASONS) == 0
    latest_first = _latest_first(latest_by, key, valid)
    return add_reason(frame, valid & (F.row_number().over(latest_first) > 1), DUPLICATE)


WINNER = "_winner_"  # prefix of the winning row's read position (``repeated_keys``)


def repeated_keys(frame: DataFrame, *, key: str, latest_by: str | None = None) -> DataFrame:
    """Each ``key`` that two rows breaking no rule share, with the read position
    (``WINNER`` + ``READ_ORDER``) of the one that wins (``_latest_first``'s first).

    One hash aggregation over the key and the ordering columns, no sort: the winner is the
    greatest (``latest_by``, read position) struct. A struct orders its NULL fields first,
    so a row with no ``latest_by`` loses to one with, as in the window's descending order.
    """
    ordered = [latest_by, *READ_ORDER] if latest_by else list(READ_ORDER)
    return (
        frame.where(F.size(REASONS) == 0)
        .groupBy(key)
        .agg(F.count(F.lit(1)).alias("_rows"), F.max(F.struct(*ordered)).alias("_winner"))
        .where(F.col("_rows") > 1)
        .select(
            F.col(key).alias("_repeated"),
            *[F.col(f"_winner.{name}").alias(WINNER + name) for name in READ_ORDER],
        )
    )


def accepted_rows(frame: DataFrame, columns: Sequence[str]) -> DataFrame:
    """The rows that break no rule, reduced to the model columns."""
    return frame.where(F.size(REASONS) == 0).select(*columns)


def numbered_by_sorting(frame: DataFrame) -> DataFrame:
    """Record numbers of every row by sorting the read ids of each file (the slow path)."""
    in_file = Window.partitionBy(SOURCE_FILE).orderBy(SOURCE_BLOCK, SOURCE_ORDER)
    return frame.select(*READ_ORDER, F.row_number().over(in_file).alias("record_number"))
