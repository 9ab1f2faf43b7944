"""The lake brought back to what PostgreSQL holds when the two disagree (a lake write that
never ran, files lost or edited by hand, a table dropped from the catalog): each table compared
range by range (month by month for cart) by row count and the content checksum retention
verifies archives with, and only what differs written again, one snapshot per table.

Months retention archived have left PostgreSQL but stay in the lake, which keeps the full
history: they are not compared and never rewritten; one the lake lacks (archived before the
lake was set up) is added from its archive, checked against the archive's record."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg2 import sql
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_etl.db import lake_pending
from spark_etl.db.archives import Record
from spark_etl.db.checksums import Checksum, pg_checksum_query, unsupported_types
from spark_etl.io.checksums import spark_checksum, spark_checksums
from spark_etl.lake.files import written_schema
from spark_etl.lake.schema import LakeTable
from spark_etl.lake.write import (
    LakeRun,
    Written,
    archives_of,
    create_table,
    evolve,
    lake_catalog,
    rewrite,
)

log = logging.getLogger(__name__)

WHOLE = date.min  # the key of an unpartitioned table's one "range"


@dataclass(frozen=True)
class Compared:
    """One table of PostgreSQL against the lake."""

    table: str
    rows: int  # rows PostgreSQL holds
    differing: tuple[date, ...] | None  # ranges written again; None: the whole table
    written: Written | None = None
    created: bool = False  # the lake did not have the table: created and written whole
    from_archives: tuple[date, ...] = ()  # archived months the lake lacked, added

    @property
    def in_step(self) -> bool:
        return self.differing == () and not self.from_archives


def _columns(spec: LakeTable) -> list[tuple[str, str]]:
    """The columns both sides hash: floating point ones are left out (their text forms
    differ between PostgreSQL and Spark)."""
    columns = [(column.name, column.type) for column in spec.columns]
    floats = set(unsupported_types(columns))
    if floats:
        log.warning("Lake table %s: %s compared by count only", spec.name, ", ".join(floats))
    return [column for column in columns if column[0] not in floats]


def pg_ranges(cur: Any, spec: LakeTable) -> dict[date, Checksum]:
    """PostgreSQL's checksum of each range of the table (one entry, ``WHOLE``, if it is not
    partitioned by time)."""
    source = sql.Identifier(spec.name)
    parts = spec.partitioning
    group = (
        sql.SQL("CAST({} AS date)").format(sql.Literal(WHOLE))
        if parts is None
        else sql.SQL("CAST(date_trunc({}, {}) AS date)").format(
            sql.Literal(parts.interval), sql.Identifier(parts.range)
        )
    )
    cur.execute(pg_checksum_query(_columns(spec), source, group))
    return {row["grouped"]: Checksum(int(row["rows"]), row["total"]) for row in cur.fetchall()}


def lake_ranges(spark: SparkSession, table: Table, spec: LakeTable) -> dict[date, Checksum]:
    """The same checksums over the files of the lake table's current snapshot, read by the
    executors."""
    files = [task.file.file_path for task in table.scan().plan_files()]
    if not files:
        return {}
    # the files' own types; a column added after a file was written is NULL in it
    frame = spark.read.schema(written_schema(spec)).parquet(*files)
    parts = spec.partitioning
    if parts is None:
        whole = spark_checksum(frame, _columns(spec))
        return {WHOLE: whole} if whole.rows else {}
    group = F.to_date(F.date_trunc(parts.interval, F.col(parts.range)))
    return spark_checksums(frame, _columns(spec), group)


def differing(
    held: Mapping[date, Checksum], kept: Mapping[date, Checksum], archived: Collection[date]
) -> tuple[date, ...]:
    """The ranges whose rows differ: PostgreSQL's ranges the lake holds otherwise (or not at
    all), and the lake's ranges PostgreSQL does not hold and retention did not archive."""
    changed = {start for start, checksum in held.items() if kept.get(start) != checksum}
    stray = {start for start in kept if start not in held and start not in archived}
    return tuple(sorted(changed | stray))


def sync_tables(run: LakeRun, tables: tuple[LakeTable, ...]) -> list[Compared]:
    """Compare each of ``tables`` with PostgreSQL and write again what differs (the caller
    holds the load lock); nothing of them is pending for the lake afterwards."""
    done = []
    with lake_catalog(run.connection, run.db, run.lake) as catalog:
        for spec in tables:
            done.append(_sync(run, catalog, spec, archives_of(run.conn, spec)))
            with run.conn.cursor() as cur:
                lake_pending.clear(cur, spec.name)
            run.conn.commit()
    return done


def _sync(
    run: LakeRun, catalog: SqlCatalog, spec: LakeTable, archived: Mapping[date, Record]
) -> Compared:
    with run.conn.cursor() as cur:
        held = pg_ranges(cur, spec)
    run.conn.commit()
    rows = sum(checksum.rows for checksum in held.values())
    starts: tuple[date, ...] | None
    name = (run.lake.namespace, spec.name)
    created = not catalog.table_exists(name)
    kept: dict[date, Checksum] = {}
    if not created:
        table = catalog.load_table(name)
        evolve(table, spec)
        kept = lake_ranges(run.spark, table, spec)
        starts = differing(held, kept, archived)
        if spec.partitioning is None and starts:
            starts = None  # an unpartitioned table is written whole
    else:
        table, starts = create_table(catalog, run.lake, spec), None
    lacked = tuple(month for month in archived if month not in kept)
    if starts == () and not lacked:
        log.info("Lake table %s holds what PostgreSQL holds (%d rows)", spec.name, rows)
        return Compared(spec.name, rows, ())
    written = rewrite(run, table, spec, starts, [archived[month] for month in lacked])
    return Compared(spec.name, rows, starts, written, created, lacked)
