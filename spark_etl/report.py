"""The analytics report: a compact answer per question on the terminal, and a folder that opens
offline: ``index.html`` (key figures, then each question with its charts, definition and first
rows), ``plotly.min.js`` beside it (the charting library, so no network is needed) and one CSV
per view (written by ``analytics.export_csv``, streamed from PostgreSQL).

Nothing here aggregates: every chart draws the rows ``analytics.fetch_chart`` read for it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.offline
from plotly.subplots import make_subplots
from tabulate import tabulate

from spark_etl.analytics import Answer, Chart, Measure, Question

TABLE_ROWS = 20  # rows of each view shown in the page; all of them are in its CSV
PLOTLY_JS = "plotly.min.js"
COLOUR = "#4c72b0"
PANEL_HEIGHT = 300
PLOT_CONFIG = {"responsive": True, "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d"]}

PAGE_STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 1rem; max-width: 72rem;
       color: #222; }
h1 { font-size: 1.6rem; margin: 0.5rem 0; } h2 { font-size: 1.25rem; margin-top: 2.5rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 0.3rem; }
nav { font-size: 0.85rem; display: flex; flex-wrap: wrap; gap: 0.3rem 0.9rem; }
p.definition { color: #444; } p.note { color: #666; font-size: 0.85rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr));
         gap: 0.8rem; margin: 1rem 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.7rem 0.9rem; background: #fafbfc; }
.card .measure { font-size: 0.8rem; color: #555; text-transform: uppercase; }
.card .value { font-size: 1.35rem; font-weight: 600; margin: 0.2rem 0; }
.card .value span { white-space: nowrap; } .card .value .unit { font-size: 0.8rem; color: #555; }
.card .change { font-size: 0.8rem; color: #555; } .up { color: #1a7f37; } .down { color: #c62828; }
.chart { width: 100%; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; cursor: pointer; user-select: none; } td.text { text-align: left; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
"""

