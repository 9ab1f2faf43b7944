"""After a load commits to PostgreSQL: the lake's tables of its entity made to hold what
PostgreSQL holds, each changed table in one Iceberg snapshot (an overwrite deleting the files
of the ranges changed and adding their rows as PostgreSQL now holds them), tagged with the run
id. What to write is what ``etl_lake_pending`` lists (the load's own changes, recorded with its
commit, and those of earlier runs whose lake write failed or was killed); a table's pending
rows are cleared once its snapshot commits. Ranges nothing changed keep their files."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import reduce
from typing import Any

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table, TableProperties
from pyspark.sql import DataFrame, SparkSession

from spark_etl.config import Connection, DatabaseSettings, LakeSettings
from spark_etl.db import archives, lake_pending
from spark_etl.db.archives import Record
from spark_etl.lake.catalog import open_catalog
from spark_etl.lake.files import read_archives, read_table, write_files
from spark_etl.lake.schema import LakeTable
from spark_etl.lake.warehouse import table_location, warehouse_folder

log = logging.getLogger(__name__)

RUN_PROPERTY = "etl_run"  # the snapshot summary's property naming the etl_run row


@dataclass(frozen=True)
class Written:
    table: str
    snapshot_id: int
    added: int  # data files
    deleted: int
    rows: int  # rows in the files added


@dataclass(frozen=True)
class LakeRun:
    """What writing the lake takes: Spark, the run's connection to the model (its session
    holds the load lock), how the executors reach PostgreSQL, the settings, and the run that
    writes (named by every snapshot it commits)."""

    spark: SparkSession
    conn: Any
    connection: Connection
    db: DatabaseSettings
    lake: LakeSettings
    run_id: str


@contextmanager
def lake_catalog(
    connection: Connection, db: DatabaseSettings, lake: LakeSettings
) -> Iterator[SqlCatalog]:
    """The catalog, its connections closed when the block ends."""
    catalog = open_catalog(connection, db, lake)
    try:
        yield catalog
    finally:
        catalog.engine.dispose()


def write_tables(run: LakeRun, tables: tuple[LakeTable, ...]) -> list[Written]:
    """Bring the lake's ``tables`` (an entity's, ``lake_tables``) up to what PostgreSQL holds:
    the ranges pending for each (the caller holds the load lock, so no other load changes
    them meanwhile). A table the lake does not have yet is created and written whole, with
    the months retention archived before (from their archives: the lake is the full
    history)."""
    conn, lake = run.conn, run.lake
    with conn.cursor() as cur:
        pending = lake_pending.pending(cur, [spec.name for spec in tables])
    conn.commit()
    written = []
    with lake_catalog(run.connection, run.db, lake) as catalog:
        for spec in tables:
            name = (lake.namespace, spec.name)
            archived: list[Record] = []
            if catalog.table_exists(name):
                if spec.name not in pending:
                    continue
                table = catalog.load_table(name)
                evolve(table, spec)
                starts = pending[spec.name]
            else:
                table, starts = create_table(catalog, lake, spec), None
                archived = list(archives_of(conn, spec).values())
            if starts != () or archived:
                done = rewrite(run, table, spec, starts, archived)
                if done is not None:
                    written.append(done)
            with conn.cursor() as cur:
                lake_pending.clear(cur, spec.name)
            conn.commit()
    return written


def evolve(table: Table, spec: LakeTable) -> list[str]:
    """Bring the Iceberg table's schema to the model's as the migrations change it: a column
    added (optional, as a migration adds it: NULL in the rows already loaded, which is what the
    files written before it give a reader), a NOT NULL dropped; and the name mapping (how
    readers match the columns of Spark's files) to the schema, with the table's other
    properties (``LakeTable.properties``). Returns the schema's changes, in words;
    run before every write, so a change interrupted half-way is finished by the next."""
    current = {field.name: field for field in table.schema().fields}
    added = [field for field in spec.schema().fields if field.name not in current]
    relaxed = [
        field.name
        for field in spec.schema().fields
        if field.name in current and current[field.name].required and not field.required
    ]
    if added or relaxed:
        with table.update_schema() as update:
            for field in added:
                update.add_column(field.name, field.field_type, required=False)
            for name in relaxed:
                update.make_column_optional(name)
    changes = [f"add column {field.name} ({field.field_type})" for field in added]
    changes += [f"allow NULL in {name}" for name in relaxed]
    mapping = table.refresh().schema().name_mapping.model_dump_json()
    wanted = {**spec.properties(), TableProperties.DEFAULT_NAME_MAPPING: mapping}
    stale = {key: value for key, value in wanted.items() if table.properties.get(key) != value}
    if stale:  # a mapping out of date, or a table created before a property was set
        with table.transaction() as tx:
            tx.set_properties(stale)
    if changes:
        log.info("Lake table %s: %s", spec.name, "; ".join(changes))
    return changes


def create_table(catalog: SqlCatalog, lake: LakeSettings, spec: LakeTable) -> Table:
    """The lake's (empty) table of ``spec``: its schema, partitioning and properties."""
    assert lake.warehouse is not None
    return catalog.create_table(
        (lake.namespace, spec.name),
        location=table_location(lake.warehouse, lake.namespace, spec.name),
        schema=spec.schema(),
        partition_spec=spec.partition_spec(),
        properties=spec.properties(),
    )


def archives_of(conn: Any, spec: LakeTable) -> dict[date, Record]:
    """The archives of the table's months retention took out of PostgreSQL (monthly ranges
    only: what retention archives)."""
    parts = spec.partitioning
    if parts is None or parts.interval != "month":
        return {}
    with conn.cursor() as cur:
        records = archives.archived_records(cur, spec.name)
    conn.commit()
    return records


def rewrite(
    run: LakeRun,
    table: Table,
    spec: LakeTable,
    starts: tuple[date, ...] | None,
    archived: Sequence[Record] = (),
) -> Written | None:
    """Write the rows of ``starts`` (None: all) as new files, with the rows of the
    ``archived`` months the table lacks, and commit one snapshot that replaces the table's
    files of those ranges with them."""
    with run.conn.cursor() as cur:
        frames = (
            []
            if starts == ()
            else [read_table(run.spark, cur, run.connection, run.db, spec, starts)]
        )
    run.conn.commit()
    if archived:
        frames.append(read_archives(run.spark, spec, archived))
    # the run's own folder: nothing an earlier snapshot references is overwritten
    folder = warehouse_folder(table.location()) / "data" / run.run_id
    paths = write_files(reduce(DataFrame.unionByName, frames), spec, folder) if frames else []
    new = [parquet_file_to_data_file(table.io, table.metadata, path) for path in paths]
    new = [data_file for data_file in new if data_file.record_count > 0]
    old = [] if starts == () else _current_files(table, spec, starts)
    if not new and not old:
        log.info("Lake table %s: nothing to write", spec.name)
        return None
    with table.transaction() as tx:
        snapshot = tx.update_snapshot(snapshot_properties={RUN_PROPERTY: run.run_id})
        with snapshot.overwrite() as overwrite:
            for data_file in old:
                overwrite.delete_data_file(data_file)
            for data_file in new:
                overwrite.append_data_file(data_file)
    current = table.refresh().current_snapshot()
    assert current is not None
    rows = sum(data_file.record_count for data_file in new)
    log.info(
        "Lake table %s: snapshot %d replaced %d files with %d (%d rows)%s",
        spec.name,
        current.snapshot_id,
        len(old),
        len(new),
        rows,
        (f", ranges {', '.join(map(str, starts))}" if starts else "")
        + (f", {len(archived)} archived months from their archives" if archived else ""),
    )
    return Written(spec.name, current.snapshot_id, len(new), len(old), rows)


def _current_files(
    table: Table, spec: LakeTable, starts: tuple[date, ...] | None
) -> list[DataFile]:
    """The data files of the table's current snapshot holding rows of the ranges beginning at
    ``starts`` (None: every file)."""
    if table.current_snapshot() is None:
        return []
    scan = table.scan() if starts is None else table.scan(row_filter=spec.ranges_filter(starts))
    return [task.file for task in scan.plan_files()]
