"""The report on the terminal: each question's title and the first rows of its views."""

from __future__ import annotations

from tabulate import tabulate

from spark_etl.analytics.report.section import Section
from spark_etl.analytics.report.values import text


def terminal_summary(section: Section, top: int) -> str:
    """The question's title and the first ``top`` rows of each of its views, as text tables."""
    question = section.question
    parts = [f"== {question.number}. {question.title}"]
    for answer in section.answers:
        rows = [[text(value) for value in row] for row in answer.rows[:top]]
        heading = f"-- analytics.{answer.view}"
        total = section.row_counts.get(answer.view, len(answer.rows))
        if total > len(rows):
            heading += f" (first {len(rows)} of {total})"
        parts.append(heading)
        # Values are printed as PostgreSQL returns them: 78.00 stays 78.00.
        table = tabulate(rows, headers=answer.columns, disable_numparse=True)
        parts.append(table if rows else "(no rows)")
    return "\n".join(parts)
