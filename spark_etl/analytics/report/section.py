"""What the report shows of one question, read from the views with limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark_etl.analytics.queries import export_csv, fetch, fetch_chart
from spark_etl.analytics.questions import Answer, Chart, Question

TABLE_ROWS = 20  # rows of each view shown in the page; all of them are in its CSV


@dataclass(frozen=True)
class Section:
    """What the report shows of one question: the first rows of each view, the rows each chart
    draws, and how many rows each view has (all of them are in its CSV)."""

    question: Question
    answers: Sequence[Answer]
    charts: Sequence[tuple[Chart, Answer]]
    row_counts: dict[str, int]


def report_section(conn: Any, analytics_schema: str, question: Question, folder: Path) -> Section:
    """Read what the report shows of one question, with limits, and stream each of its views
    whole into ``<view>.csv``."""
    row_counts = {}
    for view in question.views:
        with (folder / f"{view}.csv").open("w", encoding="utf-8", newline="") as handle:
            row_counts[view] = export_csv(conn, analytics_schema, question, view, handle)
    return Section(
        question,
        fetch(conn, analytics_schema, question, limit=TABLE_ROWS),
        [(chart, fetch_chart(conn, analytics_schema, chart)) for chart in question.charts],
        row_counts,
    )
