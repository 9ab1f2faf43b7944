"""Spark actions of a load: jobs that run on the executors and bring a little back to the
driver (the repeated keys, the counts per file split), and the caches they keep; the pure
transforms they apply are in ``spark_etl.transforms.columns``."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import reduce
from operator import and_

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_etl.transforms.columns import (
    DUPLICATE,
    RAW,
    READ_ORDER,
    REASON_SEPARATOR,
    REASONS,
    WINNER,
    add_reason,
    mark_duplicates,
    numbered_by_sorting,
    repeated_keys,
)
from spark_etl.transforms.source import SOURCE_BLOCK, SOURCE_FILE, SOURCE_ORDER

log = logging.getLogger(__name__)

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
        numbers = numbered_by_sorting(frame)
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
