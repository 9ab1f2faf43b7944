"""The analytics layer in PostgreSQL: its views, their refresh, and the answers they give.

The views live in their own schema (``database.analytics_schema``), built from
``sql/analytics.sql``. They are derived data: when that file changes (or the model's cart lost
the schema's triggers), the schema is dropped and rebuilt. Each refresh brings the tables
summarizing the cart lines (purchase, product_sales_month) up to date with what the loads
changed and recomputes the materialized views, each after what it reads (those that do not
read each other at once, on connections of their own). Each is stored twice and read through a
plain view of its name: the refresh fills the twin nobody reads and points the view at it, so
readers do not wait for the refresh (at most a second, while a transaction left open holds the
view).
"""

from __future__ import annotations

import concurrent.futures
import graphlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from spark_etl.db.postgres import quoted, read_sql

log = logging.getLogger(__name__)

DEFINITION_TABLE = "definition"


UNITS = ("currency", "share", "count", "items", "days", "per_day", "per_month", "index")


@dataclass(frozen=True)
class Measure:
    """A column a chart draws, its axis title and unit: currency (the report's currency),
    share (a fraction, shown as %), count, items, days, per_day, per_month or index."""

    column: str
    label: str
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r}")


@dataclass(frozen=True)
class Chart:
    """One chart of a question, drawn from the rows of one view that ``order_by``, ``where``
    and ``limit`` select in SQL (the report never aggregates, and never reads a whole view for a
    chart): one mark per row. ``kind``: bar, barh, line, pareto (bars of the first measure, a
    line of the second on its own axis) or heatmap (x by ``series``, coloured by the measure).
    Labels are the ``x`` columns, followed by ``key`` (an id) where labels alone may repeat;
    ``series`` draws one line (or heatmap row) per value of that column; ``facet`` puts each
    value of that column in a panel of its own, as does each measure but with pareto; ``hover``
    columns are shown beside the values when pointing at a mark."""

    view: str
    kind: str
    title: str
    x: tuple[str, ...]
    measures: tuple[Measure, ...]
    order_by: tuple[str, ...]
    limit: int | None = None
    where: tuple[tuple[str, str, Any], ...] = ()  # (column, operator, value), AND-ed
    key: str | None = None
    series: str | None = None
    facet: str | None = None
    hover: tuple[str, ...] = ()
    x_label: str = ""


@dataclass(frozen=True)
class Question:
    """One business question: the views that answer it, in the order they are shown, and the
    charts drawn from them."""

    number: str
    title: str
    definition: str
    views: tuple[str, ...]
    order_by: tuple[str, ...]  # of the first view; the others are ordered by all their columns
    charts: tuple[Chart, ...]


REVENUE = Measure("revenue", "revenue", "currency")
QUANTITY = Measure("quantity", "quantity sold", "items")
SEGMENT_PANELS = {
    "x": ("segment",),
    "facet": "segment_type",
    "order_by": ("segment_type", "segment"),
}

