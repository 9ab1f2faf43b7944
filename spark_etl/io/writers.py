"""Writers: DataFrames into PostgreSQL staging tables. They never transform rows.

Two ways in, chosen by ``database.stage_writer``:

- ``copy`` (the default, the fastest): every write partition streams its rows as CSV into
  ``COPY ... FROM STDIN`` over a connection of its own. Rows leave the JVM as Arrow batches and
  pyarrow's C++ writer turns them into CSV, so no row becomes a Python object. Executors need
  Python with pyarrow, pandas and psycopg2 (the project's dependencies).
- ``jdbc``: Spark's JDBC writer, batched inserts rewritten into multi-row statements. It needs
  nothing but the JDBC jar on the executors.

A staging write keeps one task attempt per partition (``spark_etl.db.attempts``): a task that
Spark runs twice (an executor lost after the task committed, speculation) stages its rows once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame

from spark_etl.config import Connection, DatabaseSettings
from spark_etl.db import attempts, postgres
from spark_etl.db.postgres import quoted
from spark_etl.errors import AccountingError

if TYPE_CHECKING:
    # pyarrow ships no type information (no py.typed, no stubs installed)
    import pyarrow  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

# what each COPY task returns to the driver: an attempts.Attempt
RESULT = "partition long, attempt long, number long, rows long"


def write_stage(
    frame: DataFrame,
    table: str,
    connection: Connection,
    settings: DatabaseSettings,
    *,
    attempts_column: bool = True,
) -> None:
    """Append ``frame`` to an existing (emptied) staging table.

    The staging tables are created by ``sql/schema.sql`` and the migrations; Spark only
    inserts, so it never recreates a table or loses its definition. ``attempts_column``: the
    table has ``attempts.ATTEMPT_COLUMN``, and rows of a task attempt Spark did not count are
    taken out (False: a table checked otherwise, such as a restored month and its checksum).
    """
    log.debug("Staging into %s.%s with %s", settings.db_schema, table, settings.stage_writer)
    if settings.stage_writer == "copy":
        copy_stage(frame, table, connection, settings, attempts_column=attempts_column)
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
    frame: DataFrame,
    table: str,
    connection: Connection,
    settings: DatabaseSettings,
    *,
    attempts_column: bool = True,
) -> int:
    """COPY ``frame`` into ``table`` from ``write_partitions`` parallel connections; return the
    rows staged.

    Each partition commits on its own, like the JDBC writer: the staging table is emptied
    before every run and the merge checks the staged count against the rows read. The rows
    of every task attempt that Spark did not count (its result is the one the ``collect``
    below returns for the partition) are deleted before this returns.
    """
    if frame.rdd.getNumPartitions() > settings.write_partitions:
        frame = frame.coalesce(settings.write_partitions)
    conn = postgres.open_model(connection, settings)
    try:
        write_id = attempts.begin(conn, table)
        copy = copy_partition(connection, settings, table, frame.columns, write_id, attempts_column)
        counted = [
            attempts.Attempt(**row.asDict()) for row in frame.mapInArrow(copy, RESULT).collect()
        ]
        return attempts.settle(conn, table, write_id, counted, attempts_column).rows
    finally:
        conn.close()


def copy_partition(
    connection: Connection,
    settings: DatabaseSettings,
    table: str,
    columns: Sequence[str],
    write_id: str,
    attempts_column: bool = True,
) -> Callable[[Iterable[pyarrow.RecordBatch]], Iterator[pyarrow.RecordBatch]]:
    """The function each write partition runs on its executor (see ``copy_stage``): its rows
    and its record in ``stage_attempt`` commit together, if the write is still open."""

    def copy(batches: Iterable[pyarrow.RecordBatch]) -> Iterator[pyarrow.RecordBatch]:
        import pyarrow
        from psycopg2 import sql
        from pyspark import TaskContext

        task = TaskContext.get()
        assert task is not None  # set in every Spark task
        attempt = task.taskAttemptId()
        names = [*columns, attempts.ATTEMPT_COLUMN] if attempts_column else list(columns)
        chunks = (
            csv_bytes(batch, attempt if attempts_column else None)
            for batch in batches
            if batch.num_rows
        )
        conn = postgres.open_model(connection, settings)
        try:
            with conn.cursor() as cur:
                if not attempts.admit(cur, table, write_id):
                    raise AccountingError(
                        f"{table}: task attempt {attempt} started after its write was settled"
                    )
                statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names))
                )
                cur.copy_expert(statement.as_string(cur), ChunkReader(chunks))
                done = attempts.Attempt(
                    task.partitionId(), attempt, task.attemptNumber(), cur.rowcount
                )
                attempts.record(cur, write_id, done)
            conn.commit()
        finally:
            conn.close()
        yield pyarrow.RecordBatch.from_pylist([vars(done)])

    return copy


class ChunkReader:
    """The file-like object ``copy_expert`` reads from: one CSV chunk per ``read``."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def read(self, size: int = -1) -> bytes:  # psycopg2 sends whatever length comes back
        return next(self._chunks, b"")


def csv_bytes(batch: pyarrow.RecordBatch, attempt: int | None = None) -> bytes:
    """A batch as PostgreSQL CSV: NULL unquoted and empty, empty text as ``""``, timestamps
    as UTC wall-clock time (the model's ``timestamp`` columns are UTC); ``attempt``: a last
    column of that value in every row."""
    import numpy
    import pyarrow
    import pyarrow.csv  # type: ignore[import-untyped]

    columns = [
        column.cast(pyarrow.timestamp("us"))
        if pyarrow.types.is_timestamp(column.type) and column.type.tz is not None
        else column
        for column in batch.columns
    ]
    names = batch.schema.names
    if attempt is not None:
        columns.append(pyarrow.array(numpy.full(batch.num_rows, attempt, dtype=numpy.int64)))
        names = [*names, attempts.ATTEMPT_COLUMN]
    sink = pyarrow.BufferOutputStream()
    pyarrow.csv.write_csv(
        pyarrow.RecordBatch.from_arrays(columns, names=names),
        sink,
        pyarrow.csv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    return sink.getvalue().to_pybytes()
