"""The shape every entity job shares: read -> validate -> stage -> merge, audited and atomic.

Only ``load_entity`` touches both Spark and PostgreSQL; the per-entity differences are the
``EntityJob`` values (``run_context``: which source, which transform, which merge).
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from datetime import date, timedelta
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from spark_etl.db import changes, lake_pending, merges, metrics, migrations, postgres
from spark_etl.db.archives import archived_months
from spark_etl.db.ddl import history_lookup_columns
from spark_etl.definitions import Entity
from spark_etl.definitions.model import HistoryMerge
from spark_etl.errors import (
    AccountingError,
    ConcurrentRunError,
    LakeError,
    QualityGateError,
    RefreshError,
    first_line,
    one_line,
)
from spark_etl.io import readers, writers
from spark_etl.monitoring import context, lineage
from spark_etl.quality import gates
from spark_etl.runs import lifecycle
from spark_etl.runs.run_context import SNAPSHOT, EntityJob, RunContext, entity_job
from spark_etl.spark import progress
from spark_etl.spark.actions import count_rows, duplicates_marked, rejected_rows
from spark_etl.transforms.columns import accepted_rows, pack_raw
from spark_etl.transforms.rules import RunValues, check_rows, lookups_needed

log = logging.getLogger(__name__)


def load_entity(spark: SparkSession, ctx: RunContext, job: EntityJob, started: list[str]) -> None:
    """Run one entity job, appending its run id to ``started`` as soon as it is recorded.

    The model changes only if everything succeeds. Its lineage events (START, then COMPLETE or
    FAIL) go out when OpenLineage is configured.
    """
    db = ctx.settings.database
    server = lineage.database_namespace(ctx.connection.host, ctx.connection.port)
    tables = lineage_tables(ctx, job.entity)
    outcome = lineage.Outcome(source_columns=job.source.columns)
    run_id: str | None = None
    conn = postgres.open_model(ctx.connection, db)
    try:
        with lifecycle.locked_model(conn, db.db_schema):
            # a conflict stops the job here, before it is recorded or anything is altered
            ddl_changes = migrations.plan(conn, db.db_schema, ctx.model, (job.entity,))
            extract = ctx.extract or job.entity.gates(ctx.settings.quality).extract or SNAPSHOT
            with lifecycle.recorded_run(
                conn, job.name, ctx.input_dir, ctx.as_of, started, extract, ctx.backfill
            ) as run_id:
                ctx.lineage.start(run_id, job.name, server, tables)
                migrations.apply(conn, ddl_changes, run_id, job.name)
                seconds: dict[str, float] = {}
                read = _stage(spark, ctx, job, conn, seconds, outcome)
                to_lake = _merge(conn, ctx, job, run_id, read, seconds, extract, outcome)
            if to_lake:  # committed: the lake follows, still under the load lock
                with context.scope(job.name, run_id):
                    _write_lake(spark, ctx, job, conn, run_id)
        ctx.lineage.complete(run_id, job.name, server, tables, outcome)
    except Exception as exc:
        if run_id is not None:
            ctx.lineage.fail(run_id, job.name, server, tables, outcome, first_line(exc))
        raise
    finally:
        conn.close()


def _write_lake(
    spark: SparkSession, ctx: RunContext, job: EntityJob, conn: Any, run_id: str
) -> None:
    """Write the lake's tables of the job's entity from what PostgreSQL holds: the ranges
    pending for them (this load's, and any an earlier run left); a failure is a LakeError
    (PostgreSQL keeps the load, the lake its previous snapshot, the ranges stay pending)."""
    # pyiceberg (and pyarrow, pandas, SQLAlchemy with it) takes about a second to import: only
    # a run that writes the lake pays for it
    from spark_etl.lake.schema import lake_tables
    from spark_etl.lake.write import LakeRun, write_tables

    settings = ctx.settings
    try:
        with progress.phase(f"{job.name}: lake", spark) as shown:
            run = LakeRun(spark, conn, ctx.connection, settings.database, settings.lake, run_id)
            written = write_tables(run, lake_tables(job.entity, ctx.model))
            shown.rows = sum(table.rows for table in written)
    except Exception as exc:
        raise LakeError(
            f"{job.name}: the load committed to PostgreSQL, but writing the lake failed "
            f"({one_line(exc)}); its tables keep their previous snapshot, and the next load "
            f"of {job.entity.entity} (or spark-etl lake sync) writes what this one changed."
        ) from exc


def lineage_tables(ctx: RunContext, entity: Entity) -> list[lineage.Table]:
    """The tables a load of ``entity`` writes, as lineage names them: its table, the history
    table of a ``history`` merge, the rejects' table, and its lake tables (by location)."""
    prefix = f"{ctx.connection.database}.{ctx.settings.database.db_schema}"
    columns = {name: column.type for name, column in entity.columns.items()}
    tables = [lineage.Table(f"{prefix}.{entity.table.name}", columns)]
    if isinstance(entity.merge, HistoryMerge):
        tables.append(lineage.Table(f"{prefix}.{entity.merge.table}", columns))
    tables.append(lineage.Table(f"{prefix}.etl_reject", {}))
    lake = ctx.settings.lake
    if lake.warehouse is not None and entity.to_lake(True):
        from spark_etl.lake.schema import lake_tables  # as in _write_lake: only with a lake
        from spark_etl.lake.warehouse import table_location

        for spec in lake_tables(entity, ctx.model):
            location = table_location(lake.warehouse, lake.namespace, spec.name)
            namespace, name = lineage.file_dataset(location)
            kept = {column.name: column.type for column in spec.columns}
            tables.append(lineage.Table(name, kept, namespace))
    return tables


def _stage(
    spark: SparkSession,
    ctx: RunContext,
    job: EntityJob,
    conn: Any,
    seconds: dict[str, float],
    outcome: lineage.Outcome,
) -> int:
    """Read and validate the source, stage accepted and rejected rows; return rows read.

    ``seconds`` receives the wall time of reading with validation and of staging, ``outcome``
    the files read.
    """
    started = time.perf_counter()
    raw = readers.read_source(spark, ctx.input_dir, job.source, ctx.settings.input)
    outcome.files = tuple(raw.inputFiles())  # listed by the file index: nothing is read
    with conn.cursor() as cur:  # read under the load lock: no retention run moves them now
        archived = frozenset(archived_months(cur, job.entity.table.name))
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
            postgres.truncate_stage(conn, job.stage_table)
            conn.commit()  # before the executors' connections write into them
            db = ctx.settings.database
            writers.write_stage(
                accepted_rows(validated, job.columns), job.stage_table, ctx.connection, db
            )
            if counts.set_aside:
                writers.write_stage(
                    rejected_rows(validated, counts), postgres.STAGE_REJECT, ctx.connection, db
                )
            shown.rows = counts.read
        seconds["stage"] = time.perf_counter() - started
    return counts.read


def _merge(
    conn: Any,
    ctx: RunContext,
    job: EntityJob,
    run_id: str,
    read: int,
    seconds: dict[str, float],
    extract: str,
    outcome: lineage.Outcome,
) -> bool:
    """Judge the load by its quality gates, merge staging into the model and record the run,
    in one transaction; a failed gate rolls the load back (``_stop_at_gate``). ``outcome``
    receives the figures, for the lineage events. What the merge changes is recorded, in the
    same transaction, as pending for the lake; returns whether the entity has a lake."""
    started = time.perf_counter()
    entity = job.entity
    postgres.analyze(conn, job.stage_table, postgres.STAGE_REJECT)
    loaded = postgres.count_rows(conn, job.stage_table)
    rejects = postgres.keep_rejects(conn, run_id, job.name)
    if loaded + rejects.rejected + rejects.duplicates != read:
        raise AccountingError(
            f"{job.name}: read {read} rows but staged {loaded} + {rejects.rejected} + "
            f"{rejects.duplicates}"
        )
    gates_set = entity.gates(ctx.settings.quality)
    earlier = metrics.history(conn, job.name, extract, ctx.settings.quality.history_runs, run_id)
    figures = metrics.RunFigures(
        entity.entity,
        extract,
        {
            "read": read,
            "loaded": loaded,
            "rejected": rejects.rejected,
            "duplicate": rejects.duplicates,
        },
        gates.reasons_counted(rejects.reasons),
        median=gates.median(earlier),
        seconds=seconds,
    )
    checks = gates.check_load(
        gates.LoadFigures(
            entity.entity,
            entity.rows_called,
            read,
            rejects.rejected,
            rejects.reasons,
            extract,
            earlier,
            ctx.backfill,
        ),
        gates_set,
    )
    to_lake = entity.to_lake(ctx.settings.lake.warehouse is not None)
    if gates.verdict(checks) != gates.FAIL:
        if to_lake:  # what the merge changes, for the lake to follow once it commits
            with conn.cursor() as cur:
                lake_pending.record(cur, run_id, changes.changed_tables(conn, entity))
        with progress.phase(f"{job.name}: merge into {entity.table.name}") as shown:
            counts, figures.flags = merges.merge(
                conn, ctx.model, entity, ctx.as_of, run_id, job.name
            )
            shown.rows = loaded
        figures.counts.update(counts)
        checks += gates.check_flags(
            entity.entity, entity.rows_called, read, figures.flags, gates_set
        )
    seconds["merge"] = time.perf_counter() - started
    figures.checks = checks
    outcome.counts, outcome.reasons = figures.counts, dict(figures.reasons)
    outcome.gates = [
        (f"{c.gate}{':' + c.detail if c.detail else ''}", c.verdict != gates.FAIL, c.message)
        for c in checks
    ]
    outcome.quality = gates.verdict(checks) if checks else None
    if gates.verdict(checks) == gates.FAIL:
        _stop_at_gate(conn, run_id, job, figures, seconds)
    # staged rows are spent once merged: emptied in the same transaction (a failed merge keeps
    # them for a look), so a 10M-line load leaves no GBs of staging behind
    postgres.truncate_stage(conn, job.stage_table)
    postgres.finish_run(conn, run_id, figures.counts, seconds)
    metrics.record(conn, run_id, job.name, figures, gates.verdict(checks) if checks else None)
    conn.commit()
    log.info("%s: merged %s", job.name, counts)
    for check in checks:
        if check.message:
            log.warning("%s", check.message)
    return to_lake


def _stop_at_gate(
    conn: Any, run_id: str, job: EntityJob, figures: metrics.RunFigures, seconds: dict[str, float]
) -> None:
    """Roll the load back, keep its rejects (so the user sees why) and its figures, record the
    run as failed by its gates, and raise QualityGateError."""
    conn.rollback()
    postgres.keep_rejects(conn, run_id, job.name)
    figures.counts.update(loaded=0, inserted=None, updated=None, flagged=None)
    postgres.finish_run(conn, run_id, figures.counts, seconds, status="failed")
    metrics.record(conn, run_id, job.name, figures, gates.FAIL)
    conn.commit()
    failed = [check.message for check in figures.checks if check.verdict == gates.FAIL]
    for message in failed:
        log.error("%s", message)
    raise QualityGateError(
        f"{'; '.join(failed)}: the load was rolled back, its rejects are kept in etl_reject."
    )


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
        ranges=rules.bounds(),
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


def run(spark: SparkSession, ctx: RunContext, job_name: str, started: list[str]) -> None:
    """Run a job (or ``all``, in dependency order), recording each run id in ``started``;
    then refresh the analytics views over the new data (unless ``ctx.refresh`` is off)."""
    for entity in ctx.model.jobs[ctx.model.job_named(job_name)]:
        load_entity(spark, ctx, entity_job(entity, ctx), started)
    if not ctx.refresh:
        log.info("The analytics views were left as they were (--no-refresh)")
        return
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
    conn = postgres.open_model(ctx.connection, db)
    try:
        with postgres.load_lock(conn), progress.phase("analytics: refresh"):
            return lifecycle.refresh_analytics(conn, ctx.connection, db, ctx.model, seconds)
    finally:
        conn.close()
