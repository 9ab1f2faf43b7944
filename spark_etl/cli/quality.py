"""``spark-etl quality``: the recent runs of the load jobs, their figures and what their
quality gates said; exit code 4 when the latest run of a job failed a gate (for monitoring)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from spark_etl.cli.printing import GATE_WORDS
from spark_etl.cli.shared import EXIT_QUALITY_GATE, common_arguments, entity_model
from spark_etl.config import connection_from_env, load_settings
from spark_etl.db import metrics, postgres
from spark_etl.quality.gates import percent

COLUMNS = (
    ("started_at", "started (UTC)"),
    ("extract", "extract"),
    ("status", "status"),
    ("rows_read", "read"),
    ("rows_loaded", "loaded"),
    ("set_aside", "set aside"),
    ("rows_duplicate", "duplicates"),
    ("rows_inserted", "new"),
    ("rows_updated", "changed"),
    ("rows_flagged", "flagged"),
    ("quality", "quality"),
)


def _cell(run: dict[str, Any], key: str) -> str:
    if key == "started_at":
        return f"{run[key]:%Y-%m-%d %H:%M:%S}"
    if key == "set_aside":
        if run["rows_rejected"] is None:
            return ""
        share = run["set_aside_share"]
        return f"{run['rows_rejected']:,}" + (f" ({percent(float(share))})" if share else "")
    if key == "extract" and run["backfill"]:
        return f"{run[key]} (backfill)"
    value = run[key]
    return f"{value:,}" if isinstance(value, int) else "" if value is None else str(value)


def render(runs: Sequence[dict[str, Any]], gates: Sequence[dict[str, Any]]) -> str:
    """Per job, its runs newest first, each followed by its gates' sentences."""
    said: dict[str, list[str]] = {}
    for gate in gates:
        said.setdefault(str(gate["run_id"]), []).append(
            f"    quality {GATE_WORDS[gate['verdict']]}: {gate['message']}"
        )
    blocks = []
    for job in dict.fromkeys(run["job"] for run in runs):
        rows, notes = [], []
        for run in (run for run in runs if run["job"] == job):
            rows.append([_cell(run, key) for key, _ in COLUMNS])
            notes.append(said.get(str(run["run_id"]), []))
            if run["status"] == "failed" and run["quality"] != "fail" and run["error_message"]:
                notes[-1].append(f"    {run['error_message']}")
        table = tabulate(rows, headers=[label for _, label in COLUMNS], disable_numparse=True)
        lines = table.splitlines()
        body = lines[:2]  # the headings and their rule, then each run with its notes
        for line, extra in zip(lines[2:], notes, strict=True):
            body += [line, *extra]
        blocks.append(f"{job}\n" + "\n".join(line.rstrip() for line in body))
    return "\n\n".join(blocks) if blocks else "No load has run yet."


def run_quality(argv: list[str]) -> int:
    """Print the recent runs; return 4 when the latest run of a job failed a gate."""
    parser = argparse.ArgumentParser(
        prog="quality",
        description="Print the recent runs of the load jobs with their figures and quality "
        "gates; exit 4 when the latest run of a job failed a gate.",
    )
    parser.add_argument("--job", default="all", help="a load job or entity (default: all)")
    parser.add_argument("--runs", type=int, default=5, help="runs per job (default 5)")
    common_arguments(parser)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    settings = load_settings(args.config)
    model = entity_model(settings, args.entities)
    jobs = [entity.job_name for entity in model.jobs[model.job_named(args.job)]]
    conn = postgres.open_model(connection_from_env(), settings.database)
    try:
        if not metrics.recorded(conn):  # a database no load reached: nothing to create here
            print("No load has run yet.")
            return 0
        runs = metrics.recent_runs(conn, jobs, args.runs)
        gates = metrics.gate_messages(conn, [str(run["run_id"]) for run in runs])
    finally:
        conn.close()
    print(render(runs, gates))
    latest = {run["job"]: run for run in reversed(runs)}  # newest last per job: wins
    failed = sorted(job for job, run in latest.items() if run["quality"] == "fail")
    if failed:
        print(f"\nThe latest run of {', '.join(failed)} failed a quality gate.")
        return EXIT_QUALITY_GATE
    return 0
