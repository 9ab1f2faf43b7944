"""The ratios the issues set targets for, from one size's results."""

from __future__ import annotations

from typing import Any

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
        "load, refresh; the median of three nights) ÷ whole suite",
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
