"""The quality gates' verdicts: a load's figures against its entity's gates (pure: the figures
are read by the caller, and nothing here touches Spark or the database).

Each gate gives a ``Check``: its figure, thresholds and verdict (pass, warn, fail, or
unchecked when the row-count check has too little history), with the sentence the summary, the
log and ``etl_run_metric`` show.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from spark_etl.config import EntityGates
from spark_etl.config.quality import MIN_HISTORY_RUNS

PASS, WARN, FAIL, UNCHECKED = "pass", "warn", "fail", "unchecked"
_SEVERITY = {UNCHECKED: 0, PASS: 0, WARN: 1, FAIL: 2}
GATE_ORDER = ("set_aside_share", "reason_share", "flag_share", "row_count_change")  # as said


@dataclass(frozen=True)
class Check:
    """One gate's verdict on one load."""

    gate: str  # set_aside_share, reason_share, flag_share or row_count_change
    detail: str  # the pattern of a reason or flag gate, else ''
    figure: float | None  # the load's share (None: not measured, too little history)
    warn_at: float | None
    fail_at: float | None
    verdict: str
    message: str  # what the summary says; '' when it passed


@dataclass(frozen=True)
class LoadFigures:
    """What a load read and set aside, before its merge, and what it is compared with."""

    entity: str
    rows_called: str  # "lines", "rows": what the messages call a row
    read: int
    set_aside: int  # rejected for a rule (not the repeated ids)
    reasons: Mapping[tuple[str, ...], int]  # rows set aside per combination of reasons
    extract: str  # snapshot or delta
    history: Sequence[int]  # rows read by the comparable earlier runs, newest first
    backfill: bool = False  # an --as-of in the past: a day's volume, not a nightly run's


def percent(share: float) -> str:
    """0.314 -> '31.4%', 0.05 -> '5%', 0.0004 -> '0.04%'."""
    digits = 2 if 0 < share < 0.01 else 1
    return f"{share * 100:.{digits}f}".rstrip("0").rstrip(".") + "%"


def verdict(checks: Sequence[Check]) -> str:
    """The worst verdict of a load's checks: fail, warn, else pass."""
    worst = max((_SEVERITY[check.verdict] for check in checks), default=0)
    return {0: PASS, 1: WARN, 2: FAIL}[worst]


def reasons_counted(combinations: Mapping[tuple[str, ...], int]) -> dict[str, int]:
    """Rows set aside per single reason (a row breaking two rules counts for both)."""
    counts: dict[str, int] = {}
    for reasons, rows in combinations.items():
        for reason in set(reasons):
            counts[reason] = counts.get(reason, 0) + rows
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def median(history: Sequence[int]) -> float | None:
    """The median rows read of the comparable runs, when there are enough of them."""
    return float(statistics.median(history)) if len(history) >= MIN_HISTORY_RUNS else None


def _judge(
    figure: float, warn_at: float | None, fail_at: float | None, key: str, said: str
) -> tuple[str, str]:
    """The verdict of a figure against its thresholds, and the sentence when it did not pass
    (``key``: the setting's path without the level; ``said``: the figure in words)."""
    if fail_at is not None and figure > fail_at:
        return FAIL, f"{said}, above {key.format(level='fail')} {percent(fail_at)}"
    if warn_at is not None and figure > warn_at:
        return WARN, f"{said}, above {key.format(level='warn')} {percent(warn_at)}"
    return PASS, ""


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def check_load(figures: LoadFigures, gates: EntityGates) -> list[Check]:
    """The gates judged before the merge: rows set aside, per reason, and rows read against
    the history of the same extract kind."""
    entity, rows = figures.entity, figures.rows_called
    checks = []
    if gates.fail_set_aside_share is not None or gates.warn_set_aside_share is not None:
        share = _share(figures.set_aside, figures.read)
        checks.append(
            Check(
                "set_aside_share",
                "",
                share,
                gates.warn_set_aside_share,
                gates.fail_set_aside_share,
                *_judge(
                    share,
                    gates.warn_set_aside_share,
                    gates.fail_set_aside_share,
                    f"quality.{entity}.{{level}}_set_aside_share",
                    f"{entity}: {percent(share)} of {rows} set aside",
                ),
            )
        )
    for pattern in dict.fromkeys([*gates.fail_reason_share, *gates.warn_reason_share]):
        matched = re.compile(pattern)
        count = sum(
            n
            for reasons, n in figures.reasons.items()
            if any(matched.search(reason) for reason in reasons)
        )
        share = _share(count, figures.read)
        warn_at, fail_at = (
            gates.warn_reason_share.get(pattern),
            gates.fail_reason_share.get(pattern),
        )
        checks.append(
            Check(
                "reason_share",
                pattern,
                share,
                warn_at,
                fail_at,
                *_judge(
                    share,
                    warn_at,
                    fail_at,
                    f"quality.{entity}.{{level}}_reason_share['{pattern}']",
                    f"{entity}: {percent(share)} of {rows} set aside for a reason matching "
                    f"'{pattern}'",
                ),
            )
        )
    if gates.fail_row_count_change is not None or gates.warn_row_count_change is not None:
        checks.append(_row_count(figures, gates))
    return checks


def _row_count(figures: LoadFigures, gates: EntityGates) -> Check:
    entity, kind, earlier = figures.entity, figures.extract, len(figures.history)
    warn_at, fail_at = gates.warn_row_count_change, gates.fail_row_count_change
    middle = median(figures.history)
    if figures.backfill:
        return Check(
            "row_count_change",
            "",
            None,
            warn_at,
            fail_at,
            UNCHECKED,
            f"{entity}: row count not checked: a backfill (--as-of in the past) is not "
            "compared with the regular runs",
        )
    if middle is None:
        return Check(
            "row_count_change",
            "",
            None,
            warn_at,
            fail_at,
            UNCHECKED,
            f"{entity}: row count not checked: {earlier} earlier successful {kind} "
            f"run{'' if earlier == 1 else 's'} to compare with, {MIN_HISTORY_RUNS} needed",
        )
    change = abs(figures.read - middle) / middle if middle else float(figures.read > 0)
    direction = "above" if figures.read > middle else "below"
    return Check(
        "row_count_change",
        "",
        change,
        warn_at,
        fail_at,
        *_judge(
            change,
            warn_at,
            fail_at,
            f"quality.{entity}.{{level}}_row_count_change",
            f"{entity}: {figures.read:,} {figures.rows_called} read, {percent(change)} "
            f"{direction} the median {middle:,.0f} of the last {earlier} {kind} runs",
        ),
    )


def check_flags(
    entity: str, rows_called: str, read: int, flags: Mapping[str, int], gates: EntityGates
) -> list[Check]:
    """The flag gates, judged after the merge has listed the soft anomalies: the loaded rows
    with a flag matching each pattern, as a share of the rows read."""
    checks = []
    for pattern in dict.fromkeys([*gates.fail_flag_share, *gates.warn_flag_share]):
        matched = re.compile(pattern)
        # a row with two matching flags counts twice: flags of one row rarely share a pattern
        count = sum(n for flag, n in flags.items() if matched.search(flag))
        share = _share(count, read)
        warn_at, fail_at = gates.warn_flag_share.get(pattern), gates.fail_flag_share.get(pattern)
        checks.append(
            Check(
                "flag_share",
                pattern,
                share,
                warn_at,
                fail_at,
                *_judge(
                    share,
                    warn_at,
                    fail_at,
                    f"quality.{entity}.{{level}}_flag_share['{pattern}']",
                    f"{entity}: {percent(share)} of {rows_called} flagged '{pattern}'",
                ),
            )
        )
    return checks
