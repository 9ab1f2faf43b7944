"""The maintenance jobs (retention, restore, lake sync and expire) as runs like a load: under
the load lock, recorded in ``etl_run`` with the rows they read and wrote, Spark started only
when there is work, and (retention, restore) the analytics views refreshed over what is online
after."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from pyspark.sql import SparkSession

from spark_etl.config import Connection, Settings
from spark_etl.db import archives, postgres
from spark_etl.db.checksums import Checksum
from spark_etl.definitions import Entity, Model
from spark_etl.errors import RefreshError, one_line
from spark_etl.io.archives import local_archive_dir
from spark_etl.runs import lifecycle, retention
from spark_etl.spark.session import lazy_session

if TYPE_CHECKING:
    from spark_etl.lake.expire import Expired
    from spark_etl.lake.sync import Compared

Work = Callable[[Callable[[], SparkSession], str], tuple[list[Any], int, int]]
NO_COUNTS = ("rejected", "duplicate", "inserted", "updated", "flagged")


BUILT_IN_RETAINED = "cart"  # retention.cart_months keeps its months


@dataclass(frozen=True)
class Retained:
    """An entity whose monthly partitions the retention job keeps, and for how long."""

    entity: Entity
    months: int | None  # None: every month stays online
    setting: str  # where ``months`` is set, for messages

    @property
    def rows(self) -> str:
        """What messages call the entity's rows: ``lines`` for cart, ``rows`` by default."""
        return self.entity.retention.rows if self.entity.retention else "rows"


def retained_entities(settings: Settings, model: Model) -> list[Retained]:
    """The entities retention keeps, checked: the built-in cart always, and every other entity
    whose months are set in the settings (retention.months) or in its definition."""
    keep = settings.retention
    found = []
    for entity in model.entities:
        name = entity.entity
        declared = entity.retention.months if entity.retention else None
        months: int | None
        if name in keep.months:
            months, setting = keep.months[name], f"retention.months.{name}"
        elif name == BUILT_IN_RETAINED and (keep.cart_months is not None or declared is None):
            months, setting = keep.cart_months, "retention.cart_months"
        elif declared is not None:
            months, setting = declared, f"retention.months of the {name} definition"
        else:
            continue
        retention.check_entity(entity)
        found.append(Retained(entity, months, setting))
    return found


def retention_plans(
    settings: Settings, retained: list[Retained], connection: Connection
) -> list[archives.Plan]:
    """What a retention run would archive now, per retained entity (reads only)."""
    conn = postgres.open_model(connection, settings.database)
    try:
        return _plans(conn, settings, retained)
    finally:
        conn.close()


def _plans(conn: Any, settings: Settings, retained: list[Retained]) -> list[archives.Plan]:
    """One plan per entity; the audit rows of old runs come with the last one."""
    today = datetime.now(timezone.utc).date()
    db_schema, audit_days = settings.database.db_schema, settings.retention.audit_days
    return [
        archives.plan(
            conn,
            db_schema,
            kept.entity,
            kept.months,
            audit_days if position == len(retained) - 1 else None,
            today,
        )
        for position, kept in enumerate(retained)
    ]


def archive_expired(
    settings: Settings,
    model: Model,
    retained: list[Retained],
    connection: Connection,
    started: list[str],
) -> list[retention.Archived]:
    """Archive, verify and drop every batch the retention settings no longer keep online."""
    db = settings.database
    conn = postgres.open_model(connection, db)
    try:
        archive_dir = local_archive_dir(settings.retention.archive_dir)

        def archive_all(
            spark: Callable[[], SparkSession], run_id: str
        ) -> tuple[list[Any], int, int]:
            done = [
                retention.archive(spark(), conn, connection, db, batch, archive_dir, run_id)
                for the_plan in _plans(conn, settings, retained)
                for batch in the_plan.batches
            ]
            rows = sum(archived.checksum.rows for archived in done)
            return done, rows, rows

        work: Work = archive_all
        return _run(settings, model, conn, connection, ("retention", archive_dir), work, started)
    finally:
        conn.close()


