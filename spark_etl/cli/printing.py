"""What the commands print: the run summary table and the retention plan."""

from __future__ import annotations

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
)


def format_summary(rows: list[dict[str, object]]) -> str:
    table = tabulate(
        [["" if row[key] is None else str(row[key]) for key, _ in SUMMARY_COLUMNS] for row in rows],
        headers=[label for _, label in SUMMARY_COLUMNS],
        disable_numparse=True,  # counts as PostgreSQL gave them, left-aligned like the headers
        stralign="left",
    )
    lines = [line.rstrip() for line in table.splitlines()]
    failures = [f"{row['job']}: {row['error_message']}" for row in rows if row["error_message"]]
    return "\n".join(lines + failures)


def size(count: int) -> str:
    """``352.0 kB``: bytes in binary units, as PostgreSQL's pg_size_pretty counts them."""
    size = float(count)
    for unit in ("bytes", "kB", "MB"):
        if size < 1024:
            return f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def render_retention_plan(the_plan: Plan, keep_months: int | None, archive_dir: str) -> str:
    lines = ["Retention plan (dry run: nothing is archived or dropped)."]
    if keep_months is None:
        lines.append("retention.cart_months is not set: every month of cart lines stays online.")
    elif the_plan.newest is None:
        lines.append("No cart lines are online.")
    else:
        lines.append(
            f"Cart lines from {the_plan.first_kept:%Y-%m} to {the_plan.newest:%Y-%m} stay online "
            f"({keep_months} months counted back from the newest month holding lines)."
        )
    if not the_plan.batches:
        lines.append("Nothing to archive.")
        return "\n".join(lines)
    rows = [
        [batch.label, batch.source, str(batch.rows), size(batch.bytes)]
        for batch in the_plan.batches
    ]
    table = tabulate(
        rows,
        headers=["would archive", "from", "rows", "size"],
        disable_numparse=True,
        stralign="left",
    )
    total_rows = sum(batch.rows for batch in the_plan.batches)
    total_bytes = sum(batch.bytes for batch in the_plan.batches)
    lines += [
        table,
        f"Total: {total_rows} rows, {size(total_bytes)} in PostgreSQL, to {archive_dir}.",
    ]
    return "\n".join(lines)
