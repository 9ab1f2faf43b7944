"""The report's charts: a Plotly figure per chart, one mark per row it is given."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from spark_etl.analytics.questions import Answer, Chart, Measure
from spark_etl.analytics.report.values import chart_text

COLOUR = "#4c72b0"
PANEL_HEIGHT = 300


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
            label = " ".join(chart_text(row[self.columns[name]]) for name in chart.x)
            if chart.key is not None:
                label = f"{label} (#{chart_text(row[self.columns[chart.key]])})"
            labels.append(label)
        return labels

    def hover(self, chart: Chart, rows: Sequence[tuple[Any, ...]]) -> tuple[list[list[str]], str]:
        """customdata and the hover lines showing the chart's hover columns."""
        data = [[chart_text(row[self.columns[name]]) for name in chart.hover] for row in rows]
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
    name = chart_text(series) if series is not None else measure.label
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
    if chart.kind == "line" and measure.line != "solid":  # a threshold: a plain line
        trace = go.Scatter(
            x=labels, y=values, mode="lines", line={"dash": measure.line, "width": 1.5}, **common
        )
    elif chart.kind == "line":
        trace = go.Scatter(
            x=labels, y=values, mode="lines+markers", **_partial_markers(rows, group), **common
        )
    elif chart.kind == "barh":
        trace = go.Bar(x=values, y=labels, orientation="h", **common)
    else:
        trace = go.Bar(x=labels, y=values, **common)
    if measure.colour is not None:
        trace.update(marker_color=measure.colour)
        if isinstance(trace, go.Scatter):
            trace.update(line_color=measure.colour)
    elif measures_in_panel == 1 and series is None:
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
        subplot_titles=[chart_text(facet) for facet, _ in facets] if chart.facet else None,
        vertical_spacing=0.15,
    )
    height = 0
    for panel, (_, facet_rows) in enumerate(facets, start=1):
        facet = _Rows(Answer("", tuple(rows.columns), facet_rows))
        xs = list(dict.fromkeys(facet.labels(chart, facet_rows)))
        ys = list(dict.fromkeys(chart_text(v) for v in facet.values(chart.series or chart.x[0])))
        grid: list[list[float | None]] = [[None] * len(xs) for _ in ys]
        notes: list[list[str]] = [[""] * len(xs) for _ in ys]
        hover, _ = facet.hover(chart, facet_rows)
        for row, x, shown in zip(facet_rows, facet.labels(chart, facet_rows), hover, strict=True):
            y = chart_text(row[facet.columns[chart.series or chart.x[0]]])
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
