"""Answers kept per key rather than recomputed: the rows of the answer are tables that a
function of the schema brings up to date with what changed since it last ran (the families and
months touched), read through a plain view of the answer's name. A refresh runs each as a step,
after what it reads, like the cart summaries (``summaries.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from psycopg2 import sql

from spark_etl.analytics.summaries import SUMMARIES


@dataclass(frozen=True)
class KeptAnswer:
    """``name``: the view readers query (the step's name in a refresh); ``function``: keeps
    ``tables`` (``function(rebuild boolean, recompute_share numeric)``, returning its
    counts); ``reads``: the materialized views and steps it reads, refreshed before it (a
    PL/pgSQL function's reads are not in PostgreSQL's dependencies: a test checks this list
    against its file)."""

    name: str
    function: str
    tables: tuple[str, ...]
    reads: tuple[str, ...]


KEPT_ANSWERS = (
    KeptAnswer(
        name="monthly_kpi",
        function="keep_monthly_kpi",
        tables=("monthly_kpi_row",),
        reads=(SUMMARIES, "data_period"),
    ),
    KeptAnswer(
        name="customer_purchase_summary",
        function="keep_customer_purchases",
        tables=("customer_purchase_row",),
        reads=(SUMMARIES,),
    ),
    KeptAnswer(
        name="family_sales_monthly",
        function="keep_family_sales",
        tables=("family_sales_row", "family_total"),
        reads=(SUMMARIES, "data_period", "monthly_kpi"),
    ),
)
KEPT = {answer.name: answer for answer in KEPT_ANSWERS}
# each table a kept answer writes -> the answer (a view reading it waits for that step)
KEPT_TABLES = {table: answer.name for answer in KEPT_ANSWERS for table in answer.tables}
# what summarize_cart() notes for them (the months whose sales changed, the customers of the
# lines changed): emptied once every kept answer has read it
CHANGE_LOGS = ("sales_month_changed", "customer_changed")


def keep(
    conn: Any,
    analytics_schema: str,
    answer: KeptAnswer,
    rebuild: bool,
    recompute_share: Decimal | None,
) -> dict[str, int]:
    """Run ``answer``'s function in a transaction of its own (readers see the rows before it
    until it commits); its counts by name. ``recompute_share``: past this share of its keys
    changed, it recomputes them all in one pass (None: never)."""
    conn.commit()
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT * FROM {}.{}(%s, %s)").format(
                sql.Identifier(analytics_schema), sql.Identifier(answer.function)
            ),
            (rebuild, recompute_share),
        )
        row = cur.fetchone()
    conn.commit()
    return {name: int(value) for name, value in dict(row).items()}


def forget_changes(conn: Any, analytics_schema: str) -> None:
    """Empty the change logs, once every kept answer has read them (a step that failed leaves
    them for the next refresh: reading a month again rewrites the same rows)."""
    with conn.cursor() as cur:
        for log in CHANGE_LOGS:
            cur.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(analytics_schema, log)))
    conn.commit()
