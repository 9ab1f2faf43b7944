"""Benchmark harness: the whole suite at several sizes, beside its reference points.

    ./bench/run.sh [--sizes 100000,1000000,10000000] [--output bench/results]

For each size (cart lines; customers and products scaled from it) it generates the input once,
loads it into a fresh database and measures, in the same run and for the same rows:
  - raw COPY of the three input files into unindexed tables (the practical limit);
  - the cart lines read by Spark and cached, then written by Spark's JDBC writer with its
    defaults (the naive way), by the project's tuned JDBC writer and by its COPY writer;
  - the suite: read + validate, stage, merge per job, then the analytics refresh; the cart
    read + validate profiled layer by layer afterwards;
  - each analytics answer (its first page, as the report shows it, and all its rows), and the
    whole report (every view streamed to CSV, the tables' and charts' limited reads, the page);
  - incremental cart loads changing 1% of the lines: as a delta extract (only those lines)
    and as a full snapshot (every line, 1% of them changed), then the refresh that follows;
  - the database size and the peak memory (RSS) of the Spark driver JVM;
  - the peer a user would write instead (``bench/peer.py``: DuckDB, the same core transform,
    CSV and COPY into the same partitioned, indexed tables of a database of its own), timed
    before the suite; after the suite its tables are checked against the suite's (cart rows
    and sum(amount), every table's rows and content), and a difference is reported loudly;
  - the lake (``bench/lake.py``): the Iceberg tables written whole from what the suite loaded,
    against the cart's PostgreSQL stage, and the Parquet files' size against PostgreSQL's;
  - last, the retention run keeping 12 months online (every older month archived to Parquet,
    read back, checked and dropped; then the views refreshed), with the database size before
    and after, and the restore of one month.
Each size runs in a process of its own, so memory peaks are per size. Results go to
<output>/latest.json and latest.md; the ratios are printed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg2.errors  # noqa: E402
from psycopg2 import sql  # noqa: E402

from bench import index_use, lake, peer  # noqa: E402
from spark_etl.analytics.queries import fetch  # noqa: E402
from spark_etl.analytics.questions import QUESTIONS  # noqa: E402
from spark_etl.analytics.report.page import write_report  # noqa: E402
from spark_etl.analytics.report.section import TABLE_ROWS, report_section  # noqa: E402
from spark_etl.analytics.summaries import SUMMARIES  # noqa: E402
from spark_etl.config import Connection, connection_from_env, load_settings  # noqa: E402
from spark_etl.db import archives, postgres  # noqa: E402
from spark_etl.io import readers, writers  # noqa: E402
from spark_etl.local import datagen  # noqa: E402
from spark_etl.local.postgres import LocalPostgres  # noqa: E402
from spark_etl.runs import pipeline, retention  # noqa: E402
from spark_etl.runs.run_context import RunContext, entity_job  # noqa: E402
from spark_etl.transforms.columns import pack_raw  # noqa: E402

RAW_COLUMNS = {
    "customers": ("id", "name", "created_at"),
    "products": ("id", "name", "price", "sku", "created_at"),
    "carts": ("id", "product_id", "customer_id", "quantity", "created_at", "delete_at"),
}
CART_SCHEMA = (
    "id long, product_id long, customer_id long, quantity int, created_at timestamp, "
    "delete_at timestamp"
)
CART_COLUMNS_SQL = (
    "id bigint, product_id bigint, customer_id bigint, quantity integer, "
    "created_at timestamp, delete_at timestamp"
)
WRITERS_SCHEMA = "writer_baselines"
INCREMENTAL_SHARE = 100  # every 100th line changes: 1%


def _admin(connection: Connection) -> Any:
    conn = postgres.connect(connection, "public", 10)
    conn.autocommit = True
    return conn


def fresh_database(base: Connection, name: str) -> Connection:
    conn = _admin(base)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    return Connection(base.host, base.port, name, base.user, base.password)


def copy_baseline(connection: Connection, input_dir: Path) -> dict[str, float]:
    """COPY each CSV file, one connection, into an unindexed table of text columns."""
    seconds = {}
    conn = postgres.connect(connection, "public", 10)
    with conn.cursor() as cur:
        for stem, columns in RAW_COLUMNS.items():
            table = sql.Identifier(f"raw_{stem}")
            cur.execute(
                sql.SQL("CREATE UNLOGGED TABLE {} ({})").format(
                    table,
                    sql.SQL(", ").join(
                        sql.SQL("{} text").format(sql.Identifier(c)) for c in columns
                    ),
                )
            )
            conn.commit()
            started = time.perf_counter()
            with (input_dir / f"{stem}.csv").open("rb") as handle:
                cur.copy_expert(
                    sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv, HEADER true)")
                    .format(table)
                    .as_string(conn),
                    handle,
                    size=1 << 20,
                )
            conn.commit()
            seconds[stem] = time.perf_counter() - started
    conn.close()
    return seconds


def writer_baselines(
    spark: Any, connection: Connection, settings: Any, input_dir: Path
) -> dict[str, float]:
    """Read the cart lines (timed: Spark's read alone), then write the cached rows with JDBC
    defaults, with the project's tuned JDBC writer and with its COPY writer."""
    started = time.perf_counter()
    carts = (
        spark.read.option("header", True)
        .schema(CART_SCHEMA)
        .csv(str(input_dir / "carts.csv"))
        .cache()
    )
    carts.count()
    read = time.perf_counter() - started
    started = time.perf_counter()
    carts.write.jdbc(
        connection.jdbc_url,
        "jdbc_default_cart",
        mode="overwrite",
        properties=connection.jdbc_properties(10),
    )
    seconds = {"read_carts": read, "jdbc_default_write_carts": time.perf_counter() - started}
    # in a schema of their own, with the bookkeeping the COPY writer keeps of its attempts
    conn = postgres.connect(connection, "public", 10)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(WRITERS_SCHEMA))
        )
    postgres.apply_schema(conn, WRITERS_SCHEMA)
    with conn.cursor() as cur:
        # the COPY writer tags each row with its task attempt, as in a staging table
        for writer, tag in (("jdbc", ""), ("copy", ", stage_attempt bigint")):
            cur.execute(
                sql.SQL("CREATE UNLOGGED TABLE {} ({}{})").format(
                    sql.Identifier(WRITERS_SCHEMA, f"{writer}_writer_cart"),
                    sql.SQL(CART_COLUMNS_SQL),
                    sql.SQL(tag),
                )
            )
    conn.commit()
    conn.close()
    db = settings.database.model_copy(update={"db_schema": WRITERS_SCHEMA})
    for writer in ("jdbc", "copy"):
        started = time.perf_counter()
        getattr(writers, f"{writer}_stage")(carts, f"{writer}_writer_cart", connection, db)
        seconds[f"{writer}_writer_carts"] = time.perf_counter() - started
    carts.unpersist()
    return seconds


