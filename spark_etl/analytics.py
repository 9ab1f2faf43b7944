"""The analytics layer in PostgreSQL: its views, their refresh, and the answers they give.

The views live in their own schema (``database.analytics_schema``), built from
``sql/analytics.sql``. They are derived data: when that file changes, the schema is dropped and
rebuilt; otherwise each refresh recomputes the materialized views, concurrently once populated
so that readers are never blocked.
"""

from __future__ import annotations

import graphlib
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import psycopg2.extensions
from psycopg2 import sql

from spark_etl.database import read_sql

log = logging.getLogger(__name__)

DEFINITION_TABLE = "definition"


@dataclass(frozen=True)
class Chart:
    """A chart of one view's rows, one mark per row (the report never aggregates): ``kind`` bar,
    barh, line or scatter; labels from the ``x`` columns, followed by ``key`` (an id) where the
    labels alone may repeat (two products of the same name)."""

    kind: str
    x: tuple[str, ...]
    y: str
    top: int | None = None  # the rows with the largest y only, largest first
    key: str | None = None
    view: str | None = None  # which of the question's views; the first by default


@dataclass(frozen=True)
class Question:
    """One business question: the views that answer it, in the order they are shown."""

    number: str
    title: str
    definition: str
    views: tuple[str, ...]
    order_by: tuple[str, ...]  # of the first view; the others are ordered by all their columns
    chart: Chart


QUESTIONS = (
    Question(
        "1",
        "Top products",
        "Quantity and revenue of sales (cart lines never removed) per product, ranked.",
        ("top_products",),
        ("rank_by_quantity", "product_id"),
        Chart("barh", ("name",), "quantity", top=10, key="product_id"),
    ),
    Question(
        "2",
        "Product and variation sales per month",
        "Quantity and revenue of sales per calendar month, product and variation.",
        ("product_sales_monthly", "sales_monthly"),
        ("month", "product_id", "product_variation_id"),
        Chart("line", ("month",), "revenue", view="sales_monthly"),
    ),
    Question(
        "3",
        "Purchases per customer",
        "A purchase is one customer's sales on one calendar day (UTC). avg_purchase_quantity "
        "averages each buying customer's quantity per purchase.",
        ("customer_purchase_summary", "avg_purchase_quantity"),
        ("revenue DESC", "customer_id"),
        Chart("bar", ("customer_id",), "avg_quantity_per_purchase", top=15),
    ),
    Question(
        "4",
        "Seasonality",
        "Sales per month of the year, each month averaged over the years in which the data "
        "covers it (a family's from its launch); index_vs_average = the month's average "
        "revenue / the mean month's (1.0 = an average month), quantity_index likewise. Also "
        "per product family, and per year (the month / that year's mean month).",
        ("seasonality", "seasonality_by_family", "seasonality_by_year"),
        ("month_of_year",),
        Chart("bar", ("month_of_year",), "index_vs_average"),
    ),
    Question(
        "5",
        "Most active customers",
        "Customers ranked by purchases, then quantity, then revenue.",
        ("most_active_customers",),
        ("rank", "customer_id"),
        Chart("barh", ("name",), "purchases", top=10, key="customer_id"),
    ),
    Question(
        "6",
        "Purchase frequency by segment",
        "Segments: cohort_year (year the customer was created) and value_tier (quartile of "
        "lifetime revenue, Q1 lowest, 'none' without a sale). Days between purchases: "
        "(last - first purchase day) / (purchases - 1), for customers with two or more.",
        ("purchase_frequency_by_segment",),
        ("segment_type", "segment"),
        Chart("bar", ("segment_type", "segment"), "avg_purchases_per_customer"),
    ),
    Question(
        "7",
        "Variation preference by segment",
        "Share of each variation (a product's full SKU, its price versions summed) in its "
        "family's quantity, within each segment.",
        ("variation_preference",),
        ("segment_type", "segment", "sku", "quantity_share DESC", "full_sku", "product_id"),
        Chart("barh", ("segment", "full_sku"), "quantity_share", top=20, key="product_id"),
    ),
    Question(
        "8",
        "Average cart size by segment",
        "Cart size = items (sum of quantity) in a purchase; lines = cart lines in it.",
        ("avg_cart_size_by_segment",),
        ("segment_type", "segment"),
        Chart("bar", ("segment_type", "segment"), "avg_cart_size"),
    ),
    Question(
        "9",
        "Top variations by category",
        "Variations (a product's full SKU, its price versions summed) ranked by quantity within "
        "their product family (the SKU before '-').",
        ("top_variations_by_category",),
        ("sku", "rank_in_category", "full_sku", "product_id"),
        Chart("barh", ("full_sku",), "quantity", top=20, key="product_id"),
    ),
    Question(
        "10",
        "Price change impact",
        "Each price change (a variation closed, its successor opened at another price): sales "
        "of the product per day in the 30 days before and after, each window cut at the "
        "product's neighbouring changes and at the period the data covers (days_before, "
        "days_after; complete_windows when both are 30 days); *_change = after per day / "
        "before per day - 1.",
        ("price_change_impact",),
        ("changed_at", "product_id"),
        Chart("scatter", ("pct_change",), "quantity_change"),
    ),
    Question(
        "11",
        "Product engagement",
        "Every product: cart lines (removed ones included), removal rate, sales; ranked by "
        "lines, then quantity (1 = most engaged; the bottom of the ranking is the least).",
        ("product_engagement",),
        ("engagement_rank", "product_id"),
        Chart("barh", ("name",), "lines", top=15, key="product_id"),
    ),
    Question(
        "12",
        "Time from creation to purchase",
        "Days from a product's creation to its first sale and, on average, to its sales; sales "
        "dated before the creation are left out and counted in sales_before_creation. The "
        "summary averages only products created inside the period the sales cover (an older "
        "product would measure when the data starts), with the median beside the mean.",
        ("time_to_purchase", "time_to_purchase_summary"),
        ("product_id",),
        Chart("barh", ("name",), "days_to_first_sale", top=15, key="product_id"),
    ),
    Question(
        "13",
        "End-of-life candidates and dormant customers",
        "Relative to the latest sale: products older than 180 days with no sale in them, or "
        "whose quantity in the latest 6 months fell below half of the 6 months before when "
        "those sold at least 10 units; customers who joined more than 180 days before and made "
        "no purchase in them. The functions end_of_life_candidates(days, min_quantity) and "
        "dormant_customers(days) take other limits.",
        ("end_of_life_candidates", "dormant_customers"),
        ("product_id",),
        Chart("barh", ("name",), "days_since_last_sale", top=15, key="product_id"),
    ),
)


