"""Parsing and rejection helpers shared by every entity.

A parsed frame carries the typed model columns, the raw record (``_raw``), lineage columns and
``_reasons``: the list of every hard rule the row breaks. An empty list means the row loads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import reduce
from operator import and_, or_

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window, WindowSpec
from pyspark.sql import functions as F
from pyspark.sql import types as T

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


BROADCAST_KEYS = 200_000  # repeated keys joined back by broadcast up to this many


@contextmanager
def duplicates_marked(
    frame: DataFrame,
    *,
    key: str,
    latest_by: str | None = None,
    broadcast_limit: int = BROADCAST_KEYS,
) -> Iterator[DataFrame]:
    """The checked rows with their repeated keys marked, as every load does it; what it
    caches is released on exit.

    The keys that repeat are found with their winners (``repeated_keys``: an action, its
    result cached). None: the frame is used as it is. Up to ``broadcast_limit`` of them are
    joined back by broadcast on the key, and every valid row of a repeated key but the winner
    is a duplicate: no row of ``frame`` moves, nothing is sorted, and the result needs no
    cache of its own. More (a file loaded twice over) are marked by sorting whole rows, and
    that result is cached for the passes that follow.
    """
    repeated = repeated_keys(frame, key=key, latest_by=latest_by).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    marked = frame
    try:
        found = repeated.count()
        if found > broadcast_limit:
            repeated.unpersist()  # counted, not joined
            marked = mark_duplicates(frame, key=key, latest_by=latest_by).persist(
                StorageLevel.MEMORY_AND_DISK
            )
        elif found:
            joined = frame.join(F.broadcast(repeated), F.col(key) == F.col("_repeated"), "left")
            winner = reduce(and_, [F.col(name) == F.col(WINNER + name) for name in READ_ORDER])
            valid = F.size(REASONS) == 0
            lost = valid & F.col("_repeated").isNotNull() & ~winner
            marked = add_reason(joined, lost, DUPLICATE).select(*frame.columns)
        yield marked
    finally:
        if marked is not frame:
            marked.unpersist()
        repeated.unpersist()


def accepted_rows(frame: DataFrame, columns: Sequence[str]) -> DataFrame:
    """The rows that break no rule, reduced to the model columns."""
    return frame.where(F.size(REASONS) == 0).select(*columns)


@dataclass(frozen=True)
class Split:
    """One file split of the source as read: its rows and their first and last read ids."""

    file: str
    offset: int
    rows: int
    set_aside: int
    first_id: int
    last_id: int


@dataclass(frozen=True)
class ReadCounts:
    """Rows read and set aside, and the file splits they came from (``rejected_rows`` numbers
    the records with them)."""

    read: int
    set_aside: int
    splits: tuple[Split, ...]


def count_rows(frame: DataFrame) -> ReadCounts:
    """Rows read and set aside per file split, in one pass (an action: it fills a persisted
    frame); a few rows per file come back to the driver."""
    splits = tuple(
        Split(*row)
        for row in frame.groupBy(SOURCE_FILE, SOURCE_BLOCK)
        .agg(
            F.count(F.lit(1)),
            F.count(F.when(F.size(REASONS) > 0, True)),
            F.min(SOURCE_ORDER),
            F.max(SOURCE_ORDER),
        )
        .collect()
    )
    return ReadCounts(
        sum(split.rows for split in splits), sum(split.set_aside for split in splits), splits
    )


BLOCK_SCHEMA = T.StructType(
    [
        T.StructField("_block_file", T.StringType()),
        T.StructField("_block_start", T.LongType()),
        T.StructField("_block_first", T.LongType()),
        T.StructField("_rows_before", T.LongType()),
    ]
)


def _read_blocks(spark: SparkSession, splits: Sequence[Split]) -> DataFrame | None:
    """Per file split: its first read id and the file's rows in the splits before it; None
    when some split's ids are not consecutive.

    Spark promises only that the read ids grow within a task, not how they are made. A split
    whose ``rows`` ids span exactly ``last - first + 1`` values holds them consecutively, so
    a row's position in it is its id minus the first: that is checked here, split by split.
    """
    if any(split.last_id - split.first_id + 1 != split.rows for split in splits):
        return None
    blocks: list[tuple] = []
    rows_before: dict[str, int] = {}
    for split in sorted(splits, key=lambda s: (s.file, s.offset)):
        before = rows_before.get(split.file, 0)
        blocks.append((split.file, split.offset, split.first_id, before))
        rows_before[split.file] = before + split.rows
    return spark.createDataFrame(blocks, BLOCK_SCHEMA)


def _numbered_by_sorting(frame: DataFrame) -> DataFrame:
    """Record numbers of every row by sorting the read ids of each file (the slow path)."""
    in_file = Window.partitionBy(SOURCE_FILE).orderBy(SOURCE_BLOCK, SOURCE_ORDER)
    return frame.select(*READ_ORDER, F.row_number().over(in_file).alias("record_number"))


def rejected_rows(frame: DataFrame, counts: ReadCounts) -> DataFrame:
    """The rows set aside: file, record number (1 = first record), raw record as JSON, reasons;
    ``counts`` are the frame's own (``count_rows``).

    The record number counts the file's records in read order (split offset, then read id),
    whatever the number of splits and the order Spark reads them in.
    """
    rejected = frame.where(F.size(REASONS) > 0)
    blocks = _read_blocks(frame.sparkSession, counts.splits)
    if blocks is None:
        log.warning("Read ids are not consecutive within a file split: numbering rejects by a sort")
        numbers = _numbered_by_sorting(frame)
        numbered = rejected.join(numbers, on=list(READ_ORDER), how="left")
    else:
        in_block = (F.col(SOURCE_FILE) == F.col("_block_file")) & (
            F.col(SOURCE_BLOCK) == F.col("_block_start")
        )
        position = F.col(SOURCE_ORDER) - F.col("_block_first")
        numbered = rejected.join(F.broadcast(blocks), on=in_block, how="left").withColumn(
            "record_number", F.col("_rows_before") + position + 1
        )
    return numbered.select(
        F.col(SOURCE_FILE).alias("source_file"),
        F.col("record_number"),
        F.to_json(RAW).alias("raw_record"),
        F.array_join(REASONS, REASON_SEPARATOR).alias("reasons"),
    )
