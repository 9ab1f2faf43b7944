"""Readers: source files (CSV, JSON Lines, Parquet) and model tables, as DataFrames.

Every source comes out with the same shape whatever its format: the contract columns as text,
the malformed-record column, and lineage columns (file, read order) used to break ties.
Readers never transform values.
"""

from __future__ import annotations

import codecs
import csv
import logging
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_etl.config import Connection, DatabaseSettings, InputSettings
from spark_etl.db import postgres
from spark_etl.db.postgres import quoted
from spark_etl.errors import InputError
from spark_etl.transforms.source import (
    CORRUPT_RECORD,
    SOURCE_BLOCK,
    SOURCE_FILE,
    SOURCE_ORDER,
    SourceSpec,
)

log = logging.getLogger(__name__)

EXTENSIONS = {"csv": ("csv",), "jsonl": ("jsonl", "ndjson", "json"), "parquet": ("parquet",)}
UTF8_BOM = "\ufeff"
ENCODING_SAMPLE_BYTES = 1 << 20


def _exists(spark: SparkSession, path: str) -> bool:
    """Ask Hadoop's file system, so local paths, HDFS and object stores all work."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # set once the session has started
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return bool(fs.exists(hadoop_path))


def resolve_source(
    spark: SparkSession, input_dir: str, spec: SourceSpec, file_format: str
) -> tuple[str, str]:
    """Find ``<stem>.<ext>`` in ``input_dir``; return its path and format."""
    if not _exists(spark, input_dir):
        raise InputError(f"Input directory {input_dir} does not exist; pass --input-dir DIR.")
    allowed = {name: EXTENSIONS[name] for name in spec.formats}
    if file_format != "auto" and file_format not in allowed:
        raise InputError(
            f"The {spec.entity} extract is read as {' or '.join(spec.formats)} (source.formats "
            f"of its definition), not {file_format}; set input.format to one of them or auto."
        )
    formats = allowed if file_format == "auto" else {file_format: allowed[file_format]}
    found = [
        (f"{input_dir.rstrip('/')}/{spec.file_stem}.{ext}", fmt)
        for fmt, extensions in formats.items()
        for ext in extensions
        if _exists(spark, f"{input_dir.rstrip('/')}/{spec.file_stem}.{ext}")
    ]
    if not found:
        wanted = " or ".join(f"{spec.file_stem}.{ext}" for exts in formats.values() for ext in exts)
        raise InputError(f"No {wanted} in {input_dir}; put the {spec.entity} extract there.")
    if len(found) > 1:
        names = ", ".join(path for path, _ in found)
        raise InputError(
            f"Several {spec.entity} extracts in {input_dir} ({names}); "
            "keep one or set input.format."
        )
    return found[0]


def _local_files(path: str) -> list[Path]:
    """The files behind a local path (a file, or the part files of a Spark output folder)."""
    parsed = urlparse(path)
    if parsed.scheme not in ("", "file"):
        return []
    local = Path(parsed.path if parsed.scheme else path)
    if local.is_dir():
        return sorted(
            p for p in local.iterdir() if p.is_file() and not p.name.startswith((".", "_"))
        )
    return [local] if local.is_file() else []


def check_utf8(path: str) -> None:
    """Refuse a local text extract whose first MiB is not UTF-8, with the offending byte.

    Spark would decode it silently with replacement characters; rows further into a file are
    still caught one by one by the ``not valid UTF-8`` rule.
    """
    for file in _local_files(path):
        with file.open("rb") as handle:
            sample = handle.read(ENCODING_SAMPLE_BYTES)
        try:
            codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{file} is not UTF-8 (byte 0x{sample[exc.start]:02x} at offset {exc.start}); "
                "convert it, for example: iconv -f latin1 -t utf-8 IN > OUT."
            ) from None


def _check_columns(path: str, spec: SourceSpec, columns: list[str]) -> None:
    if not columns:
        raise InputError(f"{path} is empty; it needs a header row: {','.join(spec.columns)}.")
    missing = [name for name in spec.columns if name not in columns]
    unknown = [name for name in columns if name not in spec.columns]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"lacks column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"has unknown column(s) {', '.join(unknown)}")
        raise InputError(
            f"{path} {' and '.join(parts)}; expected the header {','.join(spec.columns)}."
        )


COMPRESSED = (".gz", ".bz2", ".deflate", ".snappy", ".lz4", ".zst", ".zstd", ".br")


def local_csv_header(path: str, spec: SourceSpec) -> list[str] | None:
    """The header of a local CSV extract read here, as Spark would read it: without a Spark
    job, which on a small increment is seconds of the run (the JVM's first job). None when
    Spark must read it: a remote or compressed file, files whose headers differ, or a header
    Spark would rename (an empty or repeated name)."""
    headers = []
    for file in _local_files(path):
        if file.name.lower().endswith(COMPRESSED):
            return None
        try:
            # (Spark drops a UTF-8 byte-order mark: utf-8-sig does)
            utf8 = codecs.lookup(spec.encoding).name == "utf-8"
            with file.open(encoding="utf-8-sig" if utf8 else spec.encoding, newline="") as handle:
                record = next(csv.reader(handle, delimiter=spec.delimiter, quotechar='"'), [])
        except (
            LookupError,
            UnicodeDecodeError,
            TypeError,
            csv.Error,
        ):  # (TypeError: a delimiter of several characters)
            return None
        headers.append(record)
    if not headers or any(header != headers[0] for header in headers):
        return None
    folded = [name.lower() for name in headers[0]]
    if "" in folded or len(set(folded)) < len(folded):
        return None
    return headers[0]


def _read_csv(spark: SparkSession, path: str, spec: SourceSpec, multiline: bool) -> DataFrame:
    reader = (
        spark.read.option("header", True)
        .option("encoding", spec.encoding)
        .option("sep", spec.delimiter)
        .option("quote", '"')
        .option("escape", '"')  # RFC 4180: a quote inside a quoted field is doubled
        .option("multiLine", multiline)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
    )
    names = local_csv_header(path, spec)
    if names is None:  # not local, compressed, or a header Spark would rename: Spark reads it
        names = reader.csv(path).columns
    header = [name.lstrip(UTF8_BOM).strip() for name in names]
    if not spec.mapped:
        _check_columns(path, spec, header)
    elif not header:
        raise InputError(f"{path} is empty; it needs a header row.")
    # CSV maps schema fields by position, so the schema follows the file's header order.
    schema = spec.raw_schema_in_order(header).add(CORRUPT_RECORD, "string")
    return reader.schema(schema).csv(path)


def _read_jsonl(spark: SparkSession, path: str, spec: SourceSpec) -> DataFrame:
    schema = spec.raw_schema.add(CORRUPT_RECORD, "string")
    return (
        spark.read.schema(schema)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        .json(path)
    )


def _read_parquet(spark: SparkSession, path: str, spec: SourceSpec) -> DataFrame:
    frame = spark.read.parquet(path)
    if spec.mapped:  # the template's expressions see the file's own types
        return frame.withColumn(CORRUPT_RECORD, F.lit(None).cast("string"))
    _check_columns(path, spec, frame.columns)
    # Parquet carries its own types; render them as text so every format is validated alike.
    return frame.select(
        *[F.col(name).cast("string").alias(name) for name in spec.columns],
        F.lit(None).cast("string").alias(CORRUPT_RECORD),
    )


def read_source(
    spark: SparkSession, input_dir: str, spec: SourceSpec, settings: InputSettings
) -> DataFrame:
    """Read one entity's extract as text columns plus lineage columns."""
    path, file_format = resolve_source(spark, input_dir, spec, spec.file_format or settings.format)
    log.info("Reading %s as %s", path, file_format)
    utf8 = codecs.lookup(spec.encoding).name == "utf-8"
    if file_format == "csv":
        if utf8:
            check_utf8(path)
        frame = _read_csv(spark, path, spec, settings.csv_multiline)
    elif file_format == "jsonl":
        if spec.mapped:
            raise InputError(
                f"{path}: a mapping template reads CSV or Parquet files; JSON Lines cannot be "
                f"mapped in this version ({spec.template}). Convert the file, or give its "
                "fields the entity's names and load it without the template."
            )
        check_utf8(path)
        frame = _read_jsonl(spark, path, spec)
    else:
        frame = _read_parquet(spark, path, spec)
    columns = mapped_columns(frame, path, spec) if spec.mapped else list(map(F.col, spec.columns))
    return frame.select(
        *columns,
        CORRUPT_RECORD,
        F.input_file_name().alias(SOURCE_FILE),
        # Read order: the split's offset in the file, then an id Spark promises to grow with
        # each row a task reads. Used to pick "the last line" and number rejects; never a key.
        F.expr("input_file_block_start()").alias(SOURCE_BLOCK),
        F.monotonically_increasing_id().alias(SOURCE_ORDER),
    )


def mapped_columns(frame: DataFrame, path: str, spec: SourceSpec) -> list[Column]:
    """The contract's columns as a mapping template takes them from another layout, as text.

    Every column and expression is resolved against the file's header (or Parquet schema)
    before any row is read: a name that is not there or an expression that does not parse stops
    the job naming the template, the key and the problem.
    """
    columns = []
    for name, kind, text in spec.mapped:
        key = f"entities.{spec.entity}.columns.{name}"
        try:
            value = F.col(text) if kind == "column" else F.expr(text)
            frame.select(value)  # analysed now: an unknown column fails here, not mid-read
        except (AnalysisException, ParseException) as exc:
            file_columns = ", ".join(c for c in frame.columns if c != CORRUPT_RECORD)
            if kind == "column":
                problem = f"{path} has no column `{text}` (it has: {file_columns})"
            else:  # Spark's own first sentence: the syntax error or the unresolved name
                first = str(exc).strip().splitlines()[0].split("; line ")[0].rstrip(".;")
                problem = first.replace(".(line ", " (line ")
                problem += f" ({path} has: {file_columns})"
            raise InputError(
                f"Mapping template {spec.template}, key '{key}' ({kind} {text!r}): {problem}."
            ) from None
        columns.append(value.cast("string").alias(name))
    return columns


def read_query(
    spark: SparkSession, connection: Connection, settings: DatabaseSettings, query: str
) -> DataFrame:
    """Run a read-only query in PostgreSQL and return its rows as a DataFrame."""
    return spark.read.jdbc(
        connection.jdbc_url,
        f"({query}) AS q",
        properties=connection.jdbc_properties(settings.connect_timeout_seconds),
    )


# A lookup at most this long is broadcast to every task (a hash table of a few hundred MB at
# most); a longer one (tens of millions of customers) is joined by shuffling both sides, so it
# never has to fit in the driver.
BROADCAST_LOOKUP_ROWS = 5_000_000
LOOKUP_ROWS_PER_READ = 1_000_000  # rows per parallel JDBC read of a lookup
FETCH_ROWS = 10_000  # rows per round trip: a read streams instead of holding every row


def read_lookup(
    spark: SparkSession,
    connection: Connection,
    settings: DatabaseSettings,
    table: str,
    columns: Sequence[str],
    *,
    rows_per_read: int = LOOKUP_ROWS_PER_READ,
    broadcast_rows: int = BROADCAST_LOOKUP_ROWS,
) -> DataFrame:
    """Columns of a model table that a load looks values up in (the keys of a referenced
    entity, a history), the first being an integer key.

    Read in parallel slices of the key's range (``rows_per_read`` rows each), streamed;
    marked for broadcast when at most ``broadcast_rows`` long, otherwise left to a shuffled
    join.
    """
    names = ", ".join(quoted(name) for name in columns)
    relation = quoted(settings.db_schema, table)
    size = postgres.key_range(connection, settings, table, columns[0])
    properties = {
        **connection.jdbc_properties(settings.connect_timeout_seconds),
        "fetchsize": str(FETCH_ROWS),
    }
    subquery = f"(SELECT {names} FROM {relation}) AS lookup"
    reads = -(-int(size["n"]) // rows_per_read)
    if reads > 1 and not isinstance(size["low"], int):
        reads = 1  # slices need an integer key's range
    if reads > 1:
        frame = spark.read.jdbc(
            connection.jdbc_url,
            subquery,
            column=columns[0],
            lowerBound=int(size["low"]),
            upperBound=int(size["high"]) + 1,
            numPartitions=reads,
            properties=properties,
        )
    else:
        frame = spark.read.jdbc(connection.jdbc_url, subquery, properties=properties)
    log.debug("Lookup %s: %d rows in %d read(s)", table, size["n"], max(reads, 1))
    return F.broadcast(frame) if size["n"] <= broadcast_rows else frame