QUESTIONS = (
    Question(
        "0",
        "Key figures",
        "The latest whole month against the month before and the same month a year before "
        "(the latest month when none is whole); a month is partial when the data starts after "
        "its first day or ends before its last. Sales = cart lines sold; a purchase (basket) is "
        "one customer's sales on one day; basket value = revenue per purchase, basket size = "
        "items per purchase; buying customers = customers with a purchase in the month.",
        ("key_figures", "monthly_kpi", "data_period"),
        ("position",),
        (
            Chart(
                "monthly_kpi",
                "line",
                "Revenue and buying customers per month (hollow marker: partial month)",
                ("month",),
                (REVENUE, Measure("buying_customers", "buying customers", "count")),
                ("month",),
                hover=("purchases", "avg_basket_value", "revenue_change_mom"),
            ),
        ),
    ),
    Question(
        "1",
        "Top products",
        "Quantity and revenue of sales (cart lines never removed) per product, ranked; "
        "revenue_share = the product's share of all revenue, cumulative_revenue_share = that of "
        "the product and every one before it by revenue (Pareto).",
        ("top_products",),
        ("rank_by_quantity", "product_id"),
        (
            Chart(
                "top_products",
                "pareto",
                "Revenue of the 20 largest products (bars) and cumulative share of all revenue "
                "(line)",
                ("name",),
                (REVENUE, Measure("cumulative_revenue_share", "cumulative share", "share")),
                ("rank_by_revenue", "product_id"),
                limit=20,
                key="product_id",
                hover=("quantity", "revenue_share"),
            ),
        ),
    ),
    Question(
        "2",
        "Product and variation sales per month",
        "Quantity and revenue of sales per calendar month, product and variation; per family "
        "(product.sku) with every month from its launch (zeros included), growth against the "
        "month before (revenue_change_mom) and the same month a year before (revenue_change_yoy), "
        "as ratio - 1; partial marks a month the data covers only in part.",
        ("product_sales_monthly", "family_sales_monthly"),
        ("month", "product_id", "product_variation_id"),
        (
            Chart(
                "family_sales_monthly",
                "line",
                "Revenue per month of the 8 largest families (hollow marker: partial month)",
                ("month",),
                (REVENUE,),
                ("family_rank", "month"),
                limit=5000,
                where=(("family_rank", "<=", 8),),
                series="sku",
                hover=("quantity", "revenue_change_mom", "revenue_change_yoy"),
            ),
            Chart(
                "family_sales_monthly",
                "bar",
                "Revenue growth of the largest family: month on month and year on year",
                ("month",),
                (
                    Measure("revenue_change_mom", "vs month before", "share"),
                    Measure("revenue_change_yoy", "vs a year before", "share"),
                ),
                ("month",),
                limit=600,
                where=(("family_rank", "=", 1),),
                hover=("sku", "revenue", "partial"),
            ),
        ),
    ),
    Question(
        "3",
        "Purchases per customer",
        "A purchase (basket) is one customer's sales on one calendar day (UTC); its size is its "
        "items (sum of quantity), its value its revenue. avg_purchase_quantity and "
        "avg_basket_value average each buying customer's figures per purchase; the overall ones "
        "weigh every purchase the same. basket_size_distribution: purchases per size (10 and "
        "more together), their share of purchases and of revenue.",
        ("customer_purchase_summary", "avg_purchase_quantity", "basket_size_distribution"),
        ("revenue DESC", "customer_id"),
        (
            Chart(
                "basket_size_distribution",
                "bar",
                "Purchases by basket size: share of purchases and average basket value",
                ("items",),
                (
                    Measure("purchase_share", "share of purchases", "share"),
                    Measure("avg_basket_value", "average basket value", "currency"),
                ),
                ("cart_size",),
                hover=("purchases", "revenue_share"),
                x_label="items in the basket",
            ),
        ),
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
        (
            Chart(
                "seasonality",
                "bar",
                "Each month of the year against an average month (1.0), revenue and quantity",
                ("month_of_year",),
                (
                    Measure("index_vs_average", "revenue index", "index"),
                    Measure("quantity_index", "quantity index", "index"),
                ),
                ("month_of_year",),
                hover=("years_observed", "revenue"),
                x_label="month of the year",
            ),
        ),
    ),
    Question(
        "5",
        "Most active customers",
        "Customers ranked by purchases, then quantity, then revenue.",
        ("most_active_customers",),
        ("rank", "customer_id"),
        (
            Chart(
                "most_active_customers",
                "barh",
                "Purchases of the 10 most active customers",
                ("name",),
                (Measure("purchases", "purchases", "count"),),
                ("rank", "customer_id"),
                limit=10,
                key="customer_id",
                hover=("quantity", "revenue"),
            ),
        ),
    ),
    Question(
        "6",
        "Purchase frequency by segment",
        "Segments: cohort_year (year the customer was created) and value_tier (quartile of "
        "lifetime revenue, Q1 lowest, 'none' without a sale). avg_purchases_per_active_month: "
        "each customer's purchases / the months (of 365.25/12 days) from joining (or the data's "
        "start, if later) to the data's last sale, at least one, averaged: an older cohort does "
        "not win by its age. Days between purchases: (last - first purchase day) / "
        "(purchases - 1), for customers with two or more.",
        ("purchase_frequency_by_segment",),
        ("segment_type", "segment"),
        (
            Chart(
                "purchase_frequency_by_segment",
                "bar",
                "Purchases per month as a customer, by segment",
                measures=(Measure("avg_purchases_per_active_month", "purchases", "per_month"),),
                hover=("customers", "avg_purchases_per_customer", "avg_days_between_purchases"),
                **SEGMENT_PANELS,
            ),
        ),
    ),
    Question(
        "7",
        "Variation preference by segment",
        "Share of each variation (a product's full SKU, its price versions summed) in its "
        "family's quantity, within each segment (quantity_share) and over all customers "
        "(overall_share); preference_index = quantity_share / overall_share: above 1 the "
        "segment prefers the variation more than customers overall.",
        ("variation_preference",),
        ("segment_type", "segment", "sku", "quantity_share DESC", "full_sku", "product_id"),
        (
            Chart(
                "variation_preference",
                "heatmap",
                "Preference index (1 = as everyone) of the largest family's variations, by segment",
                ("segment",),
                (Measure("preference_index", "preference index", "index"),),
                ("segment_type", "segment", "full_sku"),
                limit=2000,
                where=(("family_rank", "=", 1),),
                series="full_sku",
                facet="segment_type",
                hover=("quantity_share", "overall_share"),
            ),
        ),
    ),
    Question(
        "8",
        "Average cart size by segment",
        "Cart size = items (sum of quantity) in a purchase; lines = cart lines in it; basket "
        "value = its revenue.",
        ("avg_cart_size_by_segment",),
        ("segment_type", "segment"),
        (
            Chart(
                "avg_cart_size_by_segment",
                "bar",
                "Average basket value and size, by segment",
                measures=(
                    Measure("avg_basket_value", "basket value", "currency"),
                    Measure("avg_cart_size", "basket size", "items"),
                ),
                hover=("purchases", "avg_lines_per_purchase"),
                **SEGMENT_PANELS,
            ),
        ),
    ),
    Question(
        "9",
        "Top variations by category",
        "Variations (a product's full SKU, its price versions summed) ranked by quantity within "
        "their product family (the SKU before '-').",
        ("top_variations_by_category",),
        ("sku", "rank_in_category", "full_sku", "product_id"),
        (
            Chart(
                "top_variations_by_category",
                "barh",
                "Quantity sold of the 20 best-selling variations",
                ("full_sku",),
                (QUANTITY,),
                ("quantity DESC", "product_id", "full_sku"),
                limit=20,
                key="product_id",
                hover=("rank_in_category", "revenue"),
            ),
        ),
    ),
    Question(
        "10",
        "Price change impact",
        "Each price change (a variation closed, its successor opened at another price): sales "
        "of the product per day in the 30 days before and after, each window cut at the "
        "product's neighbouring changes and at the period the data covers (days_before, "
        "days_after; complete_windows when both are 30 days); *_change = after per day / "
        "before per day - 1. family_quantity_change: the same for the family's other products "
        "over the same windows. elasticity = quantity_change / price change (fractions); "
        "family_adjusted_elasticity after dividing out the family's change.",
        ("price_change_impact",),
        ("changed_at", "product_id"),
        (
            Chart(
                "price_change_impact",
                "bar",
                "Quantity per day after against before the 20 newest price changes, the "
                "product and its family",
                ("changed_at",),
                (
                    Measure("quantity_change", "product", "share"),
                    Measure("family_quantity_change", "rest of its family", "share"),
                ),
                ("changed_at DESC", "product_id"),
                limit=20,
                key="product_id",
                hover=("old_price", "new_price", "pct_change", "days_before", "days_after"),
            ),
            Chart(
                "price_change_impact",
                "bar",
                "Price elasticity of the 20 newest price changes, raw and against the family",
                ("changed_at",),
                (
                    Measure("elasticity", "raw", "index"),
                    Measure("family_adjusted_elasticity", "family-adjusted", "index"),
                ),
                ("changed_at DESC", "product_id"),
                limit=20,
                key="product_id",
                hover=("pct_change", "quantity_change", "complete_windows"),
            ),
        ),
    ),
    Question(
        "11",
        "Product engagement",
        "Every product: cart lines (removed ones included), removal rate, sales; days_on_sale "
        "from its creation (or the data's start, if later) to the data's last sale; ranked by "
        "lines per day on sale, then lines, then quantity (1 = most engaged).",
        ("product_engagement",),
        ("engagement_rank", "product_id"),
        (
            Chart(
                "product_engagement",
                "barh",
                "Cart lines per day on sale: the 10 most engaged products",
                ("name",),
                (Measure("lines_per_day", "cart lines", "per_day"),),
                ("engagement_rank", "product_id"),
                limit=10,
                key="product_id",
                hover=("lines", "removal_rate", "days_on_sale"),
            ),
            Chart(
                "product_engagement",
                "barh",
                "Cart lines per day on sale: the 10 least engaged products",
                ("name",),
                (Measure("lines_per_day", "cart lines", "per_day"),),
                ("engagement_rank DESC", "product_id DESC"),
                limit=10,
                where=(("lines_per_day", ">=", 0),),  # not the products never on sale
                key="product_id",
                hover=("lines", "removal_rate", "days_on_sale"),
            ),
        ),
    ),
    Question(
        "12",
        "Time from creation to purchase",
        "Days from a product's creation to its first sale and, on average, to its sales; sales "
        "dated before the creation are left out and counted in sales_before_creation. The "
        "summary averages only products created inside the period the sales cover (an older "
        "product would measure when the data starts), with the median beside the mean; the "
        "distribution counts those products by days to their first sale.",
        ("time_to_purchase", "time_to_purchase_summary", "time_to_purchase_distribution"),
        ("product_id",),
        (
            Chart(
                "time_to_purchase_distribution",
                "bar",
                "Products created in the period, by days to their first sale",
                ("days_to_first_sale",),
                (Measure("products", "products", "count"),),
                ("bucket",),
                hover=("product_share",),
                x_label="days to the first sale",
            ),
        ),
    ),
    Question(
        "13",
        "End-of-life candidates and dormant customers",
        "Relative to the latest sale: products older than 180 days with no sale in them, or "
        "whose quantity in the latest 6 months fell below half of the 6 months before when "
        "those sold at least 10 units; customers who joined more than 180 days before and made "
        "no purchase in them. Revenue at risk: a product's revenue in the 12 months up to the "
        "latest sale, a customer's in the 365 days up to their last purchase. The functions "
        "end_of_life_candidates(days, min_quantity) and dormant_customers(days) take other "
        "limits.",
        ("lifecycle_summary", "end_of_life_candidates", "dormant_customers"),
        ("kind", "reason"),
        (
            Chart(
                "end_of_life_candidates",
                "barh",
                "Revenue at risk: the 15 largest end-of-life candidates",
                ("name",),
                (Measure("revenue_at_risk", "revenue, last 12 months", "currency"),),
                ("revenue_at_risk DESC", "product_id"),
                limit=15,
                key="product_id",
                hover=("reason", "days_since_last_sale"),
            ),
            Chart(
                "dormant_customers",
                "barh",
                "Revenue at risk: the 15 largest dormant customers",
                ("name",),
                (Measure("revenue_at_risk", "revenue, last active year", "currency"),),
                ("revenue_at_risk DESC", "customer_id"),
                limit=15,
                key="customer_id",
                hover=("days_since_last_purchase", "purchases"),
            ),
        ),
    ),
)


