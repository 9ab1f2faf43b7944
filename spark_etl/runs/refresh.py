"""The analytics job: refresh the views over the model and read every question's answers,
under the load lock, so that no load changes the views between two answers."""

from __future__ import annotations

from pathlib import Path

from spark_etl.analytics.questions import QUESTIONS
from spark_etl.analytics.report.section import Section, report_section
from spark_etl.config import Connection, Settings
from spark_etl.db import postgres
from spark_etl.definitions import Model
from spark_etl.runs import lifecycle


def refresh_and_answer(
    settings: Settings, model: Model, connection: Connection, folder: Path, rebuild: bool
) -> list[Section]:
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
                for question in QUESTIONS
            ]
    finally:
        conn.close()
