"""The runs' figures in ``etl_run_metric``: written in each load's transaction, read by the
row-count check (the history), the summary, the quality command and the report.

One row per measure of a run (``metric``, with ``detail`` naming the reason, flag, phase or
gate): a history a query can compare, such as last night's share set aside against the month
before (docs/quality.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2.extras

from spark_etl.quality.gates import GATE_ORDER, Check

# etl_run's columns, and the metric each count is recorded as
COUNTS = {
    "read": "rows_read",
    "loaded": "rows_loaded",
    "rejected": "rows_set_aside",
    "duplicate": "rows_duplicate",
    "inserted": "rows_inserted",
    "updated": "rows_updated",
    "flagged": "rows_flagged",
}


@dataclass
class RunFigures:
    """Everything one load measured, recorded together."""

    entity: str
    extract: str
    counts: dict[str, int | None]  # keys of COUNTS
    reasons: Mapping[str, int] = field(default_factory=dict)  # rows set aside per reason
    flags: Mapping[str, int] = field(default_factory=dict)  # rows flagged per flag
    seconds: Mapping[str, float] = field(default_factory=dict)  # per phase
    median: float | None = None  # rows read by the comparable earlier runs
    checks: Sequence[Check] = ()


def history(conn: Any, job: str, extract: str, runs: int, run_id: str) -> list[int]:
    """Rows read by the last ``runs`` successful runs of ``job`` on the same kind of extract,
    newest first, backfills left out (runs from before the gates count as snapshots)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT rows_read FROM etl_run WHERE job = %s AND status = 'succeeded' "
            "AND coalesce(extract, 'snapshot') = %s AND NOT coalesce(backfill, false) "
            "AND rows_read IS NOT NULL AND run_id <> %s ORDER BY started_at DESC LIMIT %s",
            (job, extract, run_id, runs),
        )
        return [int(row["rows_read"]) for row in cur.fetchall()]


def _rows(figures: RunFigures) -> list[tuple[Any, ...]]:
    """(metric, detail, value, warn_at, fail_at, verdict, message) of each measure."""
    rows: list[tuple[Any, ...]] = [
        (COUNTS[name], "", value, None, None, None, None)
        for name, value in figures.counts.items()
        if value is not None
    ]
    rows += [
        ("reason_rows", reason, n, None, None, None, None) for reason, n in figures.reasons.items()
    ]
    rows += [("flag_rows", flag, n, None, None, None, None) for flag, n in figures.flags.items()]
    read = figures.counts.get("read") or 0
    for phase, seconds in figures.seconds.items():
        rows.append(("seconds", phase, round(seconds, 3), None, None, None, None))
        if seconds > 0:
            rows.append(
                ("rows_per_second", phase, round(read / seconds, 1), None, None, None, None)
            )
    if figures.median is not None:
        rows.append(("rows_read_median", figures.extract, figures.median, None, None, None, None))
    for check in figures.checks:
        detail = f"{check.gate}:{check.detail}" if check.detail else check.gate
        rows.append(
            (
                "gate",
                detail,
                check.figure,
                check.warn_at,
                check.fail_at,
                check.verdict,
                check.message or None,
            )
        )
    return rows


def record(conn: Any, run_id: str, job: str, figures: RunFigures, quality: str | None) -> None:
    """Write a run's figures and its gates' verdict (``quality``: None when it has no gate),
    in the caller's transaction."""
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE etl_run SET quality = %s WHERE run_id = %s RETURNING started_at",
            (quality, run_id),
        )
        started_at = cur.fetchone()["started_at"]
        psycopg2.extras.execute_values(
            cur,
            "INSERT INTO etl_run_metric (run_id, job, entity, started_at, metric, detail, value, "
            "warn_at, fail_at, verdict, message) VALUES %s",
            [(run_id, job, figures.entity, started_at, *row) for row in _rows(figures)],
        )


def gate_messages(conn: Any, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The gates of these runs that did not pass (or could not judge), worst first per run."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT run_id, job, verdict, message FROM etl_run_metric "
            "WHERE run_id = ANY(CAST(%s AS uuid[])) AND metric = 'gate' AND message IS NOT NULL "
            "ORDER BY started_at, CASE verdict WHEN 'fail' THEN 0 WHEN 'warn' THEN 1 ELSE 2 END, "
            "array_position(%s, split_part(detail, ':', 1)), detail",
            (list(run_ids), list(GATE_ORDER)),
        )
        return list(cur.fetchall())


def gates(conn: Any, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every gate of these runs: figure, thresholds, verdict and sentence."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT run_id, detail, value, warn_at, fail_at, verdict, message FROM etl_run_metric "
            "WHERE run_id = ANY(CAST(%s AS uuid[])) AND metric = 'gate' "
            "ORDER BY started_at, array_position(%s, split_part(detail, ':', 1)), detail",
            (list(run_ids), list(GATE_ORDER)),
        )
        return list(cur.fetchall())


def recorded(conn: Any) -> bool:
    """Whether the audit tables with the figures exist (a load created them)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('etl_run_metric') IS NOT NULL AS present")
        present = bool(cur.fetchone()["present"])
    conn.rollback()
    return present


def recent_runs(conn: Any, jobs: Sequence[str], runs: int) -> list[dict[str, Any]]:
    """The last ``runs`` runs of each job, newest first per job, with their figures."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT r.run_id, r.job, r.started_at, r.status, r.extract, r.backfill, r.quality, "
            "r.rows_read, r.rows_loaded, r.rows_rejected, r.rows_duplicate, r.rows_inserted, "
            "r.rows_updated, r.rows_flagged, r.error_message, "
            "CAST(r.rows_rejected AS numeric) / nullif(r.rows_read, 0) AS set_aside_share "
            "FROM (SELECT *, row_number() OVER (PARTITION BY job ORDER BY started_at DESC) AS n "
            "      FROM etl_run WHERE job = ANY(%s)) r "
            "WHERE r.n <= %s ORDER BY r.job, r.started_at DESC",
            (list(jobs), runs),
        )
        return list(cur.fetchall())