@dataclass(frozen=True)
class Answer:
    view: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _definition_hash() -> str:
    return hashlib.sha256(read_sql("sql", "analytics.sql").encode("utf-8")).hexdigest()


# The triggers a schema's functions run (those analytics.sql puts on cart).
TRIGGERS = """
SELECT count(*) AS triggers
FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE p.pronamespace = to_regnamespace(%s) AND NOT t.tgisinternal
"""


def ensure_views(conn: Any, model_schema: str, analytics_schema: str) -> bool:
    """Build the analytics schema if it is missing, outdated, or no longer told of the changes
    to cart (its triggers went with a cart table dropped, or to another analytics schema);
    return whether it was built."""
    wanted = _definition_hash()
    schema = sql.Identifier(analytics_schema)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT to_regclass(%s) IS NOT NULL AS present",
            (quoted(analytics_schema, DEFINITION_TABLE),),
        )
        if cur.fetchone()["present"]:
            # every column: a schema built by an earlier version has no trigger count
            cur.execute(
                sql.SQL("SELECT * FROM {}.{}").format(schema, sql.Identifier(DEFINITION_TABLE))
            )
            row = cur.fetchone() or {}
            cur.execute(TRIGGERS, (quoted(analytics_schema),))
            triggers = cur.fetchone()["triggers"]
            if row.get("sha256") == wanted and row.get("triggers") == triggers:
                return False
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        cur.execute(
            sql.SQL("SET LOCAL search_path TO {}, {}").format(schema, sql.Identifier(model_schema))
        )
        cur.execute(read_sql("sql", "analytics.sql"))
        cur.execute(TRIGGERS, (quoted(analytics_schema),))
        triggers = cur.fetchone()["triggers"]
        cur.execute(
            sql.SQL("CREATE TABLE {}.{} (sha256 text NOT NULL, triggers bigint NOT NULL)").format(
                schema, sql.Identifier(DEFINITION_TABLE)
            )
        )
        cur.execute(
            sql.SQL("INSERT INTO {}.{} VALUES (%s, %s)").format(
                schema, sql.Identifier(DEFINITION_TABLE)
            ),
            (wanted, triggers),
        )
    conn.commit()
    log.info("Built the analytics views in schema %s", analytics_schema)
    return True


