"""Data retention: months of an entity's range-partitioned table that fall out of the window,
and the rejects and flags of old runs, archived to Parquet, verified, then dropped; and the
way back (``restore``).

What every step keeps true: each row is in PostgreSQL or in a verified archive, never in
neither. An archive is verified when Spark has read its files back and their row count and
content checksum (``spark_etl.db.checksums``) equal what PostgreSQL holds; only then, in the one
transaction that has held the rows still since the count, is the archive recorded in
``etl_archive`` and the partition dropped (or the audit rows deleted). A failure or a kill
before that commit leaves the rows where they were; files written by it are overwritten by the
next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg2 import sql
from pyspark.sql import SparkSession

from spark_etl.config import Connection, DatabaseSettings
from spark_etl.db.archives import (
    AUDIT_TABLES,
    Batch,
    month_partitions,
    newest_month,
    old_runs,
    partition_leaves,
    pg_checksum,
    remove_batch,
    restorable,
    table_columns,
)
from spark_etl.db.checksums import Checksum, unsupported_types
from spark_etl.db.partitions import attach_range, create_range_table, partition_name
from spark_etl.definitions import Entity
from spark_etl.errors import ArchiveError, ConfigError
from spark_etl.io import writers
from spark_etl.io.archives import archive_path, read_back, read_checked, read_rows, write_parquet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Archived:
    batch: Batch
    path: str
    checksum: Checksum


def check_entity(entity: Entity) -> None:
    """Retention drops whole months: the entity's table must be range-partitioned by month."""
    parts = entity.table.partitioning
    if parts is None or parts.interval != "month":
        raise ConfigError(
            f"Retention keeps whole months: the {entity.entity} table must be range-partitioned "
            "by month (table.partitioning.interval: month in its definition)."
        )
    floats = unsupported_types([(name, column.type) for name, column in entity.columns.items()])
    if floats:
        raise ConfigError(
            f"Retention cannot verify floating-point columns ({', '.join(floats)}) of "
            f"{entity.entity} byte for byte; declare them numeric(p,s)."
        )


# --- archive ------------------------------------------------------------------------------------


def archive(
    spark: SparkSession,
    conn: Any,
    connection: Connection,
    db: DatabaseSettings,
    batch: Batch,
    archive_dir: str,
    run_id: str,
) -> Archived:
    """Archive one batch in one transaction: hold its rows, count them, write and read back
    the Parquet, compare, record the archive, then drop the month (or delete the audit rows)."""
    path = archive_path(archive_dir, batch.table, batch.period)
    audit = batch.table in AUDIT_TABLES
    with conn.cursor() as cur:
        cur.execute(
            "SELECT path FROM etl_archive WHERE table_name = %s AND period = %s "
            "AND restored_at IS NULL",
            (batch.table, batch.period),
        )
        archived = cur.fetchone()
        if archived:  # its files hold rows that are nowhere else: never overwrite them
            raise ArchiveError(
                f"{batch.label} is already archived at {archived['path']}; nothing changed."
            )
        # writers wait until this transaction ends; readers (Spark's JDBC read) go on
        cur.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(sql.Identifier(batch.source)))
        columns = table_columns(cur, batch.source)
        where = old_runs(batch.period, db.db_schema) if audit else None
        source: sql.Composable = sql.Identifier(batch.source)
        if where is not None:
            source = sql.SQL("{} WHERE {}").format(source, where)
        expected = pg_checksum(cur, columns, source)
        tables = [batch.source] if audit else partition_leaves(cur, batch.source)
        frame = read_rows(spark, connection, db, columns, tables, where, cur)
        write_parquet(frame, path)
        written = read_back(spark, path, columns, frame.schema)
        if written != expected:
            raise ArchiveError(
                f"The archive of {batch.label} read back from {path} does not match PostgreSQL "
                f"({written}, expected {expected}); nothing was dropped."
            )
        cur.execute(
            "INSERT INTO etl_archive (table_name, period, path, row_count, checksum, bytes, "
            "run_id, archived_at) VALUES (%s, %s, %s, %s, %s, %s, %s, "
            "now() AT TIME ZONE 'UTC')",
            (batch.table, batch.period, path, expected.rows, expected.total, batch.bytes, run_id),
        )
        remove_batch(cur, batch, expected.rows, db.db_schema)
    conn.commit()
    log.info("Archived %s: %s to %s", batch.label, expected, path)
    return Archived(batch, path, expected)


# --- restore ------------------------------------------------------------------------------------


def restore(
    spark: SparkSession,
    conn: Any,
    connection: Connection,
    db: DatabaseSettings,
    entity: Entity,
    month: date,
    run_id: str,
) -> Checksum:
    """Bring an archived month back: its partition with hash leaves and indexes, its rows
    checked against the archive's record before the partition is attached."""
    table = entity.table.name
    name = partition_name(table, month)
    with conn.cursor() as cur:
        record = restorable(cur, table, month)
        columns = [(n, c.type) for n, c in entity.columns.items()]
        frame = read_checked(spark, record, columns, "nothing was restored")
        # a table of that name that is not attached: left by a restore that was stopped
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        create_range_table(cur, entity, name)
    conn.commit()  # Spark's writers need to see the table
    try:
        # no attempts column in a month's table: its checksum below proves its rows
        writers.write_stage(frame, name, connection, db, attempts_column=False)
        with conn.cursor() as cur:
            loaded = pg_checksum(cur, columns, sql.Identifier(name))
            if loaded != record.checksum:
                raise ArchiveError(
                    f"Month {month:%Y-%m} restored into PostgreSQL holds {loaded}, not the "
                    f"archive's {record.checksum}; nothing was restored."
                )
            newest = newest_month(cur, entity)
            attach_range(cur, entity, name, month)
            cur.execute(
                "UPDATE etl_archive SET restored_at = now() AT TIME ZONE 'UTC', "
                "restore_run_id = %s, restored_newest = %s WHERE archive_id = %s",
                (run_id, max(newest or month, month), record.archive_id),
            )
        conn.commit()
    except BaseException:
        conn.rollback()
        with conn.cursor() as cur:
            if month not in month_partitions(cur, table):  # never attached: take it away
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.commit()
        raise
    log.info("Restored %s %s: %s from %s", table, f"{month:%Y-%m}", loaded, record.path)
    return loaded
