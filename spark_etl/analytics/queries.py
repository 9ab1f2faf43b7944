"""The read API of the analytics views: a question's answers in a stable order, a view
streamed to CSV, and the rows a chart draws (filtered, ordered and limited in SQL)."""

from __future__ import annotations

from typing import Any

import psycopg2.extensions
from psycopg2 import sql

from spark_etl.analytics.questions import Answer, Chart, Question


def _order_clause(order_by: tuple[str, ...]) -> sql.Composable:
    parts = []
    for item in order_by:
        name, _, direction = item.partition(" ")
        parts.append(
            sql.SQL("{} {}").format(
                sql.Identifier(name), sql.SQL("DESC" if direction == "DESC" else "ASC")
            )
        )
    return sql.SQL(", ").join(parts)


def _view_query(analytics_schema: str, question: Question, view: str, columns: int) -> sql.Composed:
    """SELECT every row of one of the question's views in its stable order: the question's
    order for its first view, every column left to right for the others."""
    if view == question.views[0]:
        order = _order_clause(question.order_by)
    else:
        order = sql.SQL(", ").join(sql.SQL(str(i + 1)) for i in range(columns))
    target = sql.SQL("{}.{}").format(sql.Identifier(analytics_schema), sql.Identifier(view))
    return sql.SQL("SELECT * FROM {} ORDER BY {}").format(target, order)


def _column_count(cur: Any, analytics_schema: str, view: str) -> int:
    cur.execute(
        sql.SQL("SELECT * FROM {}.{} LIMIT 0").format(
            sql.Identifier(analytics_schema), sql.Identifier(view)
        )
    )
    return len(cur.description)


def fetch(
    conn: Any, analytics_schema: str, question: Question, limit: int | None = None
) -> list[Answer]:
    """The rows of the views answering ``question`` in a stable order: all of them, or the
    first ``limit`` of each view."""
    answers = []
    with conn.cursor(cursor_factory=psycopg2.extensions.cursor) as cur:
        for view in question.views:
            query = _view_query(
                analytics_schema, question, view, _column_count(cur, analytics_schema, view)
            )
            cur.execute(sql.SQL("{} LIMIT %s").format(query), (limit,))
            columns = tuple(column.name for column in cur.description)
            answers.append(Answer(view, columns, cur.fetchall()))
    return answers


def export_csv(conn: Any, analytics_schema: str, question: Question, view: str, handle: Any) -> int:
    """Stream every row of ``view`` to ``handle`` as CSV with a header, in the order ``fetch``
    gives (COPY ... TO STDOUT: PostgreSQL writes it, Python never holds the rows); return the
    number of rows."""
    with conn.cursor(cursor_factory=psycopg2.extensions.cursor) as cur:
        query = _view_query(
            analytics_schema, question, view, _column_count(cur, analytics_schema, view)
        )
        cur.copy_expert(
            sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER)").format(query), handle
        )
        return cur.rowcount


OPERATORS = {"=", "<>", "<", "<=", ">", ">="}


def fetch_chart(conn: Any, analytics_schema: str, chart: Chart) -> Answer:
    """The rows a chart draws: those of ``chart.view`` its filter selects, in its order, at
    most ``chart.limit``."""
    conditions = []
    values = []
    for column, operator, value in chart.where:
        if operator not in OPERATORS:
            raise ValueError(f"unknown operator {operator!r} in a chart of {chart.view}")
        conditions.append(sql.SQL("{} " + operator + " %s").format(sql.Identifier(column)))
        values.append(value)
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    with conn.cursor(cursor_factory=psycopg2.extensions.cursor) as cur:
        cur.execute(
            sql.SQL("SELECT * FROM {}.{}{} ORDER BY {} LIMIT %s").format(
                sql.Identifier(analytics_schema),
                sql.Identifier(chart.view),
                where,
                _order_clause(chart.order_by),
            ),
            (*values, chart.limit),
        )
        columns = tuple(column.name for column in cur.description)
        return Answer(chart.view, columns, cur.fetchall())