SUMMARY_TABLES = ("purchase", "product_sales_month")  # the tables summarize_cart() keeps
SUMMARIES = ", ".join(SUMMARY_TABLES)
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
RELATIONS = """
SELECT c.oid, c.relname AS name, c.relkind AS kind, c.relispopulated AS populated
FROM pg_class c
WHERE c.relnamespace = to_regnamespace(%(schema)s)
  AND (c.relkind IN ('m', 'v') OR c.relname = ANY(%(summaries)s))
"""
TWINS = ("__a", "__b")  # the two materialized views storing a view (store_twice in analytics.sql)


def refresh_order(conn: Any, analytics_schema: str) -> list[dict[str, Any]]:
    """The materialized views of the schema, each after every one it reads (directly, or through
    views and functions), ties by name: the order PostgreSQL's dependencies give. Each is named
    as its readers know it (the plain view), with the twin it reads now (``current``, and
    whether that one is ``populated``), the other (``idle``) and what it ``reads``: views, and
    SUMMARIES when it reads a table summarize_cart() keeps."""
    with conn.cursor() as cur:
        cur.execute(
            RELATIONS, {"schema": quoted(analytics_schema), "summaries": list(SUMMARY_TABLES)}
        )
        relations = {row["oid"]: row for row in cur.fetchall()}
        cur.execute(DEPENDENCIES, {"schema": quoted(analytics_schema)})
        edges = cur.fetchall()
        cur.execute("SELECT 'pg_class'::regclass::oid AS oid")
        class_catalog = cur.fetchone()["oid"]
    reads: dict[tuple[int, int], set[tuple[int, int]]] = {}
    for edge in edges:
        node = (edge["catalog"], edge["oid"])
        reads.setdefault(node, set()).add((edge["ref_catalog"], edge["ref_oid"]))
    # twin oid -> the view's name (a twin's name is the view's with a suffix)
    stored = {
        oid: row["name"][: -len(TWINS[0])]
        for oid, row in relations.items()
        if row["kind"] == "m" and row["name"].endswith(TWINS)
    }
    views = {row["name"]: row for row in relations.values() if row["name"] in stored.values()}
    summaries = {oid for oid, row in relations.items() if row["name"] in SUMMARY_TABLES}
    lone = sorted(
        row["name"] for oid, row in relations.items() if row["kind"] == "m" and oid not in stored
    )
    if lone:  # analytics.sql forgot its CALL store_twice(...): it would never be refreshed
        raise RuntimeError(f"materialized views not stored twice: {', '.join(lone)}")

    def views_read(node: tuple[int, int], seen: set[tuple[int, int]]) -> set[str]:
        found = set()
        for ref in reads.get(node, ()):
            if ref in seen:
                continue
            seen.add(ref)
            if ref[0] == class_catalog and ref[1] in stored:
                found.add(stored[ref[1]])  # a twin: stop here, it is refreshed itself
            elif ref[0] == class_catalog and ref[1] in summaries:
                found.add(SUMMARIES)  # a table summarize_cart() keeps
            else:
                found |= views_read(ref, seen)
        return found

    graph: dict[str, set[str]] = {name: set() for name in views}
    current: dict[str, dict[str, Any]] = {}
    for oid, name in stored.items():
        graph[name] |= views_read((class_catalog, oid), set())
    for name, view in views.items():
        for ref in reads.get((class_catalog, view["oid"]), ()):
            if ref[0] == class_catalog and ref[1] in stored:
                current[name] = relations[ref[1]]
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    ordered = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        for name in ready:
            if name == SUMMARIES:  # not a view: summarize_cart(), a step of refresh() itself
                continue
            now = current[name]["name"]
            idle = name + (TWINS[1] if now.endswith(TWINS[0]) else TWINS[0])
            ordered.append(
                {
                    "name": name,
                    "current": now,
                    "populated": current[name]["populated"],
                    "idle": idle,
                    "reads": sorted(graph[name]),
                }
            )
        sorter.done(*ready)
    return ordered


