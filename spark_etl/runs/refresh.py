"""The analytics job: refresh the views over the model and read every question's answers,
under the load lock, so that no load changes the views between two answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spark_etl import analytics, report
from spark_etl.config import Connection, Settings
from spark_etl.db import postgres
from spark_etl.definitions import Model
from spark_etl.runs import lifecycle


def refresh_and_answer(
    settings: Settings, model: Model, connection: Connection, folder: Path, rebuild: bool
) -> list[report.Section]:
    """Refresh the views (from every line with ``rebuild``), then read each question's answers,
    its views streamed whole into ``folder/<view>.csv``."""
    db = settings.database
    conn = postgres.open_model(connection, db)
    try:
        with postgres.load_lock(conn):
            postgres.apply_schema(conn, db.db_schema)
            lifecycle.refresh_analytics(conn, connection, db, model, rebuild=rebuild)
            return [
                report_section(conn, db.analytics_schema, question, folder)
                for question in analytics.QUESTIONS
            ]
    finally:
        conn.close()


def report_section(
    conn: Any, analytics_schema: str, question: analytics.Question, folder: Path
) -> report.Section:
    """Read what the report shows of one question, with limits, and stream each of its views
    whole into ``<view>.csv``."""
    row_counts = {}
    for view in question.views:
        with (folder / f"{view}.csv").open("w", encoding="utf-8", newline="") as handle:
            row_counts[view] = analytics.export_csv(conn, analytics_schema, question, view, handle)
    return report.Section(
        question,
        analytics.fetch(conn, analytics_schema, question, limit=report.TABLE_ROWS),
        [
            (chart, analytics.fetch_chart(conn, analytics_schema, chart))
            for chart in question.charts
        ],
        row_counts,
    )
