"""What the commands print: the run summary table and the retention plan."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from tabulate import tabulate

from spark_etl.db.archives import Plan

SUMMARY_COLUMNS = (
    ("job", "job"),
    ("status", "status"),
    ("rows_read", "read"),
    ("rows_loaded", "loaded"),
    ("rows_rejected", "set aside"),
    ("rows_duplicate", "duplicates"),
    ("rows_inserted", "new"),
    ("rows_updated", "changed"),
    ("rows_flagged", "flagged"),
    ("quality", "quality"),
)


def format_summary(rows: list[dict[str, object]], gates: Sequence[dict[str, object]] = ()) -> str:
    """The runs' table, then what their quality gates said (``gates``: the ones that did not
    pass), then why any other run failed."""
    # the quality column only when a run had gates to pass
    columns = [
        c for c in SUMMARY_COLUMNS if c[0] != "quality" or any(r.get("quality") for r in rows)
    ]
    table = tabulate(
        [["" if row[key] is None else str(row[key]) for key, _ in columns] for row in rows],
        headers=[label for _, label in columns],
        disable_numparse=True,  # counts as PostgreSQL gave them, left-aligned like the headers
        stralign="left",
    )
    lines = [line.rstrip() for line in table.splitlines()]
    said = [f"quality {GATE_WORDS[str(gate['verdict'])]}: {gate['message']}" for gate in gates]
    failures = [
        f"{row['job']}: {row['error_message']}"
        for row in rows
        if row["error_message"] and row.get("quality") != "fail"  # its gates said why
    ]
    return "\n".join(lines + said + failures)


GATE_WORDS = {"fail": "gate failed", "warn": "warning", "unchecked": "note"}


def counted(count: int, noun: str) -> str:
    """``1 snapshot``, ``2 snapshots``: a count and its noun (plural with an s)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def size(count: int) -> str:
    """``352.0 kB``: bytes in binary units, as PostgreSQL's pg_size_pretty counts them."""
    size = float(count)
    for unit in ("bytes", "kB", "MB"):
        if size < 1024:
            return f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


class Window(NamedTuple):
    """One retained entity's plan and how messages name it."""

    plan: Plan
    months: int | None
    entity: str = "cart"
    rows: str = "lines"  # what a row of the entity is called
    setting: str = "retention.cart_months"  # where ``months`` is set


def render_retention_plan(the_plan: Plan, keep_months: int | None, archive_dir: str) -> str:
    """The dry run of the built-in case: cart lines only."""
    return render_retention_plans([Window(the_plan, keep_months)], archive_dir)


def _window_line(window: Window) -> str:
    rows = f"{window.entity} {window.rows}"
    the_plan = window.plan
    if window.months is None:
        return f"{window.setting} is not set: every month of {rows} stays online."
    if the_plan.newest is None:
        return f"No {rows} are online."
    return (
        f"{rows[0].upper()}{rows[1:]} from {the_plan.first_kept:%Y-%m} to "
        f"{the_plan.newest:%Y-%m} stay online ({window.months} months counted back from the "
        f"newest month holding {window.rows})."
    )


def render_retention_plans(windows: list[Window], archive_dir: str) -> str:
    """What a retention run would archive: each entity's window, then every batch."""
    lines = ["Retention plan (dry run: nothing is archived or dropped)."]
    lines += [_window_line(window) for window in windows]
    batches = [batch for window in windows for batch in window.plan.batches]
    if not batches:
        lines.append("Nothing to archive.")
        return "\n".join(lines)
    rows = [[batch.label, batch.source, str(batch.rows), size(batch.bytes)] for batch in batches]
    table = tabulate(
        rows,
        headers=["would archive", "from", "rows", "size"],
        disable_numparse=True,
        stralign="left",
    )
    total_rows = sum(batch.rows for batch in batches)
    total_bytes = sum(batch.bytes for batch in batches)
    lines += [
        table,
        f"Total: {total_rows} rows, {size(total_bytes)} in PostgreSQL, to {archive_dir}.",
    ]
    return "\n".join(lines)
