"""Parquet archives through Spark: where an archive goes, the rows read from PostgreSQL in
parallel, written, and read back for their checksum."""

from __future__ import annotations

from datetime import date
from functools import reduce
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from psycopg2 import sql
from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_etl.config import Connection, DatabaseSettings
from spark_etl.db.archives import AUDIT_TABLES, Record
from spark_etl.db.checksums import Checksum
from spark_etl.db.postgres import quoted
from spark_etl.errors import ArchiveError, cause_line
from spark_etl.io import readers
from spark_etl.io.checksums import spark_checksum
from spark_etl.io.folders import writable_folder
from spark_etl.transforms.rules import spark_type


def archive_path(archive_dir: str, table: str, period: date) -> str:
    folder = archive_dir.rstrip("/")
    if table in AUDIT_TABLES:
        return f"{folder}/{table}/before={period:%Y-%m-%d}"
    return f"{folder}/{table}/month={period:%Y-%m}"


def local_archive_dir(archive_dir: str) -> str:
    """An absolute archive folder, created when it is local; refuse one that is not writable."""
    parsed = urlparse(archive_dir)
    if parsed.scheme not in ("", "file"):
        return archive_dir  # hdfs://, s3a://: Spark reports what goes wrong there
    folder = Path(parsed.path if parsed.scheme else archive_dir).resolve()
    advice = "set retention.archive_dir to a folder Spark can write."
    return str(writable_folder(folder, "Archive folder", advice, ArchiveError))


def _typed(frame: DataFrame, columns: list[tuple[str, str]]) -> DataFrame:
    """The model's Spark types (decimals stay decimals, timestamps UTC); other PostgreSQL
    types (uuid, jsonb, arrays) as the JDBC driver gives them."""
    selected = []
    for name, pg_type in columns:
        try:
            selected.append(F.col(name).cast(spark_type(pg_type)).alias(name))
        except KeyError:
            selected.append(F.col(name))
    return frame.select(*selected)


def read_rows(
    spark: SparkSession,
    connection: Connection,
    db: DatabaseSettings,
    columns: list[tuple[str, str]],
    tables: list[str],
    where: sql.Composable | None,
    cur: Any,
) -> DataFrame:
    """The rows of ``tables`` (the leaves of a partition: read in parallel) as one frame."""
    names = ", ".join(quoted(name) for name, _ in columns)
    condition = f" WHERE {where.as_string(cur)}" if where is not None else ""
    frames = [
        readers.read_query(
            spark, connection, db, f"SELECT {names} FROM {quoted(db.db_schema, t)}{condition}"
        )
        for t in tables
    ]
    return _typed(reduce(DataFrame.unionByName, frames), columns)


def write_parquet(frame: DataFrame, path: str) -> None:
    """Write ``frame`` as Parquet at ``path``, replacing what an unfinished run left there."""
    try:
        frame.write.mode("overwrite").parquet(path)
    except (Py4JJavaError, PySparkException) as exc:
        raise ArchiveError(f"Cannot write the archive {path} ({cause_line(exc)}).") from exc


def read_back(
    spark: SparkSession, path: str, columns: list[tuple[str, str]], schema: T.StructType
) -> Checksum:
    """The checksum of what reading the written files back gives, in the schema written."""
    try:
        written = spark.read.parquet(path)
    except (Py4JJavaError, PySparkException) as exc:
        raise ArchiveError(f"Cannot read the archive {path} back ({cause_line(exc)}).") from exc
    wanted = [(field.name, field.dataType) for field in schema.fields]
    found = [(field.name, field.dataType) for field in written.schema.fields]
    if found != wanted:
        raise ArchiveError(f"The archive {path} read back has columns {found}, not {wanted}.")
    return spark_checksum(written, columns)


def read_checked(
    spark: SparkSession, record: Record, columns: list[tuple[str, str]], otherwise: str
) -> DataFrame:
    """The archive of ``record``: its ``columns`` of them it holds (a column added since it was
    written is left out), checked against the row count and checksum recorded when it was
    written; an ArchiveError ending in ``otherwise`` (what was not done) if it differs."""
    try:
        archive = spark.read.parquet(record.path)
    except (Py4JJavaError, PySparkException) as exc:
        raise ArchiveError(f"Cannot read the archive {record.path} ({cause_line(exc)}).") from exc
    held = [(name, pg_type) for name, pg_type in columns if name in archive.columns]
    frame = archive.select(*(name for name, _ in held))
    found = spark_checksum(frame, held)
    if found != record.checksum:
        raise ArchiveError(
            f"The archive {record.path} holds {found}, not the {record.checksum} recorded "
            f"when it was written; {otherwise}."
        )
    return frame
