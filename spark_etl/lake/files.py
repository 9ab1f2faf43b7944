"""The lake's data files: the rows PostgreSQL holds, read in parallel by Spark and written as
Parquet whose columns are the Iceberg table's (timestamps without zone, decimals with their
precision, required columns required), one range of the partitioning per file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import reduce
from pathlib import Path
from typing import Any

from psycopg2 import sql
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_etl.config import Connection, DatabaseSettings
from spark_etl.db.archives import Record
from spark_etl.db.partitions import next_start
from spark_etl.db.postgres import quoted
from spark_etl.errors import ArchiveError
from spark_etl.io import readers
from spark_etl.io.archives import read_checked
from spark_etl.lake.schema import LakeTable
from spark_etl.lake.warehouse import file_uri
from spark_etl.transforms.rules import spark_type

# reads of a partitioned table at most: past it, neighbouring ranges share a read
MAX_READS = 64
# rows per read of a whole partitioned table: a small table is not split into a task per
# month (60 one-month reads of 9,468 lines took 22 s, the machine busy)
ROWS_PER_READ = 250_000

# the Spark type a PostgreSQL type is written as, where it is not the model's own
WRITTEN_AS = {
    "timestamp without time zone": T.TimestampNTZType(),  # Iceberg's timestamp (no zone)
    "smallint": T.IntegerType(),  # Iceberg's int
}


def written_schema(table: LakeTable) -> T.StructType:
    """The Spark schema of the files: the Iceberg table's types and required columns."""
    schema = table.schema()
    return T.StructType(
        [
            T.StructField(
                column.name,
                WRITTEN_AS.get(column.type) or spark_type(column.type),
                nullable=not schema.find_field(column.name).required,
            )
            for column in table.columns
        ]
    )


def read_table(
    spark: SparkSession,
    cur: Any,
    connection: Connection,
    db: DatabaseSettings,
    table: LakeTable,
    starts: tuple[date, ...] | None,
) -> DataFrame:
    """The rows PostgreSQL holds in ``table``, in the types the files are written with: of
    the ranges beginning at ``starts`` (None: every row). A partitioned table is read range by
    range (neighbouring ranges together past ``MAX_READS``, or, for the whole table, past one
    read per ``ROWS_PER_READ`` rows), in parallel, each read one Spark partition, so no range is
    split across tasks and the write needs no shuffle; an unpartitioned one in parallel slices
    of the key's range, like a lookup."""
    names = table.column_names
    parts = table.partitioning
    if parts is None:
        key = table.identifier[0]
        ordered = (key, *(name for name in names if name != key))  # the slices' key first
        frame = readers.read_lookup(spark, connection, db, table.name, ordered)
        return _as_written(spark, frame, written_schema(table))
    reads = MAX_READS
    if starts is None:
        starts, rows = _ranges_held(cur, db, table)
        reads = min(MAX_READS, max(1, -(-rows // ROWS_PER_READ)))
    selected = ", ".join(quoted(name) for name in names)
    relation = quoted(db.db_schema, table.name)
    conditions = [
        _in_span(parts.range, first, next_start(last, parts.interval)).as_string(cur)
        for first, last in read_spans(sorted(starts), reads)
    ] or ["true"]  # nothing held: the (empty) table
    frames = [
        readers.read_query(
            spark, connection, db, f"SELECT {selected} FROM {relation} WHERE {condition}"
        )
        for condition in conditions
    ]
    return _as_written(spark, reduce(DataFrame.unionByName, frames), written_schema(table))


def _ranges_held(cur: Any, db: DatabaseSettings, table: LakeTable) -> tuple[tuple[date, ...], int]:
    """The starts of every range between the table's first and last row (the range column is
    part of the key, never NULL: an empty range is an empty read, pruned to its leaf), and the
    table's rows."""
    parts = table.partitioning
    assert parts is not None
    cur.execute(
        sql.SQL(
            "SELECT min({c})::date AS low, max({c})::date AS high, count(*) AS n FROM {t}"
        ).format(c=sql.Identifier(parts.range), t=sql.Identifier(db.db_schema, table.name))
    )
    bounds = cur.fetchone()
    if bounds["low"] is None:
        return (), 0
    starts = [range_start(bounds["low"], parts.interval)]
    while (following := next_start(starts[-1], parts.interval)) <= bounds["high"]:
        starts.append(following)
    return tuple(starts), int(bounds["n"])


def range_start(day: date, interval: str) -> date:
    """The start of the range (day, month, year) holding ``day``."""
    if interval == "year":
        return date(day.year, 1, 1)
    if interval == "month":
        return date(day.year, day.month, 1)
    return day


def read_spans(starts: list[date], reads: int) -> list[tuple[date, date]]:
    """``starts`` (sorted) cut into at most ``reads`` runs of neighbours: each run's first and
    last start."""
    size = max(1, -(-len(starts) // reads))
    runs = [starts[i : i + size] for i in range(0, len(starts), size)]
    return [(run[0], run[-1]) for run in runs]


def _in_span(column: str, start: date, end: date) -> sql.Composable:
    """``start <= column < end``."""
    return sql.SQL("{} >= {} AND {} < {}").format(
        sql.Identifier(column), sql.Literal(start), sql.Identifier(column), sql.Literal(end)
    )


def read_archives(spark: SparkSession, table: LakeTable, records: Sequence[Record]) -> DataFrame:
    """The rows of months retention archived, from their Parquet archives, each checked
    against its record first, in the types the files are written with (a column the archive
    predates is NULL, as a migration adds it); each month one Spark partition."""
    frames = []
    for record in records:
        columns = [(c.name, c.type) for c in table.columns]
        archive = read_checked(spark, record, columns, "it was not added to the lake")
        absent = [c for c in table.columns if c.name not in archive.columns]
        if any(column.required for column in absent):
            raise ArchiveError(
                f"The archive {record.path} has no column "
                f"{', '.join(c.name for c in absent if c.required)}, which the lake requires."
            )
        frames.append(
            archive.select(
                *(
                    F.col(c.name)
                    if c.name in archive.columns
                    else F.lit(None).alias(c.name)  # cast below
                    for c in table.columns
                )
            ).coalesce(1)
        )
    return _as_written(spark, reduce(DataFrame.unionByName, frames), written_schema(table))


def _as_written(spark: SparkSession, frame: DataFrame, schema: T.StructType) -> DataFrame:
    """``frame`` cast to ``schema``, with its nullability: a JDBC read marks every column
    nullable, and a required Iceberg column must be required in the file. The columns are
    NOT NULL in PostgreSQL, so no value is null; the frame is rebuilt in the JVM (no Python)."""
    cast = frame.select(*(F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields))
    jspark = spark._jsparkSession
    rebuilt = jspark.createDataFrame(cast._jdf.rdd(), jspark.parseDataType(schema.json()))
    return DataFrame(rebuilt, spark)


def write_files(frame: DataFrame, table: LakeTable, folder: Path) -> list[str]:
    """Write ``frame`` as Parquet under ``folder`` (which must not exist: files of an earlier
    snapshot are never overwritten), one file per range of a partitioned table; return the
    files' URIs, in name order."""
    parts = table.partitioning
    if parts is None:
        frame.write.parquet(file_uri(folder))
    else:
        field = table.partition_field or ""
        starts = F.date_format(F.date_trunc(parts.interval, F.col(parts.range)), "yyyy-MM-dd")
        # read_table and read_archives give each range one Spark partition: a file per range,
        # no shuffle
        frame.withColumn(field, starts).write.partitionBy(field).parquet(file_uri(folder))
    return [file_uri(path) for path in sorted(folder.rglob("part-*.parquet"))]
