"""The quality gates' verdicts: a load's figures against its entity's gates (pure: the figures
are read by the caller, and nothing here touches Spark or the database).

Each gate gives a ``Check``: its figure, thresholds and verdict (pass, warn, fail, or
unchecked when the row-count check has too little history), with the sentence the summary, the
log and ``etl_run_metric`` show.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Mapping, Sequence
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


def _check(
    gate: str,
    detail: str,
    figure: float,
    warn_at: float | None,
    fail_at: float | None,
    key: str,
    said: str,
) -> Check:
    """A figure judged against its thresholds, with the sentence when it did not pass
    (``key``: the setting's path with ``{level}`` for fail or warn; ``said``: the figure in
    words)."""
    if fail_at is not None and figure > fail_at:
        verdict, message = FAIL, f"{said}, above {key.format(level='fail')} {percent(fail_at)}"
    elif warn_at is not None and figure > warn_at:
        verdict, message = WARN, f"{said}, above {key.format(level='warn')} {percent(warn_at)}"
    else:
        verdict, message = PASS, ""
    return Check(gate, detail, figure, warn_at, fail_at, verdict, message)


def _by_pattern(
    gate: str,
    entity: str,
    fails: Mapping[str, float],
    warns: Mapping[str, float],
    share_of: Callable[[re.Pattern[str]], float],
    said: Callable[[str, float], str],
) -> list[Check]:
    """One check per pattern of a pair of {pattern: share} gates (reasons, flags)."""
    return [
        _check(
            gate,
            pattern,
            share := share_of(re.compile(pattern)),
            warns.get(pattern),
            fails.get(pattern),
            f"quality.{entity}.{{level}}_{gate}['{pattern}']",
            said(pattern, share),
        )
        for pattern in dict.fromkeys([*fails, *warns])
    ]


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
            _check(
                "set_aside_share",
                "",
                share,
                gates.warn_set_aside_share,
                gates.fail_set_aside_share,
                f"quality.{entity}.{{level}}_set_aside_share",
                f"{entity}: {percent(share)} of {rows} set aside",
            )
        )

    def reason_share(pattern: re.Pattern[str]) -> float:
        # a row breaking several matching rules counts once
        matching = (
            n for reasons, n in figures.reasons.items() if any(map(pattern.search, reasons))
        )
        return _share(sum(matching), figures.read)

    checks += _by_pattern(
        "reason_share",
        entity,
        gates.fail_reason_share,
        gates.warn_reason_share,
        reason_share,
        lambda pattern, share: (
            f"{entity}: {percent(share)} of {rows} set aside for a reason matching '{pattern}'"
        ),
    )
    if gates.fail_row_count_change is not None or gates.warn_row_count_change is not None:
        checks.append(_row_count(figures, gates))
    return checks


def _row_count(figures: LoadFigures, gates: EntityGates) -> Check:
    entity, kind, earlier = figures.entity, figures.extract, len(figures.history)
    warn_at, fail_at = gates.warn_row_count_change, gates.fail_row_count_change
    middle = median(figures.history)
    why_not = None
    if figures.backfill:
        why_not = "a backfill (--as-of in the past) is not compared with the regular runs"
    elif middle is None:
        why_not = (
            f"{earlier} earlier successful {kind} run{'' if earlier == 1 else 's'} to compare "
            f"with, {MIN_HISTORY_RUNS} needed"
        )
    if why_not is not None or middle is None:
        said = f"{entity}: row count not checked: {why_not}"
        return Check("row_count_change", "", None, warn_at, fail_at, UNCHECKED, said)
    change = abs(figures.read - middle) / middle if middle else float(figures.read > 0)
    direction = "above" if figures.read > middle else "below"
    return _check(
        "row_count_change",
        "",
        change,
        warn_at,
        fail_at,
        f"quality.{entity}.{{level}}_row_count_change",
        f"{entity}: {figures.read:,} {figures.rows_called} read, {percent(change)} "
        f"{direction} the median {middle:,.0f} of the last {earlier} {kind} runs",
    )


def check_flags(
    entity: str, rows_called: str, read: int, flags: Mapping[str, int], gates: EntityGates
) -> list[Check]:
    """The flag gates, judged after the merge has listed the soft anomalies: the loaded rows
    with a flag matching each pattern, as a share of the rows read."""
    return _by_pattern(
        "flag_share",
        entity,
        gates.fail_flag_share,
        gates.warn_flag_share,
        # a row with two matching flags counts for each: per-flag counts are what the merge gives
        lambda pattern: _share(sum(n for flag, n in flags.items() if pattern.search(flag)), read),
        lambda pattern, share: f"{entity}: {percent(share)} of {rows_called} flagged '{pattern}'",
    )