def drop_database(base: Connection, name: str) -> None:
    conn = _admin(base)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.close()


def peer_run(connection: Connection, input_dir: Path, work: Path) -> dict[str, float]:
    """The peer's load (``bench/peer.py``) into its own fresh database, timed by phase; then a
    checkpoint, untimed, so that writing its pages out does not fall into the suite's time."""
    seconds = peer.load(connection, "public", input_dir, work)
    conn = _admin(connection)
    # a server of one's own (PGHOST) may not let the bench user checkpoint
    with conn.cursor() as cur, suppress(psycopg2.errors.InsufficientPrivilege):
        cur.execute("CHECKPOINT")
    conn.close()
    return seconds


def peer_check(
    connection: Connection, schema: str, peer_connection: Connection, size: int
) -> dict[str, Any]:
    """The peer's tables against the suite's: the cart's rows and sum(amount), and every
    table's rows and content; a difference is printed at once."""
    check = peer.compare(
        peer.fingerprint(connection, schema), peer.fingerprint(peer_connection, "public")
    )
    for line in peer_check_problems(check, size):
        print(line, file=sys.stderr, flush=True)
    return check


def peer_check_problems(check: dict[str, Any], size: int) -> list[str]:
    """What differs between the peer's tables and the suite's, loudly; nothing when equal."""
    suite, peer_found = check["suite"], check["peer"]
    problems = []
    if not check["cart_equal"]:
        problems.append(
            f"!!! PEER CHECK FAILED ({size:,} lines): cart rows {suite['rows']['cart']:,} "
            f"(suite) vs {peer_found['rows']['cart']:,} (peer), sum(amount) "
            f"{suite['cart_amount']} vs {peer_found['cart_amount']}: the ratios to the peer "
            "compare different work"
        )
    if not check["tables_equal"]:
        differing = [
            table
            for table in suite["rows"]
            if (suite["rows"][table], suite["content"][table])
            != (peer_found["rows"].get(table), peer_found["content"].get(table))
        ]
        problems.append(
            f"!!! PEER TABLES DIFFER ({size:,} lines) from the suite's in: " + ", ".join(differing)
        )
    return problems


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


def incremental_input(input_dir: Path, target: Path, *, delta: bool) -> int:
    """The cart extract with the quantity of every 100th line changed: only those lines
    (``delta``) or every line (a full snapshot)."""
    target.mkdir(parents=True, exist_ok=True)
    changed = 0
    with (
        (input_dir / "carts.csv").open(encoding="utf-8", newline="") as source,
        (target / "carts.csv").open("w", encoding="utf-8", newline="") as sink,
    ):
        reader, writer = csv.reader(source), csv.writer(sink, lineterminator="\n")
        writer.writerow(next(reader))
        for number, row in enumerate(reader):
            if number % INCREMENTAL_SHARE == 0:
                row[3] = str(int(row[3]) + 1)
                changed += 1
            elif delta:
                continue
            writer.writerow(row)
    return changed


def nightly_input(input_dir: Path, target: Path) -> int:
    """The next night's cart extract: 1% new lines (every 100th line of the input, given a new
    id after the largest and moved to the day after the input's last line, its time of day
    kept; its broken lines stay broken)."""
    target.mkdir(parents=True, exist_ok=True)
    with (input_dir / "carts.csv").open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        picked, largest, last = [], 0, ""
        for number, row in enumerate(reader):
            if row[0].isdigit():
                largest = max(largest, int(row[0]))
            if re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[4]):
                last = max(last, row[4])
            if number % INCREMENTAL_SHARE == 0:
                picked.append(row)
    next_day = (datetime.fromisoformat(last[:10]) + timedelta(days=1)).date().isoformat()
    with (target / "carts.csv").open("w", encoding="utf-8", newline="") as sink:
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(header)
        for offset, row in enumerate(picked, start=1):
            moved = next_day + row[4][10:] if re.match(r"\d{4}-\d\d-\d\d ", row[4]) else row[4]
            writer.writerow([str(largest + offset), *row[1:4], moved, ""])
    return len(picked)


