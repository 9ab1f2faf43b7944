"""bench/results/latest.md: the tables of one harness run, its ratios against their targets and
the runs before the issues that set them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from bench import index_use, lake
from bench.ratios import ISSUE_14_TARGETS, ISSUE_28_TARGETS, TARGETS, issue_14_ratios, ratios
from spark_etl.analytics.summaries import SUMMARIES


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


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


def markdown(
    results: list[dict[str, Any]],
    machine: str,
    before: dict[str, Any] | None = None,
    code: str = "",
    before_28: dict[str, Any] | None = None,
) -> str:
    """``before``, ``before_28``: the runs of ``before-issue-14.json`` and
    ``before-issue-28.json`` (each its machine, code and results)."""
    lines = [
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
        + (f" of the code of {code}" if code else "")
        + f" on {machine}.",
    ]
    lines += _times_section(results)
    lines += _ratios_section(results)
    lines += peer_section(results)
    lines += lake.section(results)
    lines += index_use.section(results)
    lines += _issue_sections(results, machine, before, before_28)
    lines += nightly_section(results)
    lines += _read_validate_section(results)
    lines += _refresh_section(results)
    lines += _retention_section(results)
    lines += _growth(results)
    return "\n".join(lines) + "\n"


def _times_section(results: list[dict[str, Any]]) -> list[str]:
    """Each size's times: the reference points, the suite's phases, the peer, memory."""
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
    lines = [
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
    return lines


def _ratios_section(results: list[dict[str, Any]]) -> list[str]:
    """The ratios against the same run's reference points, and issue #6's targets."""
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
    target_row = {
        "stage ÷ COPY throughput": TARGETS["stage_vs_copy_throughput"],
        "stage × default JDBC": TARGETS["stage_vs_default_jdbc_speed"],
        "suite ÷ COPY time": TARGETS["suite_vs_copy_time"],
        "suite ÷ peer": TARGETS["suite_vs_peer"],
        "delta 1% ÷ full cart load": TARGETS["incremental_delta_vs_full_cart"],
        "slowest answer, first page (s)": TARGETS["slowest_answer_seconds"],
    }
    lines = [
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
    return lines


def _issue_sections(
    results: list[dict[str, Any]],
    machine: str,
    before: dict[str, Any] | None,
    before_28: dict[str, Any] | None,
) -> list[str]:
    """Issues #14's and #28's targets: the run before each issue, and this one."""
    lines: list[str] = []
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
    return lines


def _read_validate_section(results: list[dict[str, Any]]) -> list[str]:
    """Where the cart read + validate goes, layer by layer."""
    lines: list[str] = []
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
    return lines


def _refresh_section(results: list[dict[str, Any]]) -> list[str]:
    """The slowest steps of the analytics refresh, then the merge's bulk-load limit and memory."""
    lines: list[str] = []
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
    return lines


def _retention_section(results: list[dict[str, Any]]) -> list[str]:
    """Retention's archive, check and drop, and a month restored."""
    lines: list[str] = []
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
    return lines


def _growth(results: list[dict[str, Any]]) -> list[str]:
    """How the suite's time grew from the second largest size to the largest."""
    lines: list[str] = []
    if len(results) > 1:
        first, last = results[-2], results[-1]
        growth = (last["suite_seconds"] / first["suite_seconds"]) / (last["size"] / first["size"])
        lines += [
            "",
            f"Growth {first['size']:,} -> {last['size']:,} lines: suite time x"
            f"{last['suite_seconds'] / first['suite_seconds']:.2f} for x{last['size'] / first['size']:.0f} "
            f"the rows ({growth:.2f} of linear; target <= 1).",
        ]
    return lines


NIGHTLY_PARTS = (
    ("process_start", "Python start (s)"),
    ("spark_session", "Spark session (s)"),
    ("lookups", "source listed, lookups read (s)"),
    ("read_and_check", "read + check, rest (s)"),
    ("stage", "stage (s)"),
    ("merge", "merge (s)"),
    ("summaries", "cart summaries (s)"),
    ("views", "views (s)"),
    ("other", "other (s)"),
)


def nightly_section(results: list[dict[str, Any]]) -> list[str]:
    """Where the nightly increment's time goes, step by step (fixed costs first)."""
    measured = [r for r in results if "breakdown" in r.get("nightly", {})]
    if not measured:
        return []
    columns = (
        "cart lines",
        "nights (s)",
        "new lines",
        "nightly, median (s)",
        *[label for _, label in NIGHTLY_PARTS],
    )
    lines = [
        "",
        "Where the nightly increment goes (the cart job alone in its own process, a delta "
        "extract of 1% new lines dated the day after the last, read from its log; three nights "
        "one after the other, the night of the median time broken down): the fixed "
        "costs of any run first (Python's start and imports, the Spark session, the source's "
        "listing and the lookups' reads), then the rest of read + check, stage and merge, then "
        "the analytics refresh (the cart summaries, then the views two at a time); other: the "
        "JVM's exit and what no log line marks:",
        "",
        _row(*columns),
        _row(*["---:"] * len(columns)),
    ]
    for r in measured:
        nightly = r["nightly"]
        parts = [f"{nightly['breakdown'][key]:.1f}" for key, _ in NIGHTLY_PARTS]
        nights = " / ".join(f"{seconds:.1f}" for seconds in nightly.get("nights", ()))
        lines.append(
            _row(
                f"{r['size']:,}",
                nights or "one night",
                f"{nightly['lines']:,}",
                f"{nightly['seconds']:.1f}",
                *parts,
            )
        )
    return lines


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