def restore_month(
    settings: Settings,
    model: Model,
    entity: Entity,
    connection: Connection,
    month: date,
    started: list[str],
) -> Checksum:
    """Bring one archived month of ``entity`` back into PostgreSQL, checked."""
    db = settings.database
    conn = postgres.open_model(connection, db)

    def restore(spark: Callable[[], SparkSession], run_id: str) -> tuple[list[Any], int, int]:
        with conn.cursor() as cur:  # a month that cannot be restored: say so before Spark starts
            archives.restorable(cur, entity.table.name, month)
        loaded = retention.restore(spark(), conn, connection, db, entity, month, run_id)
        return [loaded], loaded.rows, loaded.rows

    try:
        done = _run(
            settings, model, conn, connection, ("restore", f"{month:%Y-%m}"), restore, started
        )
    finally:
        conn.close()
    return done[0]


def sync_lake(
    settings: Settings, model: Model, connection: Connection, started: list[str]
) -> list[Compared]:
    """Compare every lake table with PostgreSQL and write again what differs (``lake.sync``);
    an entity whose table PostgreSQL does not have yet (never loaded) is left out."""
    # pyiceberg takes about a second to import: retention and restore do not pay for it
    from spark_etl.lake.schema import lake_tables
    from spark_etl.lake.sync import sync_tables
    from spark_etl.lake.write import LakeRun

    db, lake = settings.database, settings.lake
    assert lake.warehouse is not None
    conn = postgres.open_model(connection, db)

    def sync(spark: Callable[[], SparkSession], run_id: str) -> tuple[list[Any], int, int]:
        with conn.cursor() as cur:
            entities = [
                entity
                for entity in model.entities
                if entity.to_lake(True) and archives.table_exists(cur, entity.table.name)
            ]
            tables = tuple(spec for entity in entities for spec in lake_tables(entity, model))
        conn.commit()
        if not tables:  # nothing loaded yet: no Spark
            return [], 0, 0
        done = sync_tables(LakeRun(spark(), conn, connection, db, lake, run_id), tables)
        written = sum(compared.written.rows for compared in done if compared.written)
        return done, sum(compared.rows for compared in done), written

    try:
        target = ("lake_sync", lake.warehouse)
        return _run(settings, model, conn, connection, target, sync, started, refresh=False)
    finally:
        conn.close()


def expire_lake(
    settings: Settings, model: Model, connection: Connection, started: list[str]
) -> list[Expired]:
    """Expire the lake tables' old snapshots and remove the files nothing uses any more
    (``lake.expire``); no Spark."""
    from spark_etl.lake.expire import expire_tables
    from spark_etl.lake.schema import lake_tables
    from spark_etl.lake.write import lake_catalog

    db, lake = settings.database, settings.lake
    assert lake.warehouse is not None
    conn = postgres.open_model(connection, db)

    def expire(_: Callable[[], SparkSession], run_id: str) -> tuple[list[Any], int, int]:
        tables = [spec for entity in model.entities for spec in lake_tables(entity, model)]
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        with lake_catalog(connection, db, lake) as catalog:
            done = expire_tables(catalog, lake, tables, now)
        return done, sum(table.expired for table in done), sum(table.removed for table in done)

    try:
        target = ("lake_expire", lake.warehouse)
        return _run(settings, model, conn, connection, target, expire, started, refresh=False)
    finally:
        conn.close()


def _run(
    settings: Settings,
    model: Model,
    conn: Any,
    connection: Connection,
    job_and_target: tuple[str, str],
    work: Work,
    started: list[str],
    refresh: bool = True,
) -> list[Any]:
    """Run ``work(spark, run_id)`` as a recorded run (``spark()`` starts Spark if needed), with
    the rows it read and wrote; then (``refresh``) refresh the analytics views over what is
    online."""
    db = settings.database
    job, target = job_and_target
    with lifecycle.locked_model(conn, db.db_schema):
        now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
        with lifecycle.recorded_run(conn, job, target, now, started) as run_id:
            began = time.perf_counter()
            with lazy_session(settings.spark, db.jdbc_jar) as spark:
                done, read, written = work(spark, run_id)
            counts = {**dict.fromkeys(NO_COUNTS), "read": read, "loaded": written}
            postgres.finish_run(conn, run_id, counts, {job: time.perf_counter() - began})
            conn.commit()
        # the views cover what is online: refreshed once rows left (or came back)
        if done and refresh:
            try:
                lifecycle.refresh_analytics(conn, connection, db, model)
            except Exception as exc:
                raise RefreshError(one_line(exc)) from exc
    return done
