"""The tables summarizing the cart lines (purchase, product_sales_month), kept up to date by
``summarize_cart()`` (views/summarize_cart.sql) rather than recomputed: a load that changes a
few lines updates the purchases and months of those lines only."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from psycopg2 import sql

# the tables summarize_cart() keeps
SUMMARY_TABLES = (
    "purchase",
    "product_sales_month",
    "product_month",
    "product_buyer",
    "product_summarized",
    "customer_summarized",
    "cohort_variation",
    "tier_variation",
)
# the step of a refresh that brings them up to date
SUMMARIES = "cart summaries"
# a month whose changed lines' images outnumber this share of its sales is recomputed whole
RECOMPUTE_SHARE = Decimal("0.25")
SUMMARY_COUNTS = ("months_recomputed", "lines_applied", "purchases_recounted")


def summarize_cart(
    conn: Any,
    analytics_schema: str,
    rebuild: bool = False,
    recompute_share: Decimal | None = RECOMPUTE_SHARE,
) -> dict[str, int]:
    """Bring the tables summarizing the cart lines up to date: the months whose partitions came
    or went, or that changed much (``recompute_share``; None: never), are recomputed whole, the
    lines the loads changed elsewhere are applied (all in one snapshot of cart, so what a load
    commits meanwhile waits for the next refresh). ``rebuild``: recompute every month (readers
    of those tables wait until it commits)."""
    schema = sql.Identifier(analytics_schema)
    conn.commit()  # SET TRANSACTION must open the transaction
    with conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        if rebuild:
            cur.execute(
                sql.SQL("TRUNCATE {}").format(
                    sql.SQL(", ").join(
                        sql.SQL("{}.{}").format(schema, sql.Identifier(name))
                        for name in (*SUMMARY_TABLES, "cart_range_summarized")
                    )
                )
            )
        cur.execute(
            sql.SQL("SELECT * FROM {}.summarize_cart(%s)").format(schema), (recompute_share,)
        )
        row = cur.fetchone()
    conn.commit()
    return {name: int(row[name]) for name in SUMMARY_COUNTS}