# Sort a table by the column whose header is clicked (numbers as numbers, empty cells last).
SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, _) {
  th.addEventListener("click", function () {
    var table = th.closest("table");
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (other) { other.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    function key(row) { var text = row.cells[index].textContent; var n = Number(text);
      return text === "" ? null : (isNaN(n) ? text : n); }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
      var order = typeof x === "number" && typeof y === "number"
        ? x - y : String(x).localeCompare(String(y));
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


@dataclass(frozen=True)
class Section:
    """What the report shows of one question: the first rows of each view, the rows each chart
    draws, and how many rows each view has (all of them are in its CSV)."""

    question: Question
    answers: Sequence[Answer]
    charts: Sequence[tuple[Chart, Answer]]
    row_counts: dict[str, int]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | Decimal):
        return str(value)
    return str(value)


def _label(value: Any) -> str:
    """A value as an axis label: a timestamp at midnight as its date, others to the minute."""
    if isinstance(value, datetime):
        return (
            f"{value:%Y-%m-%d}"
            if value.time() == datetime.min.time()
            else f"{value:%Y-%m-%d %H:%M}"
        )
    return _text(value)


def _chart_text(value: Any) -> str:
    """A value as chart text: Plotly reads labels as a little HTML (``<br>``, ``<b>``, links),
    so a name like ``Bolt <M8> & Nut`` is escaped to be shown as written."""
    return _label(value).replace("&", "&amp;").replace("<", "&lt;")


def terminal_summary(section: Section, top: int) -> str:
    """The question's title and the first ``top`` rows of each of its views, as text tables."""
    question = section.question
    parts = [f"== {question.number}. {question.title}"]
    for answer in section.answers:
        rows = [[_text(value) for value in row] for row in answer.rows[:top]]
        heading = f"-- analytics.{answer.view}"
        total = section.row_counts.get(answer.view, len(answer.rows))
        if total > len(rows):
            heading += f" (first {len(rows)} of {total})"
        parts.append(heading)
        # Values are printed as PostgreSQL returns them: 78.00 stays 78.00.
        table = tabulate(rows, headers=answer.columns, disable_numparse=True)
        parts.append(table if rows else "(no rows)")
    return "\n".join(parts)


# --- charts ---------------------------------------------------------------------------------


def _axis(measures: Sequence[Measure], currency: str) -> dict[str, Any]:
    """Axis title of the measures (which share a unit) with the unit, and the tick format the
    unit calls for."""
    measure = measures[0]
    suffix = {
        "currency": f" ({currency})",
        "share": " (%)",
        "items": " (items)",
        "days": " (days)",
        "per_day": " (per day)",
        "per_month": " (per month)",
    }.get(measure.unit, "")
    label = " / ".join(m.label for m in measures)
    # from zero, so that a bar's or a line's height is the value's, not its distance to a minimum
    axis: dict[str, Any] = {"title": {"text": label + suffix}, "rangemode": "tozero"}
    if measure.unit == "share":
        axis["tickformat"] = ".0%"
    elif measure.unit == "currency":
        axis["tickformat"] = ",.0f"
    return axis


def _hover_format(unit: str) -> str:
    return {"share": ":.1%", "currency": ":,.2f"}.get(unit, ":,.4~f")


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


class _Rows:
    """A chart's rows by column name."""

    def __init__(self, answer: Answer) -> None:
        self.columns = {name: i for i, name in enumerate(answer.columns)}
        self.rows = answer.rows

    def values(self, column: str, rows: Sequence[tuple[Any, ...]] | None = None) -> list[Any]:
        index = self.columns[column]
        return [row[index] for row in (self.rows if rows is None else rows)]

    def labels(self, chart: Chart, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Category labels: the x columns (a lone date column stays a date, for a time axis),
        with the key where labels may repeat."""
        if len(chart.x) == 1 and chart.key is None:
            values = self.values(chart.x[0], rows)
            if _dates(values):
                return values
        labels = []
        for row in rows:
            label = " ".join(_chart_text(row[self.columns[name]]) for name in chart.x)
            if chart.key is not None:
                label = f"{label} (#{_chart_text(row[self.columns[chart.key]])})"
            labels.append(label)
        return labels

    def hover(self, chart: Chart, rows: Sequence[tuple[Any, ...]]) -> tuple[list[list[str]], str]:
        """customdata and the hover lines showing the chart's hover columns."""
        data = [[_chart_text(row[self.columns[name]]) for name in chart.hover] for row in rows]
        lines = "".join(f"<br>{name}: %{{customdata[{i}]}}" for i, name in enumerate(chart.hover))
        return data, lines

    def groups(self, column: str | None) -> list[tuple[Any, list[tuple[Any, ...]]]]:
        """The rows per value of ``column`` in order of first appearance (all rows for None)."""
        if column is None:
            return [(None, list(self.rows))]
        groups: dict[Any, list[tuple[Any, ...]]] = {}
        for row in self.rows:
            groups.setdefault(row[self.columns[column]], []).append(row)
        return list(groups.items())


def _dates(labels: Sequence[Any]) -> bool:
    return bool(labels) and all(isinstance(label, date) for label in labels)


def _panels(chart: Chart) -> list[list[Measure]]:
    """Measures sharing a unit share a panel (grouped bars, lines on one axis)."""
    panels: dict[str, list[Measure]] = {}
    for measure in chart.measures:
        panels.setdefault(measure.unit, []).append(measure)
    return list(panels.values())


def _partial_markers(rows: _Rows, group: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    if "partial" not in rows.columns:
        return {}
    symbols = ["circle-open" if partial else "circle" for partial in rows.values("partial", group)]
    return {"marker": {"symbol": symbols, "size": 7}}


def figure(chart: Chart, answer: Answer, currency: str) -> go.Figure | None:
    """The chart of ``answer``'s rows, or None when there is nothing to draw."""
    rows = _Rows(answer)
    if not rows.rows:
        return None
    if chart.kind == "heatmap":
        return _heatmap(chart, rows, currency)
    if chart.kind == "pareto":
        return _pareto(chart, rows, currency)
    facets = rows.groups(chart.facet)
    panels = _panels(chart)
    titles = [f"{facet}" if chart.facet else "" for facet, _ in facets for _ in panels]
    count = len(facets) * len(panels)
    fig = make_subplots(
        rows=count,
        cols=1,
        shared_xaxes=chart.kind == "line" and chart.facet is None,
        vertical_spacing=min(0.12, 0.4 / count),
        subplot_titles=titles if chart.facet else None,
    )
    panel = 0
    for _, facet_rows in facets:
        for measures in panels:
            panel += 1
            for measure in measures:
                for name, group in _Rows(Answer(answer.view, answer.columns, facet_rows)).groups(
                    chart.series
                ):
                    _add_trace(fig, chart, rows, group, measure, name, panel, len(measures))
            axis = _axis(measures, currency)
            if chart.kind == "barh":
                fig.update_xaxes(axis, row=panel, col=1)
                fig.update_yaxes(autorange="reversed", automargin=True, row=panel, col=1)
            else:
                fig.update_yaxes(axis, row=panel, col=1)
                fig.update_xaxes(automargin=True, row=panel, col=1)
    if not _dates(rows.labels(chart, rows.rows)):
        # labels such as "2023" or "10+" are categories, never numbers on a linear axis
        category = {"type": "category"}
        (fig.update_yaxes if chart.kind == "barh" else fig.update_xaxes)(category)
    if chart.x_label:
        fig.update_xaxes(title_text=chart.x_label, row=count, col=1)
    if chart.kind == "line" and chart.facet is None:
        fig.update_xaxes(rangeslider={"visible": True, "thickness": 0.06}, row=count, col=1)
    height = PANEL_HEIGHT * count
    if chart.kind == "barh":
        height = max(height, (22 * max(len(group) for _, group in facets) + 80) * count)
    showlegend = chart.series is not None or any(len(measures) > 1 for measures in panels)
    fig.update_layout(barmode="group", height=height, showlegend=showlegend)
    return _finish(fig)


def _add_trace(
    fig: go.Figure,
    chart: Chart,
    rows: _Rows,
    group: Sequence[tuple[Any, ...]],
    measure: Measure,
    series: Any,
    panel: int,
    measures_in_panel: int,
) -> None:
    labels = rows.labels(chart, group)
    values = [_number(v) for v in rows.values(measure.column, group)]
    customdata, extra = rows.hover(chart, group)
    name = _chart_text(series) if series is not None else measure.label
    value_axis, label_axis = ("x", "y") if chart.kind == "barh" else ("y", "x")
    # the trace's name through %{fullData.name}: a name is never read as a template
    template = (
        f"%{{{label_axis}}}<br>%{{fullData.name}}: %{{{value_axis}{_hover_format(measure.unit)}}}"
        f"{extra}<extra></extra>"
    )
    common = {
        "name": name,
        "customdata": customdata,
        "hovertemplate": template,
        "showlegend": panel == 1 and (series is not None or measures_in_panel > 1),
        "legendgroup": name,
    }
    if chart.kind == "line":
        trace = go.Scatter(
            x=labels, y=values, mode="lines+markers", **_partial_markers(rows, group), **common
        )
    elif chart.kind == "barh":
        trace = go.Bar(x=values, y=labels, orientation="h", **common)
    else:
        trace = go.Bar(x=labels, y=values, **common)
    if measures_in_panel == 1 and series is None:
        trace.update(marker_color=COLOUR)
    fig.add_trace(trace, row=panel, col=1)


def _pareto(chart: Chart, rows: _Rows, currency: str) -> go.Figure:
    bars, line = chart.measures
    labels = rows.labels(chart, rows.rows)
    customdata, extra = rows.hover(chart, rows.rows)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(
            x=labels,
            y=[_number(v) for v in rows.values(bars.column)],
            name=bars.label,
            marker_color=COLOUR,
            customdata=customdata,
            hovertemplate=f"%{{x}}<br>{bars.label}: %{{y{_hover_format(bars.unit)}}}{extra}"
            "<extra></extra>",
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=[_number(v) for v in rows.values(line.column)],
            name=line.label,
            mode="lines+markers",
            line_color="#dd8452",
            hovertemplate=f"%{{x}}<br>{line.label}: %{{y{_hover_format(line.unit)}}}"
            "<extra></extra>",
        ),
        secondary_y=True,
    )
    fig.update_yaxes(_axis([bars], currency), secondary_y=False)
    fig.update_yaxes(
        {**_axis([line], currency), "range": [0, 1.05], "dtick": 0.25}, secondary_y=True
    )
    fig.update_xaxes(type="category", tickangle=-45, automargin=True)
    fig.update_layout(height=PANEL_HEIGHT + 150)
    return _finish(fig)


def _heatmap(chart: Chart, rows: _Rows, currency: str) -> go.Figure:
    measure = chart.measures[0]
    facets = rows.groups(chart.facet)
    fig = make_subplots(
        rows=len(facets),
        cols=1,
        subplot_titles=[_chart_text(facet) for facet, _ in facets] if chart.facet else None,
        vertical_spacing=0.15,
    )
    height = 0
    for panel, (_, facet_rows) in enumerate(facets, start=1):
        facet = _Rows(Answer("", tuple(rows.columns), facet_rows))
        xs = list(dict.fromkeys(facet.labels(chart, facet_rows)))
        ys = list(dict.fromkeys(_chart_text(v) for v in facet.values(chart.series or chart.x[0])))
        grid: list[list[float | None]] = [[None] * len(xs) for _ in ys]
        notes: list[list[str]] = [[""] * len(xs) for _ in ys]
        hover, _ = facet.hover(chart, facet_rows)
        for row, x, shown in zip(facet_rows, facet.labels(chart, facet_rows), hover, strict=True):
            y = _chart_text(row[facet.columns[chart.series or chart.x[0]]])
            grid[ys.index(y)][xs.index(x)] = _number(row[facet.columns[measure.column]])
            notes[ys.index(y)][xs.index(x)] = "".join(
                f"<br>{name}: {value}" for name, value in zip(chart.hover, shown, strict=True)
            )
        fig.add_trace(
            go.Heatmap(
                x=xs,
                y=ys,
                z=grid,
                # a ratio around 1: the colours saturate at 0 and 2 (hover shows the value)
                zmin=0,
                zmax=2,
                zmid=1,
                colorscale="RdBu",
                coloraxis=None,
                showscale=panel == 1,
                colorbar={"title": {"text": measure.label}},
                text=notes,
                hovertemplate=f"%{{x}} · %{{y}}<br>{measure.label}: %{{z:.2f}}%{{text}}"
                "<extra></extra>",
            ),
            row=panel,
            col=1,
        )
        fig.update_xaxes(type="category", row=panel, col=1)
        fig.update_yaxes(type="category", automargin=True, row=panel, col=1)
        height += 60 + 26 * len(ys)
    fig.update_layout(height=max(height + 80, PANEL_HEIGHT))
    return _finish(fig)


def _finish(fig: go.Figure) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        hoverlabel={"align": "left"},
        font={"size": 11},
    )
    return fig


# --- the page -------------------------------------------------------------------------------


def _format(value: Any, unit: str, currency: str) -> str:
    """A key figure as HTML: the number kept on one line, the currency code before it."""
    if value is None:
        return "n/a"
    if unit == "currency":
        return f'<span class="unit">{html.escape(currency)}</span> <span>{value:,.2f}</span>'
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return f"<span>{int(value):,}</span>"
    return f"<span>{value:,.2f}</span>"


def _change(value: Any, against: str) -> str:
    if value is None:
        return f'<div class="change">no comparison {html.escape(against)}</div>'
    css = "up" if value > 0 else "down" if value < 0 else ""
    arrow = "▲" if value > 0 else "▼" if value < 0 else "■"
    return (
        f'<div class="change"><span class="{css}">{arrow} {value * 100:+.1f}%</span> '
        f"{html.escape(against)}</div>"
    )


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
        return '<p class="note">No sales yet: no key figures.</p>'
    columns = {name: i for i, name in enumerate(figures.columns)}
    month = figures.rows[0][columns["month"]]
    partial = figures.rows[0][columns["partial"]]
    previous = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
    cards = []
    for row in figures.rows:
        unit = row[columns["unit"]]
        cards.append(
            '<div class="card">'
            f'<div class="measure">{html.escape(row[columns["measure"]])}</div>'
            f'<div class="value">{_format(row[columns["value"]], unit, currency)}</div>'
            + _change(
                row[columns["change_vs_previous_month"]],
                f"vs {previous:%b %Y}" + _partial(row, columns.get("previous_month_partial")),
            )
            + _change(
                row[columns["change_vs_year_before"]],
                f"vs {month:%b} {month.year - 1}"
                + _partial(row, columns.get("year_before_partial")),
            )
            + "</div>"
        )
    covered = period_note(period) if period is not None and period.rows else ""
    whole = " (partial: the data holds no whole month)" if partial else ""
    return (
        f'<p class="note">{covered}Key figures of {month:%B %Y}{whole}, against the month '
        f"before and the same month a year before.</p>"
        f'<div class="cards">{"".join(cards)}</div>'
    )


def _html_table(answer: Answer, total: int) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in answer.columns)
    body = []
    for row in answer.rows[:TABLE_ROWS]:
        cells = []
        for value in row:
            css = ' class="text"' if isinstance(value, str) else ""
            cells.append(f"<td{css}>{html.escape(_text(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    shown = min(len(answer.rows), TABLE_ROWS)
    note = ""
    if total > shown:
        note = (
            f'<p class="note">First {shown} of {total:,} rows; all of them are in '
            f"{html.escape(answer.view)}.csv.</p>"
        )
    return (
        f'<div class="table-wrap"><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{note}"
    )


def chart_html(chart: Chart, answer: Answer, currency: str, element_id: str) -> str:
    """The chart's heading and its plot (a div and the script that draws it), or a note when
    there are no rows to draw."""
    heading = f"<h3>{html.escape(chart.title)}</h3>"
    fig = figure(chart, answer, currency)
    if fig is None:
        return f'{heading}<p class="note">No rows to chart.</p>'
    plot = fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=element_id, config=PLOT_CONFIG
    )
    return f'{heading}<div class="chart">{plot}</div>'


def write_report(
    folder: Path, sections: Sequence[Section], generated_at: datetime, currency: str
) -> Path:
    """Write ``index.html`` and ``plotly.min.js`` into ``folder`` (whose CSVs are written
    already); return the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PLOTLY_JS).write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    parts = []
    for section in sections:
        question = section.question
        charts = "".join(
            chart_html(chart, answer, currency, f"chart-{question.number}-{i}")
            for i, (chart, answer) in enumerate(section.charts, start=1)
        )
        tables = "".join(
            f"<h3>analytics.{html.escape(answer.view)} "
            f'<a href="{html.escape(answer.view)}.csv">(CSV)</a></h3>'
            f"{_html_table(answer, section.row_counts.get(answer.view, len(answer.rows)))}"
            for answer in section.answers
        )
        lead = key_figures_html(section, currency) if question.number == "0" else ""
        parts.append(
            f'<section id="q{question.number}"><h2>{question.number}. '
            f"{html.escape(question.title)}</h2>{lead}"
            f'<p class="definition">{html.escape(question.definition)}</p>'
            f"{charts}{tables}</section>"
        )
    contents = "".join(
        f'<a href="#q{s.question.number}">{s.question.number}. {html.escape(s.question.title)}</a>'
        for s in sections
    )
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Sales analytics</title>"
        f'<style>{PAGE_STYLE}</style><script src="{PLOTLY_JS}"></script></head><body>'
        "<h1>Sales analytics</h1>"
        f'<p class="note">Generated {generated_at:%Y-%m-%d %H:%M} UTC from the analytics views. '
        f"A sale is a cart line never removed; revenue is the sum of its amounts, in {currency}. "
        "Point at a chart for its values; click a column heading to sort a table.</p>"
        f"<nav>{contents}</nav>{''.join(parts)}"
        f"<script>{SORT_SCRIPT}</script></body></html>"
    )
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