def refresh(
    conn: Any,
    model_schema: str,
    analytics_schema: str,
    seconds: dict[str, float] | None = None,
    rebuild: bool = False,
    connect: Callable[[], Any] | None = None,
    connections: int = 1,
) -> list[str]:
    """Bring the cart summaries up to date and recompute every materialized view, inputs
    before the views that read them; ``seconds`` receives each step's time. ``rebuild``:
    recompute the summaries from every line instead of applying the loads' changes.

    With ``connect`` (opens a connection like ``conn``), up to ``connections`` views that do
    not read each other are refreshed at once, each on a connection of its own: a view's
    query runs in one PostgreSQL process for most of its time (sorts, window functions,
    writing its rows), so a second one keeps another core busy."""
    ensure_views(conn, model_schema, analytics_schema)
    views = {view["name"]: view for view in refresh_order(conn, analytics_schema)}
    conn.commit()
    pool = [conn]
    try:
        while connect is not None and len(pool) < min(connections, len(views)):
            pool.append(connect())

        def refresh_one(name: str, worker: int) -> None:
            started = time.perf_counter()
            if name == SUMMARIES:
                # the share as the module holds it now (a test sets it), not the default's
                done = summarize_cart(pool[worker], analytics_schema, rebuild, RECOMPUTE_SHARE)
                log.info(
                    "Summarized the cart lines (%s): %d months recomputed, %d changed lines"
                    " applied, %d purchases recounted, in %.1f s",
                    SUMMARIES,
                    done["months_recomputed"],
                    done["lines_applied"],
                    done["purchases_recounted"],
                    time.perf_counter() - started,
                )
            else:
                _refresh_view(pool[worker], analytics_schema, views[name])
            took = time.perf_counter() - started
            log.debug("Refreshed %s in %.1f s", name, took)
            if seconds is not None:
                seconds[name] = took

        # the summaries are a step like a view: the views that do not read them (those over
        # cart itself, such as product_activity) are refreshed meanwhile
        reads = {SUMMARIES: [], **{name: view["reads"] for name, view in views.items()}}
        run_in_dependency_order(reads, refresh_one, len(pool))
    finally:
        for extra in pool[1:]:
            extra.close()
    log.info("Refreshed %d analytics views", len(views))
    return list(views)


