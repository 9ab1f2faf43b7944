"""The suite's phases as the harness times them: the jobs and the refresh, the read + validate
profile, the answers and the report, the nightly increment in a process of its own, and retention.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.databases import database_mb
from bench.inputs import nightly_input
from spark_etl.analytics.queries import fetch
from spark_etl.analytics.questions import QUESTIONS
from spark_etl.analytics.report.page import write_report
from spark_etl.analytics.report.section import TABLE_ROWS, report_section
from spark_etl.config import Connection
from spark_etl.db import archives, postgres
from spark_etl.io import readers
from spark_etl.runs import pipeline, retention
from spark_etl.runs.run_context import RunContext, entity_job
from spark_etl.transforms.columns import pack_raw


def suite(spark: Any, ctx: RunContext) -> dict[str, Any]:
    """The three jobs and the analytics refresh, with each job's stage times from etl_run."""
    result: dict[str, Any] = {"jobs": {}}
    for entity in ctx.model.jobs["all"]:
        job = entity_job(entity)
        started_ids: list[str] = []
        started = time.perf_counter()
        pipeline.load_entity(spark, ctx, job, started_ids)
        total = time.perf_counter() - started
        conn = postgres.connect(ctx.connection, ctx.settings.database.db_schema, 10)
        with conn.cursor() as cur:
            cur.execute("SELECT stage_seconds FROM etl_run WHERE run_id = %s", (started_ids[0],))
            stages = cur.fetchone()["stage_seconds"]
        conn.close()
        result["jobs"][job.name] = {**stages, "total": total}
    started = time.perf_counter()
    result["view_seconds"] = {}
    pipeline.refresh_analytics(ctx, result["view_seconds"])
    result["analytics_refresh"] = time.perf_counter() - started
    return result


def read_validate_profile(spark: Any, ctx: RunContext) -> dict[str, float]:
    """Where the cart load's read + validate goes, layer by layer (each a pass writing to
    Spark's no-op sink, after the suite: the JVM warm, the lookups the model's): the source
    read and packed, then every rule and lookup checked. The suite's read + validate adds the
    cache of the checked rows, the duplicate check and the counts to the second."""
    job = entity_job(ctx.model.entity("cart"))

    def packed() -> Any:
        raw = readers.read_source(spark, ctx.input_dir, job.source, ctx.settings.input)
        return pack_raw(raw, job.source.columns)

    seconds = {}
    for name, frame in (
        ("read", packed),
        ("read_and_check", lambda: pipeline.check_source(spark, ctx, job, packed())),
    ):
        started = time.perf_counter()
        frame().write.format("noop").mode("overwrite").save()
        seconds[name] = time.perf_counter() - started
    return seconds


def analytics_queries(ctx: RunContext) -> dict[str, dict[str, float]]:
    """Seconds each question takes to answer (warm, second run): its first page, as the
    report shows it, and all of its rows."""
    db = ctx.settings.database
    conn = postgres.connect(ctx.connection, db.db_schema, 10)
    seconds: dict[str, dict[str, float]] = {"first_page": {}, "all_rows": {}}
    for kind, limit in (("first_page", TABLE_ROWS), ("all_rows", None)):
        for question in QUESTIONS:
            fetch(conn, db.analytics_schema, question, limit=limit)
            started = time.perf_counter()
            fetch(conn, db.analytics_schema, question, limit=limit)
            seconds[kind][question.views[0]] = time.perf_counter() - started
    conn.close()
    return seconds


def report_seconds(ctx: RunContext, folder: Path) -> float:
    """Seconds to write the whole report as ``analytics`` does after its refresh: every view
    streamed to its CSV, the limited reads of the tables and charts, the page."""
    db = ctx.settings.database
    conn = postgres.connect(ctx.connection, db.db_schema, 10)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sections = [
        report_section(conn, db.analytics_schema, question, folder) for question in QUESTIONS
    ]
    write_report(folder, sections, datetime.now(timezone.utc), ctx.settings.report.currency)
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


NIGHTS = 3  # nightly increments run one after the other; the harness reports their median


def nightly_run(connection: Connection, input_dir: Path, work: Path, size: int) -> dict[str, Any]:
    """The nightly increment as a user's schedule runs it, ``NIGHTS`` nights in a row: each
    night 1% new lines loaded by the cart job alone as a delta extract, in a process of its own
    (``spark-etl load cart_data_transform``: the JVM's start, the read, the load and the
    analytics refresh that follows it), timed from outside. The night of the median time is
    returned, with ``nights``: every night's seconds, in order (one night's time moves by a
    quarter with the machine's load alone)."""
    runs = [_night(connection, input_dir, work, size, night) for night in range(1, NIGHTS + 1)]
    median = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {**median, "nights": [round(run["seconds"], 2) for run in runs]}


