"""The lake's data files: the rows PostgreSQL holds, read in parallel by Spark and written as
Parquet whose columns are the Iceberg table's (timestamps without zone, decimals with their
precision, required columns required), one range of the partitioning per file."""

from __future__ import annotations

from datetime import date
from functools import reduce
from pathlib import Path
from typing import Any

from psycopg2 import sql
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_etl.config import Connection, DatabaseSettings
from spark_etl.db.partitions import next_start
from spark_etl.db.postgres import quoted
from spark_etl.io import readers
from spark_etl.lake.schema import LakeTable
from spark_etl.lake.warehouse import file_uri
from spark_etl.transforms.rules import spark_type

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


def _in_range(column: str, start: date, interval: str) -> sql.Composable:
    """``column`` falls in the range (day, month, year) beginning at ``start``."""
    return sql.SQL("{} >= {} AND {} < {}").format(
        sql.Identifier(column),
        sql.Literal(start),
        sql.Identifier(column),
        sql.Literal(next_start(start, interval)),
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
    the ranges beginning at ``starts`` (one read each, in parallel), or (None) every row, read
    in parallel slices of the key's range like a lookup."""
    names = table.column_names
    if starts is None:
        key = table.identifier[0]
        ordered = (key, *(name for name in names if name != key))  # the slices' key first
        frame = readers.read_lookup(spark, connection, db, table.name, ordered)
        return _as_written(spark, frame, written_schema(table))
    parts = table.partitioning
    assert parts is not None and starts
    selected = ", ".join(quoted(name) for name in names)
    relation = quoted(db.db_schema, table.name)
    frames = [
        readers.read_query(
            spark,
            connection,
            db,
            f"SELECT {selected} FROM {relation} "
            f"WHERE {_in_range(parts.range, start, parts.interval).as_string(cur)}",
        )
        for start in starts
    ]
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
        (
            frame.withColumn(field, starts)
            .repartition(field)
            .write.partitionBy(field)
            .parquet(file_uri(folder))
        )
    return [file_uri(path) for path in sorted(folder.rglob("part-*.parquet"))]