@dataclass(frozen=True)
class Answer:
    view: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _definition_hash() -> str:
    return hashlib.sha256(read_sql("analytics.sql").encode("utf-8")).hexdigest()


def ensure_views(conn: Any, model_schema: str, analytics_schema: str) -> bool:
    """Build the analytics schema if it is missing or outdated; return whether it was built."""
    wanted = _definition_hash()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT to_regclass(%s) IS NOT NULL AS present",
            (f'"{analytics_schema}".{DEFINITION_TABLE}',),
        )
        if cur.fetchone()["present"]:
            cur.execute(
                sql.SQL("SELECT sha256 FROM {}.{}").format(
                    sql.Identifier(analytics_schema), sql.Identifier(DEFINITION_TABLE)
                )
            )
            row = cur.fetchone()
            if row and row["sha256"] == wanted:
                return False
        schema = sql.Identifier(analytics_schema)
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        cur.execute(
            sql.SQL("SET LOCAL search_path TO {}, {}").format(schema, sql.Identifier(model_schema))
        )
        cur.execute(read_sql("analytics.sql"))
        cur.execute(
            sql.SQL("CREATE TABLE {}.{} (sha256 text NOT NULL)").format(
                schema, sql.Identifier(DEFINITION_TABLE)
            )
        )
        cur.execute(
            sql.SQL("INSERT INTO {}.{} VALUES (%s)").format(
                schema, sql.Identifier(DEFINITION_TABLE)
            ),
            (wanted,),
        )
    conn.commit()
    log.info("Built the analytics views in schema %s", analytics_schema)
    return True


