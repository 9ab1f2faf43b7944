"""Which phase of a run uses each index of the cart table: PostgreSQL's own counters of index
scans (pg_stat_user_indexes, per leaf partition's index), summed per index of the partitioned
table and read between the harness's phases. An index no phase scans costs its build on every
load (the merge's largest share) for nothing; one scanned only by a phase that could do
without it is a candidate too (docs/performance.md lists each index's users)."""

from __future__ import annotations

from typing import Any

from spark_etl.config import Connection
from spark_etl.db import postgres

PHASES = (  # the harness's phases, in the order of a run; each a column of the table
    ("suite", "full load + refresh"),
    ("lake", "lake written whole"),
    ("answers", "answers + report"),
    ("incremental", "1% delta + snapshot loads + refresh"),
    ("retention", "retention + restore"),
)


def index_scans(
    connection: Connection, schema: str, table: str = "cart"
) -> dict[str, dict[int, int]]:
    """Index scans so far per index of ``table`` (its primary key's included), per index of
    its leaf partitions (by their oid: a partition dropped between two readings takes its
    counter with it, so phases compare leaf by leaf)."""
    conn = postgres.connect(connection, schema, 10)
    try:
        with conn.cursor() as cur:
            # the counters of other sessions reach the shared statistics when they end (or
            # within a second); the harness's sessions of a phase have ended when it reads
            cur.execute(
                """
                SELECT CAST(CAST(pg_partition_root(s.indexrelid) AS regclass) AS text)
                           AS index_name,
                       CAST(s.indexrelid AS bigint) AS leaf,
                       s.idx_scan AS scans
                FROM pg_stat_user_indexes s
                WHERE s.schemaname = %s
                  AND pg_partition_root(s.relid) = to_regclass(%s)  -- (none before it exists)
                """,
                (schema, f"{schema}.{table}"),
            )
            scans: dict[str, dict[int, int]] = {}
            for row in cur.fetchall():
                name = row["index_name"].rsplit(".", 1)[-1]
                scans.setdefault(name, {})[int(row["leaf"])] = int(row["scans"])
            return scans
    finally:
        conn.close()


def total(reading: dict[str, dict[int, int]]) -> dict[str, int]:
    """The scans so far per index of the table."""
    return {name: sum(leaves.values()) for name, leaves in sorted(reading.items())}


def per_phase(readings: list[dict[str, dict[int, int]]]) -> dict[str, dict[str, int]]:
    """The scans of each phase from the readings taken before the first and after each one:
    per leaf, what it counted since the reading before (all of it for a leaf created in the
    phase); the scans of a leaf dropped during a phase are lost with it."""
    indexes = sorted({name for reading in readings for name in reading})
    return {
        name: {
            phase: sum(
                count - readings[i].get(name, {}).get(leaf, 0)
                for leaf, count in readings[i + 1].get(name, {}).items()
            )
            for i, (phase, _label) in enumerate(PHASES[: len(readings) - 1])
        }
        for name in indexes
    }


def section(results: list[dict[str, Any]]) -> list[str]:
    """The markdown table of the largest size that measured index use."""
    measured = [r for r in results if "cart_index_scans" in r]
    if not measured:
        return []
    result = measured[-1]
    scans = result["cart_index_scans"]
    lines = [
        "",
        f"Index use of cart at {result['size']:,} lines (index scans per phase, PostgreSQL's "
        "counters summed over the leaf partitions, leaf by leaf: the scans of a partition "
        "dropped in a phase are not counted; 0 everywhere = built on every load, read by "
        "nothing):",
        "",
        "| index | " + " | ".join(label for _phase, label in PHASES) + " |",
        "| --- |" + " ---: |" * len(PHASES),
    ]
    for name, phases in scans.items():
        cells = [f"{phases[phase]:,}" if phase in phases else "" for phase, _label in PHASES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines
