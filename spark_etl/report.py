"""The analytics report: a compact answer per question on the terminal, and a folder with one
CSV per view and a self-contained ``index.html`` (inline SVG charts, no external references).
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from tabulate import tabulate

from spark_etl.analytics import Answer, Chart, Question

HTML_ROWS = 20
CHART_STYLE = {
    "svg.fonttype": "path",  # text drawn as paths: the SVG needs no font files
    "svg.hashsalt": "spark-etl",  # stable element ids, so the same data gives the same file
    "figure.figsize": (8, 3.6),
    "font.size": 9,
}
PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.5rem; }
p.definition { color: #444; } p.note { color: #666; font-size: 0.85rem; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; } td.text { text-align: left; }
svg { max-width: 100%; height: auto; }
"""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | Decimal):
        return str(value)
    return str(value)


def terminal_summary(question: Question, answers: Sequence[Answer], top: int) -> str:
    """The question's title and the first ``top`` rows of each of its views, as text tables."""
    parts = [f"== {question.number}. {question.title}"]
    for answer in answers:
        rows = [[_text(value) for value in row] for row in answer.rows[:top]]
        heading = f"-- analytics.{answer.view}"
        if len(answer.rows) > len(rows):
            heading += f" (first {top} of {len(answer.rows)})"
        parts.append(heading)
        # Values are printed as PostgreSQL returns them: 78.00 stays 78.00.
        table = tabulate(rows, headers=answer.columns, disable_numparse=True)
        parts.append(table if rows else "(no rows)")
    return "\n".join(parts)


def _chart_points(chart: Chart, answer: Answer) -> tuple[list[str], list[float]]:
    """One point per row that has a value (a NULL is no point, never an error), labelled by the
    x columns and the key; the ``top`` rows by value when the chart shows only those."""
    index = {name: i for i, name in enumerate(answer.columns)}
    points: list[tuple[str, float]] = []
    for row in answer.rows:
        value = row[index[chart.y]]
        label = " ".join(_text(row[index[name]]) for name in chart.x)
        if value is None or not label.strip():
            continue
        if chart.key is not None:
            label = f"{label} (#{_text(row[index[chart.key]])})"
        points.append((label, float(value)))
    if chart.top is not None:
        points = sorted(points, key=lambda point: point[1], reverse=True)[: chart.top]
    return [label for label, _ in points], [value for _, value in points]


def chart_answer(question: Question, answers: Sequence[Answer]) -> Answer:
    """The answer the question's chart is drawn from."""
    wanted = question.chart.view or question.views[0]
    return next(answer for answer in answers if answer.view == wanted)


def chart_svg(question: Question, answer: Answer) -> str:
    """The question's chart as inline SVG markup, or an empty string when there is no data."""
    chart = question.chart
    labels, values = _chart_points(chart, answer)
    if not values:
        return ""
    with plt.rc_context(CHART_STYLE):
        figure, axes = plt.subplots()
        if chart.kind == "barh":
            axes.barh(labels[::-1], values[::-1], color="#4c72b0")
            axes.set_xlabel(chart.y)
        elif chart.kind == "line":
            axes.plot(labels, values, marker=".", color="#4c72b0")
            axes.set_ylabel(chart.y)
            axes.set_xticks(labels[:: max(1, len(labels) // 12)])
        elif chart.kind == "scatter":  # labels are numbers here (rows without one are left out)
            axes.scatter([float(label) for label in labels], values, color="#4c72b0")
            axes.set_xlabel(" ".join(chart.x))
            axes.set_ylabel(chart.y)
        else:
            axes.bar(labels, values, color="#4c72b0")
            axes.set_ylabel(chart.y)
        axes.tick_params(axis="x", labelrotation=45 if chart.kind in ("bar", "line") else 0)
        axes.set_title(question.title)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
        plt.close(figure)
    return _inline_svg(buffer.getvalue())


def _inline_svg(document: str) -> str:
    """SVG fit for inlining in HTML5: no XML prolog, DOCTYPE, metadata or namespace URLs."""
    markup = document[document.index("<svg") :]
    markup = re.sub(r"<metadata>.*?</metadata>", "", markup, flags=re.DOTALL)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", markup)


def _html_table(answer: Answer) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in answer.columns)
    body = []
    for row in answer.rows[:HTML_ROWS]:
        cells = []
        for value in row:
            css = ' class="text"' if isinstance(value, str) else ""
            cells.append(f"<td{css}>{html.escape(_text(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    note = ""
    if len(answer.rows) > HTML_ROWS:
        note = (
            f'<p class="note">First {HTML_ROWS} of {len(answer.rows)} rows; all of them are in '
            f"{html.escape(answer.view)}.csv.</p>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"


def _write_csv(path: Path, answer: Answer) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(answer.columns)
        writer.writerows([_text(value) for value in row] for row in answer.rows)


def write_report(
    folder: Path, results: Sequence[tuple[Question, Sequence[Answer]]], generated_at: datetime
) -> Path:
    """Write ``<view>.csv`` for every view and ``index.html``; return the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    sections = []
    for question, answers in results:
        for answer in answers:
            _write_csv(folder / f"{answer.view}.csv", answer)
        tables = "".join(
            f"<h3>analytics.{html.escape(answer.view)} "
            f'<a href="{html.escape(answer.view)}.csv">(CSV)</a></h3>{_html_table(answer)}'
            for answer in answers
        )
        sections.append(
            f'<section id="q{question.number}"><h2>{question.number}. '
            f"{html.escape(question.title)}</h2>"
            f'<p class="definition">{html.escape(question.definition)}</p>'
            f"{chart_svg(question, chart_answer(question, answers))}{tables}</section>"
        )
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Sales analytics</title>"
        f"<style>{PAGE_STYLE}</style></head><body>"
        "<h1>Sales analytics</h1>"
        f'<p class="note">Generated {generated_at:%Y-%m-%d %H:%M} UTC from the analytics views. '
        "A sale is a cart line never removed; revenue is the sum of its amounts.</p>"
        f"{''.join(sections)}</body></html>"
    )
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