def nightly_run(connection: Connection, input_dir: Path, work: Path, size: int) -> dict[str, Any]:
    """The nightly increment as a user's schedule runs it: 1% new lines loaded by the cart job
    alone, in a process of its own (``spark-etl load cart_data_transform``: the JVM's start,
    the read, the load and the analytics refresh that follows it), timed from outside."""
    folder = work / f"nightly-{size}"
    if not (folder / "carts.csv").is_file():
        nightly_input(input_dir, folder)
    summary = work / f"nightly-{size}.json"
    env = {
        **os.environ,
        "PGHOST": connection.host,
        "PGPORT": str(connection.port),
        "PGDATABASE": connection.database,
        "PGUSER": connection.user,
    }
    if connection.password is not None:
        env["PGPASSWORD"] = connection.password
    command = [sys.executable, "-m", "spark_etl", "load", "cart_data_transform"]
    command += ["--input-dir", str(folder), "--as-of", "2030-01-01T00:00:00"]
    command += ["--summary-json", str(summary)]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    run = json.loads(summary.read_text(encoding="utf-8"))["runs"][0]
    return {
        "seconds": seconds,
        "lines": run["counts"]["read"],
        "loaded": run["counts"]["loaded"],
        "phase_seconds": run["seconds"],
    }


def _database_mb(connection: Connection) -> float:
    conn = postgres.connect(connection, "public", 10)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database()) AS size")
        size = round(cur.fetchone()["size"] / 2**20, 1)
    conn.close()
    return size


def bulk_load_limit(connection: Connection, schema: str, work: Path) -> dict[str, float]:
    """The merge's practical limit: the model's cart rows COPYed into an unindexed copy of
    the partitioned cart table (same months and hash leaves), then its indexes built and its
    foreign keys checked. The rows are exported first, untimed."""
    conn = postgres.connect(connection, schema, 10)
    export = work / "bulk-limit-cart.bin"
    cur = conn.cursor()
    with export.open("wb") as handle:
        cur.copy_expert("COPY (SELECT * FROM cart) TO STDOUT (FORMAT binary)", handle)
    cur.execute("DROP SCHEMA IF EXISTS bulk_limit CASCADE")
    cur.execute("CREATE SCHEMA bulk_limit")
    cur.execute(
        "CREATE TABLE bulk_limit.cart (LIKE cart INCLUDING DEFAULTS) PARTITION BY "
        + _one(cur, "SELECT pg_get_partkeydef('cart'::regclass) AS d")
    )
    # every partition, parents before children, with its bounds and its own partitioning
    cur.execute(
        """
        WITH RECURSIVE tree AS (
            SELECT inhrelid AS child, inhparent AS parent, 1 AS depth FROM pg_inherits
            WHERE inhparent = 'cart'::regclass
            UNION ALL
            SELECT i.inhrelid, i.inhparent, t.depth + 1 FROM pg_inherits i
            JOIN tree t ON i.inhparent = t.child
        )
        SELECT c.relname AS name, p.relname AS parent,
               pg_get_expr(c.relpartbound, c.oid) AS bound,
               CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partitioning
        FROM tree t JOIN pg_class c ON c.oid = t.child JOIN pg_class p ON p.oid = t.parent
        ORDER BY t.depth, c.relname
        """
    )
    for part in cur.fetchall():
        statement = (
            sql.SQL("CREATE TABLE {} PARTITION OF {} ")
            .format(
                sql.Identifier("bulk_limit", part["name"]),
                sql.Identifier("bulk_limit", part["parent"]),
            )
            .as_string(conn)
            + part["bound"]
        )
        if part["partitioning"]:
            statement += " PARTITION BY " + part["partitioning"]
        cur.execute(statement)
    cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'cart'",
        (schema,),
    )
    indexes = [
        re.sub(r" ON (ONLY )?\S+ ", " ON bulk_limit.cart ", row["indexdef"], count=1)
        for row in cur.fetchall()
    ]
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint "
        "WHERE conrelid = 'cart'::regclass AND contype = 'f'"
    )
    foreign_keys = [row["definition"] for row in cur.fetchall()]
    # the COPY in the transaction that created the tables, as a bulk load would run it: under
    # wal_level = minimal (the embedded server) its rows are then synced at commit, not logged
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with export.open("rb") as handle:
        cur.copy_expert("COPY bulk_limit.cart FROM STDIN (FORMAT binary)", handle, size=1 << 20)
    conn.commit()
    seconds["copy"] = time.perf_counter() - started
    started = time.perf_counter()
    for statement in indexes:
        cur.execute(statement)
    for definition in foreign_keys:  # referenced tables resolve in the model's schema
        cur.execute("ALTER TABLE bulk_limit.cart ADD " + definition)
    conn.commit()
    seconds["indexes_and_keys"] = time.perf_counter() - started
    cur.execute("DROP SCHEMA bulk_limit CASCADE")
    conn.commit()
    conn.close()
    export.unlink()
    return seconds