def run_in_dependency_order(
    reads: Mapping[str, Iterable[str]], run: Callable[[str, int], None], workers: int
) -> None:
    """Call ``run(name, worker)`` for every name of ``reads`` (name -> the names it reads),
    each after every name it reads has returned, up to ``workers`` at once; ``worker`` (0 to
    workers - 1) is one no other running call has. Of the names ready, the one that more
    names wait for (directly or not) starts first, then by name. The first exception stops
    starting new calls and is raised once the running ones return."""
    readers: dict[str, set[str]] = {}
    for name, inputs in reads.items():
        for read in inputs:
            readers.setdefault(read, set()).add(name)

    def waiting(name: str) -> set[str]:
        found = set(readers.get(name, ()))
        for reader in readers.get(name, ()):
            found |= waiting(reader)
        return found

    def first(name: str) -> tuple[int, str]:
        return -len(waiting(name)), name

    sorter = graphlib.TopologicalSorter(reads)
    sorter.prepare()
    ready: list[str] = []
    free = list(range(workers))
    running: dict[concurrent.futures.Future[None], tuple[str, int]] = {}
    failure: BaseException | None = None
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        while sorter.is_active() or running:
            ready = sorted([*ready, *sorter.get_ready()], key=first)
            while ready and free and failure is None:
                name, worker = ready.pop(0), free.pop(0)
                running[pool.submit(run, name, worker)] = (name, worker)
            if not running:
                break
            finished, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in finished:
                name, worker = running.pop(future)
                free.append(worker)
                if future.exception() is not None:
                    failure = failure or future.exception()
                else:
                    sorter.done(name)
    if failure is not None:
        raise failure


