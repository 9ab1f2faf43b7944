"""The shape every entity job shares: read -> validate -> stage -> merge, audited and atomic.

Only ``load_entity`` touches both Spark and PostgreSQL; the per-entity differences are the
``EntityJob`` values at the bottom (which source, which transform, which merge).
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from spark_etl import database, merges, migrations, progress, readers, retention, writers
from spark_etl.analytics import refresh, summaries
from spark_etl.config import Connection, DatabaseSettings, Settings
from spark_etl.entities import Entity, Mapping, Model, load_entities
from spark_etl.entities.ddl import history_lookup_columns
from spark_etl.entities.model import HistoryMerge
from spark_etl.errors import AccountingError, ConcurrentRunError, ConfigError, RefreshError
from spark_etl.schemas import SourceSpec
from spark_etl.transformers.common import (
    accepted_rows,
    count_rows,
    duplicates_marked,
    pack_raw,
    rejected_rows,
)
from spark_etl.transformers.rules import RunValues, check_rows, lookups_needed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """What one invocation loads, from where, into where, and as of when."""

    settings: Settings
    connection: Connection
    input_dir: str
    as_of: datetime
    model: Model = field(default_factory=load_entities)  # the built-in entities by default
    mapping: Mapping | None = None  # a template mapping another layout onto the entities
    mapping_file: str | None = None
    # when the invocation started (UTC, naive like every timestamp of the model)
    started_at: datetime = field(
        default_factory=lambda: datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    )


@dataclass(frozen=True)
class EntityJob:
    name: str
    entity: Entity
    source: SourceSpec
    key: str
    stage_table: str
    columns: tuple[str, ...]
    timestamp_formats: tuple[str, ...] | None = None  # a mapping template's own


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}"[:500]


def load_entity(spark: SparkSession, ctx: RunContext, job: EntityJob, started: list[str]) -> None:
    """Run one entity job, appending its run id to ``started`` as soon as it is recorded.

    The model changes only if everything succeeds.
    """
    db = ctx.settings.database
    conn = database.connect(ctx.connection, db.db_schema, db.connect_timeout_seconds)
    try:
        with database.load_lock(conn):
            database.apply_schema(conn, db.db_schema)
            database.close_interrupted_runs(conn)
            # a conflict stops the job here, before it is recorded or anything is altered
            changes = migrations.plan(conn, db.db_schema, ctx.model, (job.entity,))
            run_id = str(uuid.uuid4())
            database.start_run(conn, run_id, job.name, ctx.input_dir, ctx.as_of)
            started.append(run_id)
            try:
                migrations.apply(conn, changes, run_id, job.name)
                seconds: dict[str, float] = {}
                read = _stage(spark, ctx, job, conn, seconds)
                _merge(conn, ctx, job, run_id, read, seconds)
            except BaseException as exc:
                database.fail_run(conn, run_id, one_line(exc))
                raise
    finally:
        conn.close()


def _stage(
    spark: SparkSession, ctx: RunContext, job: EntityJob, conn: Any, seconds: dict[str, float]
) -> int:
    """Read and validate the source, stage accepted and rejected rows; return rows read.

    ``seconds`` receives the wall time of reading with validation and of staging.
    """
    started = time.perf_counter()
    raw = readers.read_source(spark, ctx.input_dir, job.source, ctx.settings.input)
    with conn.cursor() as cur:  # read under the load lock: no retention run moves them now
        archived = frozenset(retention.archived_months(cur, job.entity.table.name))
    conn.commit()
    with ExitStack() as cached:  # released when staged, or on failure
        checked = check_source(spark, ctx, job, pack_raw(raw, job.source.columns), archived)
        checked = checked.persist(StorageLevel.MEMORY_AND_DISK)
        cached.callback(checked.unpersist)
        with progress.phase(f"{job.name}: read and check", spark) as shown:
            validated = cached.enter_context(
                duplicates_marked(checked, key=job.key, latest_by=job.entity.latest_by)
            )
            counts = count_rows(validated)
            shown.rows = counts.read
        seconds["read_validate"] = time.perf_counter() - started
        started = time.perf_counter()
        with progress.phase(f"{job.name}: stage", spark) as shown:
            database.truncate_stage(conn, job.stage_table)
            conn.commit()  # before the executors' connections write into them
            db = ctx.settings.database
            writers.write_stage(
                accepted_rows(validated, job.columns), job.stage_table, ctx.connection, db
            )
            if counts.set_aside:
                writers.write_stage(
                    rejected_rows(validated, counts), database.STAGE_REJECT, ctx.connection, db
                )
            shown.rows = counts.read
        seconds["stage"] = time.perf_counter() - started
    return counts.read


def _merge(
    conn: Any, ctx: RunContext, job: EntityJob, run_id: str, read: int, seconds: dict[str, float]
) -> None:
    """Merge staging into the model and record the run, in one transaction."""
    started = time.perf_counter()
    database.analyze(conn, job.stage_table, database.STAGE_REJECT)
    loaded = database.count_rows(conn, job.stage_table)
    rejected, duplicates = database.keep_rejects(conn, run_id, job.name)
    if loaded + rejected + duplicates != read:
        raise AccountingError(
            f"{job.name}: read {read} rows but staged {loaded} + {rejected} + {duplicates}"
        )
    with progress.phase(f"{job.name}: merge into {job.entity.table.name}") as shown:
        counts = merges.merge(conn, ctx.model, job.entity, ctx.as_of, run_id, job.name)
        shown.rows = loaded
    # staged rows are spent once merged: emptied in the same transaction (a failed merge keeps
    # them for a look), so a 10M-line load leaves no GBs of staging behind
    database.truncate_stage(conn, job.stage_table)
    seconds["merge"] = time.perf_counter() - started
    database.finish_run(
        conn,
        run_id,
        {"read": read, "loaded": loaded, "rejected": rejected, "duplicate": duplicates, **counts},
        seconds,
    )
    conn.commit()
    log.info("%s: merged %s", job.name, counts)


def check_source(
    spark: SparkSession,
    ctx: RunContext,
    job: EntityJob,
    frame: DataFrame,
    archived: frozenset[date] = frozenset(),
) -> DataFrame:
    """The entity's declared rules over its packed source rows, with the lookups they need read
    from the model (keys of referenced entities, histories named transforms look up);
    ``archived`` are the months of the entity's table that only an archive holds."""
    entity = job.entity
    rules = ctx.settings.validation
    # the later of --as-of and now: a past --as-of dates price changes, not the rows' times
    loaded_at = max(ctx.as_of, ctx.started_at)
    values = RunValues(
        timestamp_formats=job.timestamp_formats or rules.timestamp_formats,
        ranges={
            "price": (rules.price.min, rules.price.max),
            "quantity": (Decimal(rules.quantity.min), Decimal(rules.quantity.max)),
        },
        latest=loaded_at + timedelta(days=rules.future_days),
        future_days=rules.future_days,
        archived=archived,
    )
    db = ctx.settings.database
    key_columns, history_columns = lookups_needed(entity)
    known_keys = {}
    for column in key_columns:
        target = ctx.model.referenced(entity, column)
        known_keys[column] = readers.read_lookup(
            spark, ctx.connection, db, target.table.name, (target.key,)
        )
    histories = {}
    for column in history_columns:
        target = ctx.model.referenced(entity, column)
        assert isinstance(target.merge, HistoryMerge)
        versions = history_lookup_columns(target)
        histories[column] = readers.read_lookup(
            spark, ctx.connection, db, target.merge.table, versions
        )
    return check_rows(frame, entity, values, known_keys=known_keys, histories=histories)