def _one(cur: Any, query: str) -> Any:
    cur.execute(query)
    return next(iter(cur.fetchone().values()))


def _jvm_heap_peak_mb(spark: Any) -> float:
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


def retention_run(spark: Any, ctx: RunContext, archive_dir: Path) -> dict[str, Any]:
    """What the retention job does with cart_months 12 (archive, check, drop every older
    month, then refresh the views), timed; then one month restored."""
    shutil.rmtree(archive_dir, ignore_errors=True)
    archive_dir.mkdir(parents=True)
    db = ctx.settings.database
    entity = ctx.model.entity("cart")
    result: dict[str, Any] = {"database_mb_before": _database_mb(ctx.connection)}
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
    result["database_mb_after"] = _database_mb(ctx.connection)
    month = done[len(done) // 2].batch.period
    started = time.perf_counter()
    restored = retention.restore(spark, conn, ctx.connection, db, entity, month, run_id)
    result["restore_seconds"] = time.perf_counter() - started
    result["restore_rows"] = restored.rows
    conn.close()
    return result


def run_one(size: int, input_dir: Path, work: Path) -> dict[str, Any]:
    from spark_etl.spark.session import build_session

    base = connection_from_env()
    connection = fresh_database(base, f"bench_{size}")
    settings = load_settings()
    settings = settings.model_copy(
        update={
            "spark": settings.spark.model_copy(
                update={
                    "master": "local[2]",
                    "ui_enabled": False,
                    "log_level": "ERROR",
                    "driver_memory": os.environ.get("BENCH_DRIVER_MEMORY", "8g"),
                }
            )
        }
    )
    result: dict[str, Any] = {"size": size}
    result["copy"] = copy_baseline(connection, input_dir)
    peer_connection = fresh_database(base, f"bench_{size}_peer")
    result["peer"] = peer_run(peer_connection, input_dir, work / f"peer-{size}")
    spark = build_session(settings.spark, settings.database.jdbc_jar)
    jvm_pid = spark._jvm.java.lang.ProcessHandle.current().pid()
    result["spark_reference"] = writer_baselines(spark, connection, settings, input_dir)
    ctx = RunContext(settings, connection, str(input_dir), datetime(2030, 1, 1))
    schema = settings.database.db_schema
    scans = [index_use.index_scans(connection, schema)]  # taken between the phases
    started = time.perf_counter()
    result["suite"] = suite(spark, ctx)
    result["suite_seconds"] = time.perf_counter() - started
    result["peer_check"] = peer_check(
        connection, settings.database.db_schema, peer_connection, size
    )
    drop_database(base, peer_connection.database)
    result["read_validate_profile"] = read_validate_profile(spark, ctx)
    scans.append(index_use.index_scans(connection, schema))
    result["lake"] = lake.measure(spark, ctx, work / f"lake-{size}")
    scans.append(index_use.index_scans(connection, schema))
    result["bulk_limit"] = bulk_load_limit(connection, settings.database.db_schema, work)
    result["analytics_query_seconds"] = analytics_queries(ctx)
    result["report_seconds"] = report_seconds(ctx, work / f"report-{size}")
    scans.append(index_use.index_scans(connection, schema))
    for kind in ("delta", "snapshot"):
        folder = work / f"incremental-{kind}-{size}"
        if not (folder / "carts.csv").is_file():
            incremental_input(input_dir, folder, delta=kind == "delta")
        started = time.perf_counter()
        pipeline.load_entity(
            spark,
            RunContext(settings, connection, str(folder), datetime(2030, 1, 1)),
            entity_job(ctx.model.entity("cart")),
            [],
        )
        result[f"incremental_{kind}_cart_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    result["incremental_view_seconds"] = {}
    pipeline.refresh_analytics(ctx, result["incremental_view_seconds"])
    result["incremental_refresh_seconds"] = time.perf_counter() - started
    result["nightly"] = nightly_run(connection, input_dir, work, size)
    scans.append(index_use.index_scans(connection, schema))
    status = Path(f"/proc/{jvm_pid}/status").read_text(encoding="utf-8")
    peak_kb = next(
        int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")
    )
    result["driver_peak_rss_mb"] = round(peak_kb / 1024, 1)
    result["driver_heap_peak_mb"] = _jvm_heap_peak_mb(spark)
    result["database_mb"] = _database_mb(connection)
    result["retention"] = retention_run(spark, ctx, work / f"archive-{size}")
    scans.append(index_use.index_scans(connection, schema))
    result["cart_index_scans"] = index_use.per_phase(scans)
    spark.stop()
    return result


TARGETS = {  # issue #6, on a 2-core machine
    "stage_vs_copy_throughput": ">= 0.7",
    "stage_vs_default_jdbc_speed": ">= 2.5",
    "suite_vs_copy_time": "<= 6",
    "incremental_delta_vs_full_cart": "<= 0.2",
    "slowest_answer_seconds": "< 1",
    "suite_vs_peer": "<= 2.5",  # issue #28
}


def ratios(result: dict[str, Any]) -> dict[str, float | None]:
    carts = result["suite"]["jobs"]["cart_data_transform"]
    copy_total = sum(result["copy"].values())
    answers = result["analytics_query_seconds"]
    return {
        "stage_vs_copy_throughput": result["copy"]["carts"] / carts["stage"],
        "stage_vs_default_jdbc_speed": result["spark_reference"]["jdbc_default_write_carts"]
        / carts["stage"],
        "suite_vs_copy_time": result["suite_seconds"] / copy_total,
        "incremental_delta_vs_full_cart": result["incremental_delta_cart_seconds"] / carts["total"],
        "incremental_snapshot_vs_full_cart": result["incremental_snapshot_cart_seconds"]
        / carts["total"],
        "slowest_answer_seconds": max(answers["first_page"].values()),
        "slowest_full_answer_seconds": max(answers["all_rows"].values()),
        **peer_ratios(result),
    }


def peer_ratios(result: dict[str, Any]) -> dict[str, float | None]:
    """The suite's time over the peer's (None: a run without the peer), with and without the
    suite's analytics refresh (the peer has none)."""
    if "peer" not in result:
        return {"suite_vs_peer": None, "suite_without_refresh_vs_peer": None}
    without_refresh = result["suite_seconds"] - result["suite"]["analytics_refresh"]
    return {
        "suite_vs_peer": result["suite_seconds"] / result["peer"]["total"],
        "suite_without_refresh_vs_peer": without_refresh / result["peer"]["total"],
    }


# issue #14's targets: (label, ratio key, target, the size it is judged at)
ISSUE_14_TARGETS = (
    (
        "cart read + validate ÷ plain Spark read of the file",
        "read_validate_vs_spark_read",
        "<= 1.5",
    ),
    ("stage throughput ÷ raw COPY throughput", "stage_vs_copy_throughput", ">= 0.7"),
    ("cart merge ÷ bulk-load limit", "merge_vs_bulk_limit", "<= 1.5"),
    ("analytics refresh after a full load ÷ cart load", "refresh_vs_cart_load", "<= 0.3"),
    (
        "analytics refresh after a 1% increment ÷ full refresh",
        "incremental_refresh_vs_full",
        "<= 0.1",
    ),
    (
        "full snapshot with 1% changed ÷ full cart load",
        "incremental_snapshot_vs_full_cart",
        "<= 0.3",
    ),
    ("whole suite ÷ raw COPY of the input files", "suite_vs_copy_time", "<= 15 (<= 20 at 1M)"),
)


# issue #28's targets, judged at the largest size (10M lines)
ISSUE_28_TARGETS = (
    (
        "nightly increment (1% new lines, the cart job alone in its own process: JVM start, "
        "load, refresh) ÷ whole suite",
        "nightly_vs_suite",
        "<= 0.08",
    ),
    (
        "analytics refresh after a 1% increment ÷ full refresh",
        "incremental_refresh_vs_full",
        "<= 0.1",
    ),
    ("analytics refresh after a full load ÷ cart load", "refresh_vs_cart_load", "<= 0.25"),
    (
        "cart read + validate ÷ plain Spark read of the file",
        "read_validate_vs_spark_read",
        "<= 1.5",
    ),
    ("cart merge ÷ bulk-load limit", "merge_vs_bulk_limit", "<= 1.2"),
    ("whole suite ÷ raw COPY of the input files", "suite_vs_copy_time", "<= 15 (<= 20 at 1M)"),
    ("whole suite ÷ the DuckDB peer, same run", "suite_vs_peer", "<= 2.5"),
)


def issue_14_ratios(result: dict[str, Any]) -> dict[str, float | None]:
    """The ratios issues #14 and #28 set targets for (None: not measured by that run's
    harness)."""
    carts = result["suite"]["jobs"]["cart_data_transform"]
    limit = result.get("bulk_limit")
    cart_load = carts["read_validate"] + carts["stage"] + carts["merge"]
    return {
        **ratios(result),
        "read_validate_vs_spark_read": carts["read_validate"]
        / result["spark_reference"]["read_carts"],
        "merge_vs_bulk_limit": carts["merge"] / sum(limit.values()) if limit else None,
        "refresh_vs_cart_load": result["suite"]["analytics_refresh"] / cart_load,
        "incremental_refresh_vs_full": result["incremental_refresh_seconds"]
        / result["suite"]["analytics_refresh"],
        "nightly_vs_suite": result["nightly"]["seconds"] / result["suite_seconds"]
        if "nightly" in result
        else None,
    }


def issue_14_table(
    results: list[dict[str, Any]],
    before: list[dict[str, Any]],
    targets: tuple[tuple[str, str, str], ...] = ISSUE_14_TARGETS,
) -> list[str]:
    """An issue's targets: the figures before it (``before``) and now, size by size."""
    sizes = [r["size"] for r in results]
    then = {r["size"]: issue_14_ratios(r) for r in before}
    now = {r["size"]: issue_14_ratios(r) for r in results}
    header = ["measure", "target"]
    for size in sizes:
        header += [f"before, {size:,}", f"now, {size:,}"]
    lines = [_row(*header), _row("---", *["---:"] * (len(header) - 1))]
    for label, key, target in targets:
        cells = [label, target]
        for size in sizes:
            for figures in (then.get(size), now[size]):
                value = figures.get(key) if figures else None
                cells.append("—" if value is None else f"{value:.2f}")
        lines.append(_row(*cells))
    return lines


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown(
    results: list[dict[str, Any]],
    machine: str,
    before: dict[str, Any] | None = None,
    code: str = "",
    before_28: dict[str, Any] | None = None,
) -> str:
    """``before``, ``before_28``: the runs of ``before-issue-14.json`` and
    ``before-issue-28.json`` (each its machine, code and results)."""
    times = (
        "cart lines",
        "COPY all files (s)",
        "COPY carts (s)",
        "Spark read carts (s)",
        "default JDBC write (s)",
        "tuned JDBC write (s)",
        "COPY writer (s)",
        "read+validate (s)",
        "stage (s)",
        "merge (s)",
        "analytics refresh (s)",
        "suite (s)",
        "DuckDB peer (s)",
        "rows/s (suite)",
        "driver peak RSS (MB)",
        "DB size (MB)",
    )
    targets = (
        "cart lines",
        "stage ÷ COPY throughput",
        "stage × default JDBC",
        "suite ÷ COPY time",
        "suite ÷ peer",
        "suite without its analytics refresh ÷ peer",
        "delta 1% ÷ full cart load",
        "snapshot 1% ÷ full cart load",
        "delta load (s)",
        "snapshot load (s)",
        "refresh after (s)",
        "slowest answer, first page (s)",
        "slowest answer, all rows (s)",
        "whole report (s)",
    )
    lines = [
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
        + (f" of the code of {code}" if code else "")
        + f" on {machine}.",
        "",
        "Times (the three writer columns write the same cached cart rows into unindexed tables):",
        "",
        _row(*times),
        _row(*["---:"] * len(times)),
    ]
    for r in results:
        jobs = r["suite"]["jobs"].values()
        ref = r["spark_reference"]
        rows_total = r["size"] + r["size"] // 20 + r["size"] // 100
        lines.append(
            _row(
                f"{r['size']:,}",
                f"{sum(r['copy'].values()):.1f}",
                f"{r['copy']['carts']:.1f}",
                f"{ref['read_carts']:.1f}",
                f"{ref['jdbc_default_write_carts']:.1f}",
                f"{ref['jdbc_writer_carts']:.1f}",
                f"{ref['copy_writer_carts']:.1f}",
                f"{sum(j['read_validate'] for j in jobs):.1f}",
                f"{sum(j['stage'] for j in jobs):.1f}",
                f"{sum(j['merge'] for j in jobs):.1f}",
                f"{r['suite']['analytics_refresh']:.1f}",
                f"{r['suite_seconds']:.1f}",
                f"{r['peer']['total']:.1f}" if "peer" in r else "",
                f"{rows_total / r['suite_seconds']:,.0f}",
                f"{r['driver_peak_rss_mb']:,.0f}",
                f"{r['database_mb']:,.0f}",
            )
        )
    target_row = {
        "stage ÷ COPY throughput": TARGETS["stage_vs_copy_throughput"],
        "stage × default JDBC": TARGETS["stage_vs_default_jdbc_speed"],
        "suite ÷ COPY time": TARGETS["suite_vs_copy_time"],
        "suite ÷ peer": TARGETS["suite_vs_peer"],
        "delta 1% ÷ full cart load": TARGETS["incremental_delta_vs_full_cart"],
        "slowest answer, first page (s)": TARGETS["slowest_answer_seconds"],
    }
    lines += [
        "",
        "Ratios against the same run's reference points, and the targets:",
        "",
        _row(*targets),
        _row(*["---:"] * len(targets)),
        _row("target", *[target_row.get(name, "") for name in targets[1:]]),
    ]
    for r in results:
        q = ratios(r)
        lines.append(
            _row(
                f"{r['size']:,}",
                f"{q['stage_vs_copy_throughput']:.2f}",
                f"{q['stage_vs_default_jdbc_speed']:.2f}",
                f"{q['suite_vs_copy_time']:.1f}",
                _ratio(q["suite_vs_peer"]),
                _ratio(q["suite_without_refresh_vs_peer"]),
                f"{q['incremental_delta_vs_full_cart']:.2f}",
                f"{q['incremental_snapshot_vs_full_cart']:.2f}",
                f"{r['incremental_delta_cart_seconds']:.1f}",
                f"{r['incremental_snapshot_cart_seconds']:.1f}",
                f"{r['incremental_refresh_seconds']:.1f}",
                f"{q['slowest_answer_seconds']:.3f}",
                f"{q['slowest_full_answer_seconds']:.3f}",
                f"{r['report_seconds']:.1f}" if "report_seconds" in r else "",
            )
        )
    lines += peer_section(results)
    lines += lake.section(results)
    lines += index_use.section(results)
    if before:
        same = "the same machine" if before["machine"] == machine else f"on {before['machine']}"
        lines += [
            "",
            "Issue #14's targets: the ratios of the run before it (`before-issue-14.json`: the "
            f"code of {before.get('revision', 'an earlier revision')}, {same}) and of this run:",
            "",
            *issue_14_table(results, before["results"]),
        ]
    if before_28:
        same = (
            "the same machine" if before_28["machine"] == machine else f"on {before_28['machine']}"
        )
        lines += [
            "",
            "Issue #28's targets: the ratios of a run before it (`before-issue-28.json`: the "
            f"code of {before_28.get('revision', 'an earlier revision')}, {same}, another day) "
            "and of this run (the nightly increment was not measured before):",
            "",
            *issue_14_table(results, before_28["results"], ISSUE_28_TARGETS),
        ]
    profiled = [r for r in results if "read_validate_profile" in r]
    if profiled:
        columns = (
            "cart lines",
            "Spark read, typed, cached (s)",
            "read + pack (s)",
            "+ rules, lookups (s)",
            "+ cache, duplicates, counts (s)",
            "read + validate (s)",
        )
        lines += [
            "",
            "Where the cart read + validate goes: the source read and packed, then every rule "
            "and lookup checked (each a pass to Spark's no-op sink, after the suite, the JVM "
            "warm), then the load's own read + validate (timed in the suite), which also caches "
            "the checked rows, finds duplicates and counts. From the third column on, each adds "
            "to the one before it; the first is the plain read the target compares with:",
            "",
            _row(*columns),
            _row(*["---:"] * len(columns)),
        ]
        for r in profiled:
            layers = r["read_validate_profile"]
            loaded = r["suite"]["jobs"]["cart_data_transform"]["read_validate"]
            lines.append(
                _row(
                    f"{r['size']:,}",
                    f"{r['spark_reference']['read_carts']:.1f}",
                    f"{layers['read']:.1f}",
                    f"{layers['read_and_check'] - layers['read']:.1f}",
                    f"{loaded - layers['read_and_check']:.1f}",
                    f"{loaded:.1f}",
                )
            )
    views = [r for r in results if "view_seconds" in r["suite"]]
    if views:
        full, after = views[-1]["suite"]["view_seconds"], views[-1]["incremental_view_seconds"]
        slowest = sorted(full, key=lambda name: full[name] + after.get(name, 0), reverse=True)[:8]
        columns = ("view", *[f"{r['size']:,} full (s)" for r in views])
        columns += tuple(f"{r['size']:,} after 1% (s)" for r in views)
        lines += [
            "",
            "Where the analytics refresh goes (the slowest steps at the largest size, both "
            "refreshes together): after the first load, every view built; after the 1% delta "
            f"and snapshot loads, the cart summaries (`{SUMMARIES}`) updated "
            "from the logged changes, and every materialized view. Two steps run at a time "
            "(`database.refresh_connections`; the summaries beside the views over `cart` "
            "itself): a step's time is its wall time, the cores shared with the step beside "
            "it, so the times add up to more than the refresh:",
            "",
            _row(*columns),
            _row("---", *["---:"] * (len(columns) - 1)),
        ]
        for name in slowest:
            cells = [f"{r['suite']['view_seconds'].get(name, 0):.1f}" for r in views]
            cells += [f"{r['incremental_view_seconds'].get(name, 0):.1f}" for r in views]
            lines.append(_row(name, *cells))
        limits = [r for r in views if "bulk_limit" in r]
        lines += [
            "",
            "Bulk-load limit of the cart merge (COPY of the model's cart rows into an unindexed "
            "copy of the partitioned table, then its indexes and foreign keys) and memory:",
            "",
            _row(
                "cart lines",
                "merge (s)",
                "limit: COPY (s)",
                "limit: indexes + keys (s)",
                "driver peak RSS (MB)",
                "heap pools' peaks, summed (MB)",
            ),
            _row(*["---:"] * 6),
        ]
        for r in limits:
            lines.append(
                _row(
                    f"{r['size']:,}",
                    f"{r['suite']['jobs']['cart_data_transform']['merge']:.1f}",
                    f"{r['bulk_limit']['copy']:.1f}",
                    f"{r['bulk_limit']['indexes_and_keys']:.1f}",
                    f"{r['driver_peak_rss_mb']:,.0f}",
                    f"{r.get('driver_heap_peak_mb', 0):,.0f}",
                )
            )
    retained = [r for r in results if "retention" in r]
    if retained:
        columns = (
            "cart lines",
            "months archived",
            "rows archived",
            "archive + check + drop (s)",
            "rows/s archived",
            "refresh after (s)",
            "DB before (MB)",
            "DB after (MB)",
            "PostgreSQL archived (MB)",
            "Parquet (MB)",
            "restore 1 month (s)",
            "rows/s restored",
        )
        lines += [
            "",
            "Retention (cart_months 12: every older month to Parquet, read back, checked, "
            "dropped), then one month restored:",
            "",
            _row(*columns),
            _row(*["---:"] * len(columns)),
        ]
        for r in retained:
            k = r["retention"]
            lines.append(
                _row(
                    f"{r['size']:,}",
                    str(k["months"]),
                    f"{k['rows']:,}",
                    f"{k['archive_seconds']:.1f}",
                    f"{k['rows'] / k['archive_seconds']:,.0f}",
                    f"{k['refresh_seconds']:.1f}",
                    f"{k['database_mb_before']:,.0f}",
                    f"{k['database_mb_after']:,.0f}",
                    f"{k['postgresql_mb_archived']:,.0f}",
                    f"{k['parquet_mb']:,.0f}",
                    f"{k['restore_seconds']:.1f}",
                    f"{k['restore_rows'] / k['restore_seconds']:,.0f}",
                )
            )
    if len(results) > 1:
        first, last = results[-2], results[-1]
        growth = (last["suite_seconds"] / first["suite_seconds"]) / (last["size"] / first["size"])
        lines += [
            "",
            f"Growth {first['size']:,} -> {last['size']:,} lines: suite time x"
            f"{last['suite_seconds'] / first['suite_seconds']:.2f} for x{last['size'] / first['size']:.0f} "
            f"the rows ({growth:.2f} of linear; target <= 1).",
        ]
    return "\n".join(lines) + "\n"


def peer_section(results: list[dict[str, Any]]) -> list[str]:
    """The peer's phases, and its tables checked against the suite's."""
    measured = [r for r in results if "peer" in r]
    if not measured:
        return []
    columns = (
        "cart lines",
        "DuckDB: read, transform, CSV (s)",
        "tables, partitions, COPY (s)",
        "ANALYZE of the cart's leaves (s)",
        "cart key, indexes, foreign keys (s)",
        "peer (s)",
        "cart rows, suite",
        "cart rows, peer",
        "sum(amount), suite",
        "sum(amount), peer",
        "check",
    )
    lines = [
        "",
        "The peer a user would write instead (`bench/peer.py`: DuckDB reads the three files with "
        "explicit types, applies the same SKU split, price in force and amounts, writes CSV and "
        "COPYs into the same tables, partitions, keys and indexes, in a database of its own; no "
        "validation, audit or analytics), timed before the suite; then its tables against the "
        "suite's (cart rows and sum(amount); the check also compares every table's rows and "
        "content):",
        "",
        _row(*columns),
        _row(*["---:"] * (len(columns) - 1), "---"),
    ]
    for r in measured:
        phases, check = r["peer"], r.get("peer_check")
        if check is None:
            found = ["", "", "", "", "not checked"]
        else:
            verdict = "equal" if check["cart_equal"] else "**DIFFERENT**"
            if check["cart_equal"] and not check["tables_equal"]:
                verdict += ", **other tables differ**"
            elif check["tables_equal"]:
                verdict += ", every table the same"
            found = [
                f"{check['suite']['rows']['cart']:,}",
                f"{check['peer']['rows']['cart']:,}",
                check["suite"]["cart_amount"],
                check["peer"]["cart_amount"],
                verdict,
            ]
        lines.append(
            _row(
                f"{r['size']:,}",
                f"{phases['transform']:.1f}",
                f"{phases['copy']:.1f}",
                f"{phases['analyze']:.1f}",
                f"{phases['keys_and_indexes']:.1f}",
                f"{phases['total']:.1f}",
                *found,
            )
        )
    return lines


@contextmanager
def throwaway_postgres(prefix: str, port: int) -> Iterator[None]:
    """A PostgreSQL of its own for the block (its PG* variables set), unless PGHOST names one;
    stopped and removed when the block ends."""
    if os.environ.get("PGHOST"):
        yield
        return
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o755)
    server = LocalPostgres(base / "pg", port)
    server.start()
    os.environ.update(server.environment)
    try:
        yield
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--work", type=Path, default=REPO / ".local" / "bench")
    parser.add_argument(
        "--port", type=int, default=54399, help="the throwaway PostgreSQL's port (default 54399)"
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(run_one(args.one, args.work / f"input-{args.one}", args.work)))
        return 0

    results = []
    problems: list[str] = []
    with throwaway_postgres("spark-etl-bench-pg-", args.port):
        for size in [int(text) for text in args.sizes.split(",")]:
            input_dir = args.work / f"input-{size}"
            if not (input_dir / "carts.csv").is_file():
                print(f"generating {size:,} cart lines ...", file=sys.stderr, flush=True)
                datagen.generate(
                    input_dir, datagen.DataSpec.scaled(size, seed=1, broken_fraction=0.0)
                )
            print(f"measuring {size:,} cart lines ...", file=sys.stderr, flush=True)
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(size), "--work", str(args.work)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                print(done.stderr[-4000:], file=sys.stderr)
                return 1
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(ratios(results[-1]), indent=1), file=sys.stderr, flush=True)
            problems += peer_check_problems(results[-1]["peer_check"], size)
            write_results(args.output, results)  # after every size: a later failure keeps these
    print(write_results(args.output, results))
    for line in problems:  # last, where nobody scrolls past them; and the run fails
        print(line, file=sys.stderr)
    return 1 if problems else 0


def revision() -> str:
    """The measured code's commit (and ``+changes`` when the work tree differs from it)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def write_results(output: Path, results: list[dict[str, Any]]) -> str:
    machine = f"{platform.node()}, {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}"
    output.mkdir(parents=True, exist_ok=True)
    run = {
        "machine": machine,
        "revision": revision(),
        "results": results,
        "ratios": {str(r["size"]): ratios(r) for r in results},
    }
    (output / "latest.json").write_text(json.dumps(run, indent=1), encoding="utf-8")
    before_file = output / "before-issue-14.json"
    before = json.loads(before_file.read_text(encoding="utf-8")) if before_file.is_file() else None
    before_28_file = output / "before-issue-28.json"
    before_28 = (
        json.loads(before_28_file.read_text(encoding="utf-8")) if before_28_file.is_file() else None
    )
    table = markdown(results, machine, before, run["revision"], before_28)
    (output / "latest.md").write_text(table, encoding="utf-8")
    return table


if __name__ == "__main__":
    sys.exit(main())
