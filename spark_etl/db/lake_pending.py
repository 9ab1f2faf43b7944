"""What the lake still has to take from PostgreSQL (``etl_lake_pending``): the tables and
ranges a load changed, recorded in the transaction that commits it and cleared table by table
once the lake has committed them, so a lake write that failed, or a process killed between
the two commits, is written by the next run rather than lost."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

# table -> the starts of its changed ranges, or None (the whole table)
Pending = dict[str, tuple[date, ...] | None]


def record(cur: Any, run_id: str, change: Mapping[str, tuple[date, ...] | None]) -> None:
    """Note ``change`` (``db.changes.changed_tables``) as pending for the lake, in the
    caller's transaction: the one that commits the load."""
    rows = [
        (table, start, run_id)
        for table, starts in change.items()
        for start in (starts if starts is not None else (None,))
    ]
    if rows:
        cur.executemany(
            "INSERT INTO etl_lake_pending (table_name, range_start, run_id) VALUES (%s, %s, %s)",
            rows,
        )


def pending(cur: Any, tables: Iterable[str]) -> Pending:
    """The ranges of ``tables`` the lake has not taken yet; a table changed whole by any run
    is pending whole."""
    cur.execute(
        "SELECT table_name, range_start FROM etl_lake_pending WHERE table_name = ANY(%s) "
        "ORDER BY table_name, range_start",
        (list(tables),),
    )
    found: dict[str, set[date] | None] = {}
    for row in cur.fetchall():
        table, start = row["table_name"], row["range_start"]
        starts = found.setdefault(table, set())
        if start is None or starts is None:
            found[table] = None
        else:
            starts.add(start)
    return {
        table: None if starts is None else tuple(sorted(starts)) for table, starts in found.items()
    }


def clear(cur: Any, table: str) -> None:
    """The lake holds ``table`` as PostgreSQL does: nothing of it is pending any more (the
    caller holds the load lock, so no load recorded more meanwhile)."""
    cur.execute("DELETE FROM etl_lake_pending WHERE table_name = %s", (table,))