def entity_job(entity: Entity, ctx: RunContext | None = None) -> EntityJob:
    """The load of one entity definition, through the run's mapping template if it maps it."""
    mapped = ctx.mapping.for_entity(entity.entity) if ctx and ctx.mapping else None
    return EntityJob(
        entity.job_name,
        entity,
        SourceSpec.of(entity, mapped, ctx.mapping_file if ctx else None),
        entity.key,
        entity.stage_table,
        tuple(entity.columns),
        mapped.timestamp_formats if mapped else None,
    )


def run(spark: SparkSession, ctx: RunContext, job_name: str, started: list[str]) -> None:
    """Run a job (or ``all``, in dependency order), recording each run id in ``started``;
    then refresh the analytics views over the new data."""
    jobs = ctx.model.jobs
    if job_name not in jobs:
        raise ConfigError(f"Unknown job '{job_name}'; choose one of: {', '.join(jobs)}.")
    for entity in jobs[job_name]:
        load_entity(spark, ctx, entity_job(entity, ctx), started)
    try:
        refresh_analytics(ctx)
    except ConcurrentRunError:
        log.warning(
            "The analytics views were not refreshed: another load is running, and it refreshes "
            "them when it ends."
        )
    except Exception as exc:  # the loads have committed: say so, apart from the refresh
        raise RefreshError(one_line(exc)) from exc


def refresh_analytics(ctx: RunContext, seconds: dict[str, float] | None = None) -> list[str]:
    """Refresh the views under the load lock, so that they all show one state of the model
    (``seconds`` receives each view's refresh time)."""
    db = ctx.settings.database
    conn = database.connect(ctx.connection, db.db_schema, db.connect_timeout_seconds)
    try:
        with database.load_lock(conn):
            # the views read every entity's tables: create those no load has created yet
            migrations.migrate(conn, db.db_schema, ctx.model, ctx.model.entities, "analytics")
            with progress.phase("analytics: refresh"):
                return refresh_views(conn, ctx.connection, db, seconds)
    finally:
        conn.close()


def refresh_views(
    conn: Any,
    connection: Connection,
    db: DatabaseSettings,
    seconds: dict[str, float] | None = None,
    rebuild: bool = False,
) -> list[str]:
    """``refresh.refresh`` on ``conn`` and up to ``db.refresh_connections`` - 1 more
    connections like it; the caller holds the load lock."""
    return refresh.refresh(
        conn,
        db.db_schema,
        db.analytics_schema,
        seconds,
        rebuild,
        connect=partial(database.connect, connection, db.db_schema, db.connect_timeout_seconds),
        connections=db.refresh_connections,
        recompute_share=summaries.RECOMPUTE_SHARE,
    )