def _night(
    connection: Connection, input_dir: Path, work: Path, size: int, night: int
) -> dict[str, Any]:
    """One night's load, timed; ``breakdown``: where its time went, read from its log
    (``nightly_breakdown``)."""
    folder = work / f"nightly-{size}-{night}"
    if not (folder / "carts.csv").is_file():
        nightly_input(input_dir, folder, night)
    summary = work / f"nightly-{size}-{night}.json"
    logs = work / f"nightly-{size}-{night}-logs"
    shutil.rmtree(logs, ignore_errors=True)
    env = {
        **os.environ,
        "PGHOST": connection.host,
        "PGPORT": str(connection.port),
        "PGDATABASE": connection.database,
        "PGUSER": connection.user,
        "SPARK_ETL_LOG_DIR": str(logs),
    }
    if connection.password is not None:
        env["PGPASSWORD"] = connection.password
    command = [sys.executable, "-m", "spark_etl", "load", "cart_data_transform"]
    command += ["--input-dir", str(folder), "--as-of", "2030-01-01T00:00:00"]
    command += ["--extract", "delta", "--summary-json", str(summary)]
    launched = datetime.now()  # naive local time, as the log's timestamps
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    run = json.loads(summary.read_text(encoding="utf-8"))["runs"][0]
    log_text = (logs / "spark-etl.log").read_text(encoding="utf-8")
    return {
        "night": night,
        "seconds": seconds,
        "lines": run["counts"]["read"],
        "loaded": run["counts"]["loaded"],
        "phase_seconds": run["seconds"],
        "breakdown": nightly_breakdown(log_text, launched, seconds, run["seconds"]),
    }


# what marks each step of a load in its log (spark_etl's own messages)
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \S+ \S+ \S+ (\S+): (.*)$")
_SUMMARIZED = re.compile(r"^Summarized the cart lines: .* in ([0-9.]+) s$")


def nightly_breakdown(
    log_text: str, launched: datetime, seconds: float, phases: dict[str, float]
) -> dict[str, float]:
    """Where a load's time went, from its log (one invocation's) and its phases' seconds
    (``read_validate``, ``stage``, ``merge``): the process's start until it logs (Python and
    its imports), the Spark session's start, the lookups' reads (from the source's read to the
    last lookup), the rest of read + check, stage, merge, the cart summaries, the views, and
    what is left (the JVM's exit, the summary's writing)."""
    times: dict[str, datetime] = {}
    summaries = 0.0
    for line in log_text.splitlines():
        found = _LOG_LINE.match(line)
        if not found:
            continue  # a trace's continuation
        when = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f")
        logger, message = found.group(2), found.group(3)
        times.setdefault("first", when)
        if logger == "spark_etl.spark.session" and "session ready" in message:
            times["session"] = when
        elif logger == "spark_etl.io.readers" and message.startswith("Reading "):
            times.setdefault("reading", when)
        elif logger == "spark_etl.io.readers" and message.startswith("Lookup "):
            times["lookups"] = when
        elif logger == "spark_etl.runs.pipeline" and ": merged " in message:
            times["merged"] = when
        elif logger == "spark_etl.spark.progress" and message.startswith("analytics: refresh"):
            times["refreshed"] = when
        elif summarized := _SUMMARIZED.match(message):
            summaries = float(summarized.group(1))

    def between(start: str, end: str) -> float:
        return (times[end] - times[start]).total_seconds()

    lookups = between("reading", "lookups") if "lookups" in times else 0.0
    parts = {
        "process_start": (times["first"] - launched).total_seconds(),
        "spark_session": between("first", "session"),
        "lookups": lookups,
        "read_and_check": phases["read_validate"] - lookups,
        "stage": phases["stage"],
        "merge": phases["merge"],
        "summaries": summaries,
        "views": between("merged", "refreshed") - summaries if "refreshed" in times else 0.0,
    }
    parts["other"] = seconds - sum(parts.values())
    return {name: round(value, 2) for name, value in parts.items()}


def retention_run(spark: Any, ctx: RunContext, archive_dir: Path) -> dict[str, Any]:
    """What the retention job does with cart_months 12 (archive, check, drop every older
    month, then refresh the views), timed; then one month restored."""
    shutil.rmtree(archive_dir, ignore_errors=True)
    archive_dir.mkdir(parents=True)
    db = ctx.settings.database
    entity = ctx.model.entity("cart")
    result: dict[str, Any] = {"database_mb_before": database_mb(ctx.connection)}
    conn = postgres.connect(ctx.connection, db.db_schema, 10)
    run_id = "00000000-0000-0000-0000-000000000001"
    postgres.start_run(conn, run_id, "retention", str(archive_dir), datetime(2030, 1, 1))
    today = datetime.now(timezone.utc).date()
    the_plan = archives.plan(conn, db.db_schema, entity, 12, None, today)
    started = time.perf_counter()
    done = [
        retention.archive(spark, conn, ctx.connection, db, batch, str(archive_dir), run_id)
        for batch in the_plan.batches
    ]
    result["archive_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    pipeline.refresh_analytics(ctx)
    result["refresh_seconds"] = time.perf_counter() - started
    result["months"] = len(done)
    result["rows"] = sum(archived.checksum.rows for archived in done)
    result["postgresql_mb_archived"] = round(sum(a.batch.bytes for a in done) / 2**20, 1)
    result["parquet_mb"] = round(
        sum(f.stat().st_size for f in archive_dir.rglob("*.parquet")) / 2**20, 1
    )
    result["database_mb_after"] = database_mb(ctx.connection)
    month = done[len(done) // 2].batch.period
    started = time.perf_counter()
    restored = retention.restore(spark, conn, ctx.connection, db, entity, month, run_id)
    result["restore_seconds"] = time.perf_counter() - started
    result["restore_rows"] = restored.rows
    conn.close()
    return result


def jvm_heap_peak_mb(spark: Any) -> float:
    """The driver JVM's heap pools' peaks, summed (in local mode the executors run in it): an
    upper bound of the heap's peak, as the pools peak at different times."""
    factory = spark._jvm.java.lang.management.ManagementFactory
    heap = spark._jvm.java.lang.management.MemoryType.HEAP
    peak = sum(
        pool.getPeakUsage().getUsed()
        for pool in factory.getMemoryPoolMXBeans()
        if pool.getType().equals(heap)
    )
    return round(peak / 2**20, 1)
