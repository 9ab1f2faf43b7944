"""The report's page, ``index.html``, written through the Jinja2 templates of ``templates``
with ``plotly.min.js`` beside it; here only what the templates show is prepared.

The templates escape each value with ``html.escape`` (the ``h`` filter) rather than with
Jinja2's autoescape, whose entities for quotes differ: the page stays the one written before
the templates, byte for byte.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import plotly.offline

from spark_etl.analytics.questions import Answer, Chart
from spark_etl.analytics.report import cells
from spark_etl.analytics.report.figures import figure
from spark_etl.analytics.report.section import TABLE_ROWS, Section
from spark_etl.analytics.report.values import text

PLOTLY_JS = "plotly.min.js"
PLOT_CONFIG = {"responsive": True, "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d"]}
TEMPLATES = "templates"


def _template_text(name: str) -> str:
    """A file of ``templates``, also when the package runs from a zip (``--py-files``)."""
    folder = resources.files("spark_etl.analytics.report").joinpath(TEMPLATES)
    return folder.joinpath(name).read_text(encoding="utf-8")


def _whole(value: Any) -> bool:
    return isinstance(value, Decimal) and value == value.to_integral_value()


@cache
def _environment() -> jinja2.Environment:
    # autoescape off: the templates escape with the "h" filter (see the docstring)
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_text),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(h=html.escape, text=text, fmt=format)
    env.tests["whole"] = _whole
    return env


def _render(name: str, **values: Any) -> str:
    return _environment().get_template(name).render(**values)


def _partial(row: tuple[Any, ...], index: int | None) -> str:
    """A warning after a comparison with a month the data covers only in part."""
    return " (partial month)" if index is not None and row[index] else ""


def period_note(period: Answer) -> str:
    """What the figures cover: the sales online, and the months archived out of them."""
    row = dict(zip(period.columns, period.rows[0], strict=True))
    note = ""
    if row["first_sale_at"] is not None:
        note = (
            f"Sales from {row['first_sale_at']:%Y-%m-%d %H:%M} to "
            f"{row['last_sale_at']:%Y-%m-%d %H:%M} UTC. "
        )
    if row.get("archived_months"):
        first, last = row["first_archived_month"], row["last_archived_month"]
        months = f"{first:%Y-%m}" if first == last else f"{first:%Y-%m} to {last:%Y-%m}"
        note += (
            f"Not in these figures: {row['archived_months']} archived month"
            f"{'s' if row['archived_months'] > 1 else ''} ({months}), archived on "
            f"{row['archived_on']:%Y-%m-%d}. "
        )
    return note


def key_figures_html(section: Section, currency: str) -> str:
    """Cards of the key figures, and the period the data covers."""
    answers = {answer.view: answer for answer in section.answers}
    figures = answers.get("key_figures")
    period = answers.get("data_period")
    if figures is None or not figures.rows:
        return _render("key_figures.html.j2", cards=None)
    columns = {name: i for i, name in enumerate(figures.columns)}
    month = figures.rows[0][columns["month"]]
    partial = figures.rows[0][columns["partial"]]
    previous = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
    cards = [
        {
            "measure": row[columns["measure"]],
            "value": row[columns["value"]],
            "unit": row[columns["unit"]],
            "vs_month": row[columns["change_vs_previous_month"]],
            "month_label": f"vs {previous:%b %Y}"
            + _partial(row, columns.get("previous_month_partial")),
            "vs_year": row[columns["change_vs_year_before"]],
            "year_label": f"vs {month:%b} {month.year - 1}"
            + _partial(row, columns.get("year_before_partial")),
        }
        for row in figures.rows
    ]
    return _render(
        "key_figures.html.j2",
        cards=cards,
        currency=currency,
        month=month,
        covered=period_note(period) if period is not None and period.rows else "",
        whole=" (partial: the data holds no whole month)" if partial else "",
    )


def _plot(chart: Chart, answer: Answer, currency: str, element_id: str) -> str | None:
    """The chart's plot (a div and the script that draws it), or None with no rows to draw."""
    fig = figure(chart, answer, currency)
    if fig is None:
        return None
    return str(
        fig.to_html(full_html=False, include_plotlyjs=False, div_id=element_id, config=PLOT_CONFIG)
    )


def _table(answer: Answer, section: Section, currency: str) -> dict[str, Any]:
    """A view's first rows as people read them (cells.py): each cell its text, the raw value
    it sorts by, and whether it is text (left-aligned)."""
    kinds = [cells.kind(column) for column in answer.columns]
    return {
        "view": answer.view,
        "title": cells.title(answer.view),
        "columns": [(cells.heading(column, currency), column) for column in answer.columns],
        "rows": [
            [
                (*cells.cell(value, kind), isinstance(value, str))
                for value, kind in zip(row, kinds, strict=True)
            ]
            for row in answer.rows[:TABLE_ROWS]
        ],
        "shown": min(len(answer.rows), TABLE_ROWS),
        "total": section.row_counts.get(answer.view, len(answer.rows)),
    }


def _section(section: Section, currency: str) -> dict[str, Any]:
    """What the page shows of one question."""
    question = section.question
    return {
        "number": question.number,
        "title": question.title,
        "definition": question.definition,
        "lead": key_figures_html(section, currency) if question.number == "0" else "",
        "charts": [
            {
                "title": chart.title,
                "plot": _plot(chart, answer, currency, f"chart-{question.number}-{i}"),
            }
            for i, (chart, answer) in enumerate(section.charts, start=1)
        ],
        "tables": [_table(answer, section, currency) for answer in section.answers],
    }


QUALITY_VIEW = "data_quality_latest"  # the latest load run of each job and its gates


def quality_alerts(sections: Sequence[Section]) -> dict[str, Any] | None:
    """The jobs whose latest load warned or failed a quality gate, failures first, and the
    number of the section that shows them: the first screen says so above the key figures."""
    for section in sections:
        for answer in section.answers:
            if answer.view == QUALITY_VIEW:
                rows = [dict(zip(answer.columns, row, strict=True)) for row in answer.rows]
                alerts = [row for row in rows if row["quality"] in ("warn", "fail")]
                alerts.sort(key=lambda row: (row["quality"] != "fail", row["job"]))
                return {"number": section.question.number, "rows": alerts} if alerts else None
    return None


def write_report(
    folder: Path, sections: Sequence[Section], generated_at: datetime, currency: str
) -> Path:
    """Write ``index.html`` and ``plotly.min.js`` into ``folder`` (whose CSVs are written
    already); return the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PLOTLY_JS).write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    page = _render(
        "report.html.j2",
        style=_template_text("report.css"),
        script=_template_text("report.js"),
        plotly_js=PLOTLY_JS,
        generated_at=generated_at,
        currency=currency,
        sections=[_section(section, currency) for section in sections],
        alerts=quality_alerts(sections),
    )
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
