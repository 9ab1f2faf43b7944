"""The shape every entity job shares: read -> validate -> stage -> merge, audited and atomic.

Only ``load_entity`` touches both Spark and PostgreSQL; the per-entity differences are the
``EntityJob`` values at the bottom (which source, which transform, which merge).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from spark_etl import analytics, database, migrations, readers, writers
from spark_etl.config import Connection, Settings
from spark_etl.entities import Entity, Model, load_entities
from spark_etl.errors import ConcurrentRunError, ConfigError, RefreshError
from spark_etl.schemas import SourceSpec
from spark_etl.transformers.carts import check_carts
from spark_etl.transformers.common import (
    accepted_rows,
    count_read_and_set_aside,
    pack_raw,
    rejected_rows,
    with_duplicates_marked,
)
from spark_etl.transformers.customers import parse_customers
from spark_etl.transformers.products import parse_products

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """What one invocation loads, from where, into where, and as of when."""

    settings: Settings
    connection: Connection
    input_dir: str
    as_of: datetime
    model: Model = field(default_factory=load_entities)  # the built-in entities by default
    # when the invocation started (UTC, naive like every timestamp of the model)
    started_at: datetime = field(
        default_factory=lambda: datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    )


# The rules of each row on its own; repeated keys are marked by load_entity.
Check = Callable[[SparkSession, RunContext, DataFrame], DataFrame]
# (connection, context, run id, job name) -> counts of inserted, updated and flagged rows
Merge = Callable[[Any, RunContext, str, str], dict[str, int]]


@dataclass(frozen=True)
class EntityJob:
    name: str
    entity: Entity
    source: SourceSpec
    key: str
    stage_table: str
    columns: tuple[str, ...]
    check: Check
    merge: Merge


class AccountingError(RuntimeError):
    """Rows read differ from rows loaded plus rows set aside: a defect, never a user error."""


def _one_line(exc: BaseException) -> str:
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
                database.fail_run(conn, run_id, _one_line(exc))
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
    checked = job.check(spark, ctx, pack_raw(raw, job.source.columns))
    validated = checked = checked.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        validated = with_duplicates_marked(checked, key=job.key)
        if validated is not checked:  # marked: a sort of whole rows, kept for the passes below
            validated = validated.persist(StorageLevel.MEMORY_AND_DISK)
        read, set_aside = count_read_and_set_aside(validated)
        seconds["read_validate"] = time.perf_counter() - started
        started = time.perf_counter()
        database.truncate_stage(conn, job.stage_table)
        db = ctx.settings.database
        writers.write_stage(
            accepted_rows(validated, job.columns), job.stage_table, ctx.connection, db
        )
        if set_aside:  # numbering the rejects costs a pass over the input: only when needed
            writers.write_stage(rejected_rows(validated), database.STAGE_REJECT, ctx.connection, db)
        seconds["stage"] = time.perf_counter() - started
    finally:
        validated.unpersist()
        checked.unpersist()
    log.info("%s: %d rows read and staged", job.name, read)
    return read


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
    counts = job.merge(conn, ctx, run_id, job.name)
    seconds["merge"] = time.perf_counter() - started
    database.finish_run(
        conn,
        run_id,
        {"read": read, "loaded": loaded, "rejected": rejected, "duplicate": duplicates, **counts},
        seconds,
    )
    conn.commit()
    log.info("%s: merged %s", job.name, counts)


def _check_customers(spark: SparkSession, ctx: RunContext, frame: DataFrame) -> DataFrame:
    return parse_customers(frame, timestamp_formats=ctx.settings.validation.timestamp_formats)


def _check_products(spark: SparkSession, ctx: RunContext, frame: DataFrame) -> DataFrame:
    rules = ctx.settings.validation
    return parse_products(
        frame,
        timestamp_formats=rules.timestamp_formats,
        price_min=rules.price.min,
        price_max=rules.price.max,
    )


def _check_carts(spark: SparkSession, ctx: RunContext, frame: DataFrame) -> DataFrame:
    db = ctx.settings.database
    return check_carts(
        frame,
        readers.read_variations(spark, ctx.connection, db),
        readers.read_customer_ids(spark, ctx.connection, db),
        timestamp_formats=ctx.settings.validation.timestamp_formats,
        quantity_min=ctx.settings.validation.quantity.min,
        quantity_max=ctx.settings.validation.quantity.max,
        # the later of --as-of and now: a past --as-of dates price changes, not the cart lines
        loaded_at=max(ctx.as_of, ctx.started_at),
        future_days=ctx.settings.validation.future_days,
    )


def _merge_customers(conn: Any, ctx: RunContext, run_id: str, job: str) -> dict[str, int]:
    merged = database.queries().merge_customers(conn)
    return {"inserted": merged["inserted"], "updated": merged["updated"], "flagged": 0}


def _merge_products(conn: Any, ctx: RunContext, run_id: str, job: str) -> dict[str, int]:
    queries = database.queries()
    with conn.cursor() as cur:
        # Variation keys are max + n: nobody else may add variations until this commits.
        cur.execute("LOCK TABLE product_variation IN SHARE ROW EXCLUSIVE MODE")
    changes = queries.product_changes(conn)
    queries.merge_products(conn)
    replaced = queries.replace_same_instant_variations(conn, as_of=ctx.as_of)
    closed = queries.close_changed_variations(conn, as_of=ctx.as_of)
    opened = queries.open_new_variations(conn)
    flagged = queries.flag_products(conn, run_id=run_id, job=job)
    log.info("product variations: %d replaced, %d closed, %d opened", replaced, closed, opened)
    return {"inserted": changes["inserted"], "updated": changes["updated"], "flagged": flagged}


def _merge_carts(conn: Any, ctx: RunContext, run_id: str, job: str) -> dict[str, int]:
    queries = database.queries()
    changes = queries.cart_changes(conn)
    queries.remove_moved_cart_lines(conn)
    hash_partitions = ctx.settings.database.cart_hash_partitions
    new_months, bulk = database.load_new_cart_months(conn, hash_partitions)
    written = bulk + queries.merge_carts(conn, new_months=new_months)
    if written != changes["inserted"] + changes["updated"]:
        raise AccountingError(f"cart merge wrote {written} rows, expected {dict(changes)}")
    flagged = queries.flag_carts(conn, run_id=run_id, job=job)
    return {"inserted": changes["inserted"], "updated": changes["updated"], "flagged": flagged}


# The per-entity steps not yet declared in the definitions (issue 12 in progress): the rules
# and the merge of the three built-in entities, by entity name.
_STEPS: dict[str, tuple[Check, Merge]] = {
    "customer": (_check_customers, _merge_customers),
    "product": (_check_products, _merge_products),
    "cart": (_check_carts, _merge_carts),
}


def entity_job(entity: Entity) -> EntityJob:
    """The load of one entity definition."""
    if entity.entity not in _STEPS:
        raise ConfigError(
            f"Entity '{entity.entity}' has no load steps yet: only customer, product and cart "
            "load in this version."
        )
    check, merge = _STEPS[entity.entity]
    source = SourceSpec(entity.entity, entity.source.file, tuple(entity.source.columns))
    return EntityJob(
        entity.job_name,
        entity,
        source,
        entity.key,
        entity.stage_table,
        tuple(entity.columns),
        check,
        merge,
    )


def run(spark: SparkSession, ctx: RunContext, job_name: str, started: list[str]) -> None:
    """Run a job (or ``all``, in dependency order), recording each run id in ``started``;
    then refresh the analytics views over the new data."""
    jobs = ctx.model.jobs
    if job_name not in jobs:
        raise ConfigError(f"Unknown job '{job_name}'; choose one of: {', '.join(jobs)}.")
    for entity in jobs[job_name]:
        load_entity(spark, ctx, entity_job(entity), started)
    try:
        refresh_analytics(ctx)
    except ConcurrentRunError:
        log.warning(
            "The analytics views were not refreshed: another load is running, and it refreshes "
            "them when it ends."
        )
    except Exception as exc:  # the loads have committed: say so, apart from the refresh
        raise RefreshError(_one_line(exc)) from exc


def refresh_analytics(ctx: RunContext) -> list[str]:
    """Refresh the views under the load lock, so that they all show one state of the model."""
    db = ctx.settings.database
    conn = database.connect(ctx.connection, db.db_schema, db.connect_timeout_seconds)
    try:
        with database.load_lock(conn):
            # the views read every entity's tables: create those no load has created yet
            migrations.migrate(conn, db.db_schema, ctx.model, ctx.model.entities, "analytics")
            return analytics.refresh(conn, db.db_schema, db.analytics_schema)
    finally:
        conn.close()