# What each view, materialized view and SQL-standard (BEGIN ATOMIC) function of a schema reads,
# as PostgreSQL records it: a view's rewrite rule, or a function, depends on a relation or a
# function. Nodes are (catalog, oid): pg_class and pg_proc oids may coincide.
DEPENDENCIES = """
SELECT DISTINCT
       CASE WHEN d.classid = 'pg_rewrite'::regclass THEN 'pg_class'::regclass::oid
            ELSE d.classid END AS catalog,
       COALESCE(r.ev_class, d.objid) AS oid,
       d.refclassid AS ref_catalog, d.refobjid AS ref_oid
FROM pg_depend d
LEFT JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid
LEFT JOIN pg_class rc ON rc.oid = r.ev_class
LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
WHERE d.deptype = 'n'
  AND d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass)
  AND COALESCE(rc.relnamespace, p.pronamespace) = to_regnamespace(%(schema)s)
  AND COALESCE(r.ev_class, d.objid) <> d.refobjid
"""
MATERIALIZED_VIEWS = """
SELECT c.oid, c.relname AS name, c.relispopulated AS populated
FROM pg_class c
WHERE c.relnamespace = to_regnamespace(%(schema)s) AND c.relkind = 'm'
"""


def refresh_order(conn: Any, analytics_schema: str) -> list[dict[str, Any]]:
    """The materialized views of the schema, each after every one it reads (directly, or through
    views and functions), ties by name: the order PostgreSQL's dependencies give."""
    with conn.cursor() as cur:
        cur.execute(MATERIALIZED_VIEWS, {"schema": f'"{analytics_schema}"'})
        views = {row["oid"]: row for row in cur.fetchall()}
        cur.execute(DEPENDENCIES, {"schema": f'"{analytics_schema}"'})
        edges = cur.fetchall()
        cur.execute("SELECT 'pg_class'::regclass::oid AS oid")
        class_catalog = cur.fetchone()["oid"]
    reads: dict[tuple[int, int], set[tuple[int, int]]] = {}
    for edge in edges:
        node = (edge["catalog"], edge["oid"])
        reads.setdefault(node, set()).add((edge["ref_catalog"], edge["ref_oid"]))

    def views_read(node: tuple[int, int], seen: set[tuple[int, int]]) -> set[int]:
        found = set()
        for ref in reads.get(node, ()):
            if ref in seen:
                continue
            seen.add(ref)
            if ref[0] == class_catalog and ref[1] in views:
                found.add(ref[1])  # a materialized view: stop here, it is refreshed itself
            else:
                found |= views_read(ref, seen)
        return found

    graph = {oid: views_read((class_catalog, oid), set()) for oid in views}
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    ordered = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=lambda oid: views[oid]["name"])
        ordered += [views[oid] for oid in ready]
        sorter.done(*ready)
    return ordered


def refresh(conn: Any, model_schema: str, analytics_schema: str) -> list[str]:
    """Recompute every materialized view, inputs before the views that read them."""
    ensure_views(conn, model_schema, analytics_schema)
    views = refresh_order(conn, analytics_schema)
    for view in views:
        statement = "REFRESH MATERIALIZED VIEW {} {}.{}"
        concurrently = sql.SQL("CONCURRENTLY") if view["populated"] else sql.SQL("")
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL(statement).format(
                    concurrently, sql.Identifier(analytics_schema), sql.Identifier(view["name"])
                )
            )
        conn.commit()
    log.info("Refreshed %d analytics views", len(views))
    return [view["name"] for view in views]


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


def fetch(
    conn: Any, analytics_schema: str, question: Question, limit: int | None = None
) -> list[Answer]:
    """The rows of the views answering ``question`` in a stable order: all of them, or the
    first ``limit`` of each view."""
    answers = []
    with conn.cursor(cursor_factory=psycopg2.extensions.cursor) as cur:
        for index, view in enumerate(question.views):
            target = sql.SQL("{}.{}").format(sql.Identifier(analytics_schema), sql.Identifier(view))
            if index == 0:
                order = _order_clause(question.order_by)
            else:  # companion views: by every column, left to right
                cur.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(target))
                order = sql.SQL(", ").join(sql.SQL(str(i + 1)) for i in range(len(cur.description)))
            cur.execute(
                sql.SQL("SELECT * FROM {} ORDER BY {} LIMIT %s").format(target, order), (limit,)
            )
            columns = tuple(column.name for column in cur.description)
            answers.append(Answer(view, columns, cur.fetchall()))
    return answers