# Filling the idle twin, pointing the view at it and emptying the twin it read before each need
# that relation to themselves: a reader inside a transaction that read it holds it until the
# transaction ends, and readers arriving meanwhile queue behind the request. So each waits at
# most LOCK_TIMEOUT (the view's swap is tried SWAP_ATTEMPTS times); when the idle twin or the
# view stays held, the twin the readers use is refreshed CONCURRENTLY instead (that waits for
# no reader), and an old twin still read is left filled until its next refresh.
LOCK_TIMEOUT = "1s"
SWAP_ATTEMPTS = 3


def _refresh_view(conn: Any, analytics_schema: str, view: dict[str, Any]) -> None:
    """Fill the idle twin (nobody reads it: a plain REFRESH blocks no reader), point the view
    at it, then empty the twin it read before."""
    idle = sql.Identifier(analytics_schema, view["idle"])
    current = sql.Identifier(analytics_schema, view["current"])
    swap = sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT * FROM {}").format(
        sql.Identifier(analytics_schema, view["name"]), idle
    )
    empty = "REFRESH MATERIALIZED VIEW {} WITH NO DATA"
    if _with_lock_timeout(conn, sql.SQL("REFRESH MATERIALIZED VIEW {}").format(idle)) and any(
        _with_lock_timeout(conn, swap) for _attempt in range(SWAP_ATTEMPTS)
    ):
        if view["populated"] and not _with_lock_timeout(conn, sql.SQL(empty).format(current)):
            log.info("%s is still read: emptied when it is refreshed next", view["current"])
        return
    log.info("%s is held by a reader's transaction: refreshed concurrently", view["name"])
    concurrently = sql.SQL("CONCURRENTLY") if view["populated"] else sql.SQL("")
    with conn.cursor() as cur:
        cur.execute(sql.SQL("REFRESH MATERIALIZED VIEW {} {}").format(concurrently, current))
    conn.commit()
    _with_lock_timeout(conn, sql.SQL(empty).format(idle))


def _with_lock_timeout(conn: Any, statement: sql.Composable) -> bool:
    """Run ``statement`` and commit, waiting at most LOCK_TIMEOUT for its locks; False if that
    ran out (nothing done)."""
    try:
        with conn.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = %s", (LOCK_TIMEOUT,))
            cur.execute(statement)
        conn.commit()
        return True
    except psycopg2.errors.LockNotAvailable:
        conn.rollback()
        return False


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
