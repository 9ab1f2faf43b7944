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
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


from bench import index_use, lake  # noqa: E402
from bench.baselines import (  # noqa: E402
    bulk_load_limit,
    copy_baseline,
    peer_check,
    peer_check_problems,
    peer_run,
    writer_baselines,
)
from bench.databases import database_mb, drop_database, fresh_database, throwaway_postgres  # noqa: E402
from bench.inputs import incremental_input  # noqa: E402
from bench.phases import (  # noqa: E402
    analytics_queries,
    jvm_heap_peak_mb,
    nightly_run,
    read_validate_profile,
    report_seconds,
    retention_run,
    suite,
)
from bench.ratios import ratios  # noqa: E402
from bench.results_md import markdown  # noqa: E402
from spark_etl.config import connection_from_env, load_settings  # noqa: E402
from spark_etl.local import datagen  # noqa: E402
from spark_etl.runs import pipeline  # noqa: E402
from spark_etl.runs.run_context import RunContext, entity_job  # noqa: E402


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
    result["driver_heap_peak_mb"] = jvm_heap_peak_mb(spark)
    result["database_mb"] = database_mb(connection)
    result["retention"] = retention_run(spark, ctx, work / f"archive-{size}")
    scans.append(index_use.index_scans(connection, schema))
    result["cart_index_scans"] = index_use.per_phase(scans)
    spark.stop()
    return result


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
