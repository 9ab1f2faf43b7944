"""Writers: DataFrames into PostgreSQL staging tables. They never transform rows.

Two ways in, chosen by ``database.stage_writer``:

- ``copy`` (the default, the fastest): every write partition streams its rows as CSV into
  ``COPY ... FROM STDIN`` over a connection of its own. Rows leave the JVM as Arrow batches and
  pyarrow's C++ writer turns them into CSV, so no row becomes a Python object. Executors need
  Python with pyarrow, pandas and psycopg2 (the project's dependencies).
- ``jdbc``: Spark's JDBC writer, batched inserts rewritten into multi-row statements. It needs
  nothing but the JDBC jar on the executors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame

from spark_etl.config import Connection, DatabaseSettings
from spark_etl.db import postgres
from spark_etl.db.postgres import quoted

if TYPE_CHECKING:
    # pyarrow ships no type information (no py.typed, no stubs installed)
    import pyarrow  # type: ignore[import-untyped]

log = logging.getLogger(__name__)


def write_stage(
    frame: DataFrame, table: str, connection: Connection, settings: DatabaseSettings
) -> None:
    """Append ``frame`` to an existing (emptied) staging table.

    The staging tables are created by ``sql/schema.sql``; Spark only inserts, so it never
    recreates a table or loses its definition.
    """
    log.debug("Staging into %s.%s with %s", settings.db_schema, table, settings.stage_writer)
    if settings.stage_writer == "copy":
        copy_stage(frame, table, connection, settings)
    else:
        jdbc_stage(frame, table, connection, settings)


def jdbc_stage(
    frame: DataFrame, table: str, connection: Connection, settings: DatabaseSettings
) -> None:
    properties = {
        **connection.jdbc_properties(settings.connect_timeout_seconds),
        "batchsize": str(settings.batch_size),
        "reWriteBatchedInserts": "true",
        "numPartitions": str(settings.write_partitions),
    }
    target = quoted(settings.db_schema, table)
    frame.write.jdbc(connection.jdbc_url, target, mode="append", properties=properties)


def copy_stage(
    frame: DataFrame, table: str, connection: Connection, settings: DatabaseSettings
) -> int:
    """COPY ``frame`` into ``table`` from ``write_partitions`` parallel connections; return the
    rows written.

    Each partition commits on its own, like the JDBC writer: the staging table is emptied
    before every run and the merge checks the staged count against the rows read.
    """
    if frame.rdd.getNumPartitions() > settings.write_partitions:
        frame = frame.coalesce(settings.write_partitions)
    copy = copy_partition(connection, settings, table, frame.columns)
    return sum(row["rows"] for row in frame.mapInArrow(copy, "rows long").collect())


def copy_partition(
    connection: Connection, settings: DatabaseSettings, table: str, columns: Sequence[str]
) -> Callable[[Iterable[pyarrow.RecordBatch]], Iterator[pyarrow.RecordBatch]]:
    """The function each write partition runs on its executor (see ``copy_stage``)."""

    def copy(batches: Iterable[pyarrow.RecordBatch]) -> Iterator[pyarrow.RecordBatch]:
        import pyarrow
        from psycopg2 import sql

        written = 0

        def csv_chunks() -> Iterator[bytes]:
            nonlocal written
            for batch in batches:
                if batch.num_rows:
                    written += batch.num_rows
                    yield csv_bytes(batch)

        conn = postgres.open_model(connection, settings)
        try:
            with conn.cursor() as cur:
                statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                )
                cur.copy_expert(statement.as_string(cur), ChunkReader(csv_chunks()))
            conn.commit()
        finally:
            conn.close()
        yield pyarrow.RecordBatch.from_pydict({"rows": [written]})

    return copy


class ChunkReader:
    """The file-like object ``copy_expert`` reads from: one CSV chunk per ``read``."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def read(self, size: int = -1) -> bytes:  # psycopg2 sends whatever length comes back
        return next(self._chunks, b"")


def csv_bytes(batch: pyarrow.RecordBatch) -> bytes:
    """A batch as PostgreSQL CSV: NULL unquoted and empty, empty text as ``""``, timestamps
    as UTC wall-clock time (the model's ``timestamp`` columns are UTC)."""
    import pyarrow
    import pyarrow.csv  # type: ignore[import-untyped]

    columns = [
        column.cast(pyarrow.timestamp("us"))
        if pyarrow.types.is_timestamp(column.type) and column.type.tz is not None
        else column
        for column in batch.columns
    ]
    sink = pyarrow.BufferOutputStream()
    pyarrow.csv.write_csv(
        pyarrow.RecordBatch.from_arrays(columns, names=batch.schema.names),
        sink,
        pyarrow.csv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    return sink.getvalue().to_pybytes()
