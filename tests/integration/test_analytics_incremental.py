"""The tables summarizing the cart lines (purchase, product_sales_month, product_month,
product_buyer, the customers' segments and the sales per segment) kept up to date from what the loads change, against the same figures recomputed
from every line; product_activity, read from them, against the same figures from every line.

Prices: product 1 at 1.00, product 2 at 2.00. The first load's lines (line: customer, product,
quantity, time):
  1: c1 p1 2 2023-01-10 10:00   2: c1 p2 1 2023-01-10 12:00   3: c2 p1 1 2023-02-15 09:00
  4: c2 p2 3 2023-02-15 10:00   5: c3 p1 1 2023-03-01 09:00
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal

import psycopg2.extensions
import pytest
from psycopg2 import sql

from spark_etl.analytics import summaries
from spark_etl.analytics.kept import KEPT
from spark_etl.analytics.refresh import refresh
from spark_etl.analytics.schema import ensure_views
from spark_etl.analytics.summaries import summarize_cart
from spark_etl.cli import main as cli
from spark_etl.db import postgres
from tests.helpers import open_connection, run_job, write_csv

pytestmark = pytest.mark.integration

D = Decimal
T = datetime
DAY = date

CUSTOMERS = [("1", "Ada", "2020-01-01"), ("2", "Bert", "2020-01-01"), ("3", "Cora", "2020-01-01")]
PRODUCTS = [
    ("1", "Kaffee", "1.00", "KAF-001", "2020-01-01"),
    ("2", "Tee", "2.00", "TEE-001", "2020-01-01"),
]
CARTS = [
    ("1", "1", "1", "2", "2023-01-10 10:00:00", ""),
    ("2", "2", "1", "1", "2023-01-10 12:00:00", ""),
    ("3", "1", "2", "1", "2023-02-15 09:00:00", ""),
    ("4", "2", "2", "3", "2023-02-15 10:00:00", ""),
    ("5", "1", "3", "1", "2023-03-01 09:00:00", ""),
]

# Every customer's segments from every line: its sales and revenue, the year of its created_at,
# and the quartile of its revenue among the customers with a sale ('none' without one).
SEGMENTS = (
    "SELECT u.customer_id, CAST(extract(year FROM u.created_at) AS integer) AS cohort_year, "
    "CASE WHEN l.customer_id IS NULL THEN 'none' ELSE 'Q' || ntile(4) OVER ("
    "PARTITION BY l.customer_id IS NULL ORDER BY l.revenue, u.customer_id) END AS value_tier, "
    "COALESCE(l.sales, 0) AS sales, COALESCE(l.revenue, 0) AS revenue "
    "FROM {model}.customer u LEFT JOIN (SELECT customer_id, count(*) AS sales, "
    "sum(amount) AS revenue FROM {model}.cart WHERE deleted_at IS NULL GROUP BY 1) l "
    "ON l.customer_id = u.customer_id"
)
# The same figures from every line: what the tables must hold.
RECOMPUTED = {
    "purchase": "SELECT customer_id, CAST(created_at AS date), sum(quantity), count(*), "
    "sum(amount), min(created_at), max(created_at) FROM {model}.cart WHERE deleted_at IS NULL "
    "GROUP BY 1, 2",
    "product_sales_month": "SELECT CAST(date_trunc('month', created_at) AS date), product_id, "
    "product_variation_id, sum(quantity), sum(amount), count(*) FROM {model}.cart "
    "WHERE deleted_at IS NULL GROUP BY 1, 2, 3",
    # (a sale: deleted_at IS NULL; after creation: at or after the product's created_at)
    "product_month": "SELECT CAST(date_trunc('month', c.created_at) AS date), c.product_id, "
    "count(*), count(*) FILTER (WHERE c.deleted_at IS NOT NULL), "
    "count(*) FILTER (WHERE c.deleted_at IS NULL), "
    "COALESCE(sum(c.quantity) FILTER (WHERE c.deleted_at IS NULL), 0), "
    "COALESCE(sum(c.amount) FILTER (WHERE c.deleted_at IS NULL), 0), min(c.created_at), "
    "max(c.created_at) FILTER (WHERE c.deleted_at IS NULL), "
    "count(*) FILTER (WHERE c.deleted_at IS NULL AND c.created_at >= p.created_at), "
    "min(c.created_at) FILTER (WHERE c.deleted_at IS NULL AND c.created_at >= p.created_at), "
    "COALESCE(sum(extract(epoch FROM c.created_at - p.created_at)) "
    "FILTER (WHERE c.deleted_at IS NULL AND c.created_at >= p.created_at), 0) "
    "FROM {model}.cart c JOIN {model}.product p ON p.product_id = c.product_id GROUP BY 1, 2",
    "product_buyer": "SELECT product_id, customer_id, count(*) FROM {model}.cart "
    "WHERE deleted_at IS NULL GROUP BY 1, 2",
    "product_summarized": "SELECT product_id, created_at FROM {model}.product",
    "customer_summarized": "SELECT customer_id, cohort_year, value_tier, sales, revenue "
    "FROM (" + SEGMENTS + ") s",
    "cohort_variation": "SELECT s.cohort_year, c.product_variation_id, min(c.product_id), "
    "sum(c.quantity) FROM {model}.cart c JOIN (" + SEGMENTS + ") s "
    "ON s.customer_id = c.customer_id WHERE c.deleted_at IS NULL GROUP BY 1, 2",
    "tier_variation": "SELECT s.value_tier, c.product_variation_id, min(c.product_id), "
    "sum(c.quantity) FROM {model}.cart c JOIN (" + SEGMENTS + ") s "
    "ON s.customer_id = c.customer_id WHERE c.deleted_at IS NULL GROUP BY 1, 2",
}
# product_activity from every line, as it was computed before it read product_month (its
# average days to a sale, a mean of rounded quotients then, compared at 10 decimals)
PRODUCT_ACTIVITY_FROM_LINES = """
WITH latest AS (SELECT max(created_at) AS at FROM {model}.cart WHERE deleted_at IS NULL),
line AS (
    SELECT c.*, c.deleted_at IS NULL AS sold, c.created_at >= p.created_at AS after,
           extract(epoch FROM c.created_at - p.created_at) / 86400 AS days
    FROM {model}.cart c JOIN {model}.product p ON p.product_id = c.product_id
), activity AS (
    SELECT product_id, count(*) AS lines, count(*) FILTER (WHERE NOT sold) AS removed,
           count(*) FILTER (WHERE sold) AS sales, sum(quantity) FILTER (WHERE sold) AS quantity,
           sum(amount) FILTER (WHERE sold) AS revenue,
           count(DISTINCT customer_id) FILTER (WHERE sold) AS customers,
           min(created_at) FILTER (WHERE sold AND after) AS first_sale_at,
           round(avg(days) FILTER (WHERE sold AND after), 10) AS avg_days,
           count(*) FILTER (WHERE sold AND NOT after) AS before_creation,
           max(created_at) FILTER (WHERE sold) AS last_sale_at,
           sum(quantity) FILTER (WHERE sold AND created_at > l.at - interval '12 months'
                                 AND created_at <= l.at - interval '6 months') AS previous_half,
           sum(quantity) FILTER (WHERE sold AND created_at > l.at - interval '6 months')
               AS recent_half,
           sum(amount) FILTER (WHERE sold AND created_at > l.at - interval '12 months')
               AS revenue_12,
           min(created_at) AS first_line_at
    FROM line CROSS JOIN latest l
    GROUP BY product_id
)
SELECT p.product_id, p.name, p.sku, p.created_at, COALESCE(a.lines, 0), COALESCE(a.removed, 0),
       COALESCE(a.sales, 0), COALESCE(a.quantity, 0), COALESCE(a.revenue, 0),
       COALESCE(a.customers, 0), a.first_sale_at, a.avg_days, COALESCE(a.before_creation, 0),
       a.last_sale_at, COALESCE(a.previous_half, 0), COALESCE(a.recent_half, 0),
       COALESCE(a.revenue_12, 0), a.first_line_at
FROM {model}.product p LEFT JOIN activity a ON a.product_id = p.product_id
"""
# every month of the data from its first sale to its last, and whether it covers it in part
MONTHS_FROM_LINES = """WITH period AS (
    SELECT min(created_at) AS first_at, max(created_at) AS last_at
    FROM {model}.cart WHERE deleted_at IS NULL
), months AS (
    SELECT CAST(m AS date) AS month,
           CAST(p.first_at AS date) > CAST(m AS date)
               OR CAST(p.last_at AS date) < CAST(m + interval '1 month - 1 day' AS date) AS partial
    FROM period p
    CROSS JOIN generate_series(date_trunc('month', p.first_at), date_trunc('month', p.last_at),
                               interval '1 month') AS m
)"""
# family_sales_monthly from every line (no month archived in these tests): each family with a
# sale, every month from its first (its launch, or the data's first month if later, or its
# first sale if earlier) to the data's last; compared with the month before and a year before
# unless that one is short (partial, or the launch month of a family launched after its 1st)
FAMILY_SALES_FROM_LINES = (
    MONTHS_FROM_LINES
    + """, sold AS (
    SELECT p.sku, CAST(date_trunc('month', c.created_at) AS date) AS month,
           sum(c.quantity) AS quantity, sum(c.amount) AS revenue
    FROM {model}.cart c JOIN {model}.product p ON p.product_id = c.product_id
    WHERE c.deleted_at IS NULL
    GROUP BY 1, 2
), family AS (
    SELECT p.sku, min(p.created_at) AS launched_at,
           LEAST((SELECT min(s.month) FROM sold s WHERE s.sku = p.sku),
                 GREATEST((SELECT min(month) FROM months),
                          CAST(date_trunc('month', min(p.created_at)) AS date))) AS first_month
    FROM {model}.product p
    GROUP BY p.sku
    HAVING EXISTS (SELECT 1 FROM sold s WHERE s.sku = p.sku)
), family_month AS (
    SELECT f.sku, m.month, m.partial,
           m.partial OR (m.month = f.first_month AND f.launched_at > m.month) AS short,
           COALESCE(s.quantity, 0) AS quantity, COALESCE(s.revenue, 0) AS revenue
    FROM family f
    JOIN months m ON m.month >= f.first_month
    LEFT JOIN sold s ON s.sku = f.sku AND s.month = m.month
), ranked AS (
    SELECT sku, dense_rank() OVER (ORDER BY sum(revenue) DESC, sku) AS family_rank
    FROM family_month GROUP BY sku
)
SELECT r.sku, r.month, r.partial, r.quantity, r.revenue,
       CASE WHEN NOT prev.short THEN round(r.revenue / NULLIF(prev.revenue, 0) - 1, 4) END,
       CASE WHEN NOT year_before.short
            THEN round(r.revenue / NULLIF(year_before.revenue, 0) - 1, 4) END,
       k.family_rank
FROM family_month r
JOIN ranked k ON k.sku = r.sku
LEFT JOIN family_month prev ON prev.sku = r.sku AND prev.month = r.month - interval '1 month'
LEFT JOIN family_month year_before
  ON year_before.sku = r.sku AND year_before.month = r.month - interval '12 months'
"""
)

# monthly_kpi from every line (no month archived in these tests)
MONTHLY_KPI_FROM_LINES = (
    MONTHS_FROM_LINES
    + """, sold AS (
    SELECT CAST(date_trunc('month', created_at) AS date) AS month, sum(amount) AS revenue,
           count(*) AS sales, sum(quantity) AS quantity,
           count(DISTINCT customer_id) AS buying_customers,
           count(DISTINCT (customer_id, CAST(created_at AS date))) AS purchases
    FROM {model}.cart WHERE deleted_at IS NULL
    GROUP BY 1
), filled AS (
    SELECT m.month, m.partial, COALESCE(s.revenue, 0) AS revenue, COALESCE(s.sales, 0) AS sales,
           COALESCE(s.quantity, 0) AS quantity,
           COALESCE(s.buying_customers, 0) AS buying_customers,
           COALESCE(s.purchases, 0) AS purchases
    FROM months m LEFT JOIN sold s ON s.month = m.month
)
SELECT f.month, f.partial, f.revenue, f.sales, f.quantity, f.buying_customers, f.purchases,
       round(f.revenue / NULLIF(f.purchases, 0), 2),
       round(CAST(f.quantity AS numeric) / NULLIF(f.purchases, 0), 2),
       round(f.revenue / NULLIF(prev.revenue, 0) - 1, 4),
       round(f.revenue / NULLIF(year_before.revenue, 0) - 1, 4)
FROM filled f
LEFT JOIN filled prev ON prev.month = f.month - interval '1 month'
LEFT JOIN filled year_before ON year_before.month = f.month - interval '12 months'
"""
)

# customer_purchase_summary from every line
CUSTOMER_PURCHASES_FROM_LINES = """
WITH purchase AS (
    SELECT customer_id, CAST(created_at AS date) AS day, sum(quantity) AS size,
           sum(amount) AS revenue, min(created_at) AS first_at, max(created_at) AS last_at
    FROM {model}.cart WHERE deleted_at IS NULL
    GROUP BY 1, 2
)
SELECT customer_id, count(*), sum(size), sum(revenue), round(avg(size), 2), min(first_at),
       max(last_at), round(avg(revenue), 2),
       sum(revenue) FILTER (WHERE day > (SELECT max(l.day) FROM purchase l
                                         WHERE l.customer_id = p.customer_id) - 365)
FROM purchase p
GROUP BY customer_id
"""
# (the segments as customer_segment holds them: its own queries are tested elsewhere)
AVG_CART_SIZE_FROM_LINES = """
WITH purchase AS (
    SELECT customer_id, sum(quantity) AS size, count(*) AS lines, sum(amount) AS revenue
    FROM {model}.cart WHERE deleted_at IS NULL
    GROUP BY customer_id, CAST(created_at AS date)
)
SELECT CASE WHEN GROUPING(s.cohort_year) = 0 THEN 'cohort_year' ELSE 'value_tier' END,
       CASE WHEN GROUPING(s.cohort_year) = 0 THEN CAST(s.cohort_year AS text)
            ELSE s.value_tier END,
       count(*), round(avg(size), 2), round(avg(lines), 2), round(avg(revenue), 2)
FROM purchase p
JOIN {analytics}.customer_segment s ON s.customer_id = p.customer_id
GROUP BY GROUPING SETS ((s.cohort_year), (s.value_tier))
"""


def rows(conn, statement: sql.Composable) -> list[tuple]:
    with conn.cursor(cursor_factory=psycopg2.extensions.cursor) as cur:
        cur.execute(statement)
        found = sorted(cur.fetchall())
    conn.commit()
    return found


def table(conn, settings, name: str) -> list[tuple]:
    return rows(
        conn,
        sql.SQL("SELECT * FROM {}.{}").format(
            sql.Identifier(settings.database.analytics_schema), sql.Identifier(name)
        ),
    )


def recomputed(conn, settings, name: str) -> list[tuple]:
    model = sql.Identifier(settings.database.db_schema)
    return rows(conn, sql.SQL(RECOMPUTED[name]).format(model=model))


def assert_summaries_match_the_lines(conn, settings) -> None:
    for name in RECOMPUTED:
        assert table(conn, settings, name) == recomputed(conn, settings, name), name
    assert table(conn, settings, "cart_change") == []  # every logged change was applied


def assert_product_activity_matches_the_lines(conn, settings) -> None:
    """After a refresh: product_activity, read from the summaries, equals it from every line."""
    found = rows(
        conn,
        sql.SQL(
            "SELECT product_id, name, sku, created_at, lines, removed_lines, sales, quantity, "
            "revenue, distinct_customers, first_sale_at, round(avg_days_creation_to_sale, 10), "
            "sales_before_creation, last_sale_at, quantity_previous_half, quantity_recent_half, "
            "revenue_last_12_months, first_line_at FROM {}.product_activity"
        ).format(sql.Identifier(settings.database.analytics_schema)),
    )
    model = sql.Identifier(settings.database.db_schema)
    assert found == rows(conn, sql.SQL(PRODUCT_ACTIVITY_FROM_LINES).format(model=model))


def assert_kept_answers_match_the_lines(conn, settings) -> None:
    """After a refresh: the answers kept per key (family_sales_monthly, monthly_kpi,
    customer_purchase_summary), and avg_cart_size_by_segment summed from the customers' kept
    rows, equal them from every line."""
    model = sql.Identifier(settings.database.db_schema)
    analytics = sql.Identifier(settings.database.analytics_schema)
    for name, query in (
        ("family_sales_monthly", FAMILY_SALES_FROM_LINES),
        ("monthly_kpi", MONTHLY_KPI_FROM_LINES),
        ("customer_purchase_summary", CUSTOMER_PURCHASES_FROM_LINES),
        ("avg_cart_size_by_segment", AVG_CART_SIZE_FROM_LINES),
    ):
        found = table(conn, settings, name)
        expected = rows(conn, sql.SQL(query).format(model=model, analytics=analytics))
        assert found == expected, name


def execute(conn, statement: str, *params) -> int:
    with conn.cursor() as cur:
        cur.execute(statement, params)
        count = cur.rowcount
    conn.commit()
    return count


@pytest.fixture
def loaded(spark, db_settings, connection, tmp_path):
    """The first load through the jobs (which refresh the analytics); yields a connection whose
    search_path is the model's schema."""
    write_csv(tmp_path / "first", "customers", CUSTOMERS)
    write_csv(tmp_path / "first", "products", PRODUCTS)
    write_csv(tmp_path / "first", "carts", CARTS)
    run_job(spark, db_settings, connection, tmp_path / "first")
    conn = open_connection(connection, db_settings.database.db_schema)
    yield conn
    conn.close()


def recomputing(settings, share):
    """``settings`` whose analytics refresh recomputes a month past ``share`` (None: never)."""
    database = settings.database.model_copy(update={"summary_recompute_share": share})
    return settings.model_copy(update={"database": database})


def summarize(conn, settings, rebuild: bool = False) -> dict[str, int]:
    """Every changed line applied, however many of its month's: these months hold two lines."""
    return summarize_cart(conn, settings.database.analytics_schema, rebuild, None)


@pytest.mark.parametrize(
    ("recompute_share", "summarized"),
    [
        # the changed lines applied one by one (line 7's new month is recomputed whole):
        # lines 1 and 2 -1 and +1 each; line 3 -1 in February (deleted) and +1 in March
        # (inserted); line 4 -1 (its new image is no sale); line 6 +1
        # (c1's 01-10 and c2's 02-15 lost their last or first sale: recounted)
        (None, "1 months recomputed, 8 changed lines applied, 2 purchases recounted"),
        # the default: every month changed by more than a quarter of its sales is recomputed
        (
            summaries.RECOMPUTE_SHARE,
            "4 months recomputed, 0 changed lines applied, 0 purchases recounted",
        ),
    ],
)
def test_a_load_changing_moving_removing_and_adding_lines_updates_only_what_it_touched(
    spark,
    db_settings,
    connection,
    loaded,
    tmp_path,
    caplog,
    recompute_share,
    summarized,
):
    assert_summaries_match_the_lines(loaded, db_settings)
    settings = recomputing(db_settings, recompute_share)
    write_csv(
        tmp_path / "second",
        "carts",
        [
            ("1", "1", "1", "5", "2023-01-10 10:00:00", ""),  # quantity 2 -> 5
            ("2", "2", "1", "1", "2023-01-11 12:00:00", ""),  # to the next day
            ("3", "1", "2", "1", "2023-03-02 09:00:00", ""),  # to March: another partition
            ("4", "2", "2", "3", "2023-02-15 10:00:00", "2023-02-16 00:00:00"),  # removed
            ("6", "2", "3", "1", "2023-03-01 11:00:00", ""),  # new, into c3's purchase
            ("7", "1", "1", "1", "2023-05-05 09:00:00", ""),  # new, in a new month
        ],
    )

    with caplog.at_level(logging.INFO, logger="spark_etl.analytics"):
        run_job(spark, settings, connection, tmp_path / "second", "cart_data_transform")

    assert [
        record.getMessage().split(": ", 1)[1].split(", in ")[0]
        for record in caplog.records
        if record.getMessage().startswith("Summarized the cart lines")
    ] == [summarized]
    # February is left with nothing: its purchase and its groups are gone
    assert table(loaded, db_settings, "purchase") == [
        (1, DAY(2023, 1, 10), 5, 1, D("5.00"), T(2023, 1, 10, 10), T(2023, 1, 10, 10)),
        (1, DAY(2023, 1, 11), 1, 1, D("2.00"), T(2023, 1, 11, 12), T(2023, 1, 11, 12)),
        (1, DAY(2023, 5, 5), 1, 1, D("1.00"), T(2023, 5, 5, 9), T(2023, 5, 5, 9)),
        (2, DAY(2023, 3, 2), 1, 1, D("1.00"), T(2023, 3, 2, 9), T(2023, 3, 2, 9)),
        (3, DAY(2023, 3, 1), 2, 2, D("3.00"), T(2023, 3, 1, 9), T(2023, 3, 1, 11)),
    ]
    by_product = [
        (month, product, quantity, revenue, sales)
        for month, product, _, quantity, revenue, sales in table(
            loaded, db_settings, "product_sales_month"
        )
    ]
    assert sorted(by_product) == [
        (DAY(2023, 1, 1), 1, 5, D("5.00"), 1),
        (DAY(2023, 1, 1), 2, 1, D("2.00"), 1),
        (DAY(2023, 3, 1), 1, 2, D("2.00"), 2),
        (DAY(2023, 3, 1), 2, 1, D("2.00"), 1),
        (DAY(2023, 5, 1), 1, 1, D("1.00"), 1),
    ]
    assert_summaries_match_the_lines(loaded, db_settings)
    assert_product_activity_matches_the_lines(loaded, db_settings)
    assert_kept_answers_match_the_lines(loaded, db_settings)


def test_changes_made_in_sql_are_applied_and_only_new_or_gone_months_recomputed(
    db_settings, loaded
):
    execute(loaded, "UPDATE cart SET quantity = quantity + 1, amount = amount + unit_price")
    execute(loaded, "DELETE FROM cart WHERE cart_id = 5")

    # every line updated: 5 old images and 5 new ones; line 5 deleted: its new image out again
    # c3's one purchase lost its only line: recounted (and gone)
    assert summarize(loaded, db_settings) == {
        "months_recomputed": 0,
        "lines_applied": 11,
        "purchases_recounted": 1,
    }
    assert_summaries_match_the_lines(loaded, db_settings)
    assert table(loaded, db_settings, "purchase")[0] == (
        1, DAY(2023, 1, 10), 5, 2, D("7.00"), T(2023, 1, 10, 10), T(2023, 1, 10, 12)
    )  # fmt: skip
    # c3 has no sale left: c1 (7.00) and c2 (10.00) move down a tier, their sales with them
    # (one by one: summarize() never recomputes the segments' sums whole)
    assert [row[:3] for row in table(loaded, db_settings, "customer_summarized")] == [
        (1, 2020, "Q1"),
        (2, 2020, "Q2"),
        (3, 2020, "none"),
    ]

    execute(loaded, "TRUNCATE cart")

    # the partitions stay, but TRUNCATE fires no row trigger: all three months recomputed
    assert summarize(loaded, db_settings) == {
        "months_recomputed": 3,
        "lines_applied": 0,
        "purchases_recounted": 0,
    }
    assert table(loaded, db_settings, "purchase") == []
    assert table(loaded, db_settings, "product_sales_month") == []


def test_a_purchase_keeps_its_sums_and_times_and_is_recounted_only_when_it_loses_an_end(
    spark, db_settings, connection, loaded, tmp_path, caplog
):
    settings = recomputing(db_settings, None)  # these months hold two lines
    # c1's purchase of 2023-01-10 (10:00 and 12:00) gains a line before its first and one
    # in between: its sums and first sale move, nothing is read again
    write_csv(
        tmp_path / "second",
        "carts",
        [
            ("8", "1", "1", "1", "2023-01-10 11:00:00", ""),
            ("9", "2", "1", "2", "2023-01-10 08:00:00", ""),
        ],
    )
    with caplog.at_level(logging.INFO, logger="spark_etl.analytics"):
        run_job(spark, settings, connection, tmp_path / "second", "cart_data_transform")

    assert any(
        "0 months recomputed, 2 changed lines applied, 0 purchases recounted" in r.getMessage()
        for r in caplog.records
    )
    assert table(loaded, db_settings, "purchase")[0] == (
        1, DAY(2023, 1, 10), 6, 4, D("9.00"), T(2023, 1, 10, 8), T(2023, 1, 10, 12)
    )  # fmt: skip

    # the line in between removed: subtracted; then the last (12:00): recounted, 10:00 last
    for line, recounted, purchase in (
        (8, 0, (5, 3, D("8.00"), T(2023, 1, 10, 8), T(2023, 1, 10, 12))),
        (2, 1, (4, 2, D("6.00"), T(2023, 1, 10, 8), T(2023, 1, 10, 10))),
    ):
        execute(loaded, "UPDATE cart SET deleted_at = '2023-01-11' WHERE cart_id = %s", line)
        assert summarize(loaded, db_settings) == {
            "months_recomputed": 0,
            "lines_applied": 1,
            "purchases_recounted": recounted,
        }
        assert table(loaded, db_settings, "purchase")[0] == (1, DAY(2023, 1, 10), *purchase)
    assert_summaries_match_the_lines(loaded, db_settings)


def test_product_activity_cuts_the_half_years_at_the_latest_sale_and_follows_created_at(
    spark, db_settings, connection, loaded, tmp_path
):
    # the latest sale is 2023-03-01 09:00: the half-years start after 2022-03-01 09:00 and
    # after 2022-09-01 09:00, so March and September 2022 are cut (read from their lines)
    write_csv(
        tmp_path / "second",
        "carts",
        [
            ("10", "1", "1", "1", "2022-03-01 08:00:00", ""),  # before both
            ("11", "1", "1", "2", "2022-03-01 10:00:00", ""),  # the previous half
            ("12", "1", "2", "4", "2022-06-15 12:00:00", ""),  # the previous half, whole month
            ("13", "1", "1", "8", "2022-09-01 09:00:00", ""),  # the previous half's last moment
            ("14", "1", "3", "16", "2022-09-01 09:00:01", ""),  # the recent half
            ("15", "2", "1", "32", "2022-12-01 00:00:00", ""),  # the recent half, whole month
        ],
    )
    run_job(spark, db_settings, connection, tmp_path / "second", "cart_data_transform")

    assert_summaries_match_the_lines(loaded, db_settings)
    assert_product_activity_matches_the_lines(loaded, db_settings)
    assert_kept_answers_match_the_lines(loaded, db_settings)
    schema = sql.Identifier(db_settings.database.analytics_schema)
    activity = sql.SQL(
        "SELECT product_id, quantity_previous_half, quantity_recent_half, revenue_last_12_months,"
        " sales_before_creation, first_sale_at, distinct_customers"
        " FROM {}.product_activity ORDER BY product_id"
    ).format(schema)
    # (product, previous half, recent half, revenue of the last 12 months, sales before
    # creation, first sale, customers): Kaffee's lines 11, 12, 13 and 14, 1, 3, 5; Tee's 15, 2, 4
    assert rows(loaded, activity) == [
        (1, 2 + 4 + 8, 16 + 2 + 1 + 1, D("34.00"), 0, T(2022, 3, 1, 8), 3),
        (2, 0, 32 + 1 + 3, D("72.00"), 0, T(2022, 12, 1), 2),
    ]

    # Kaffee's created_at moves to 2023-02-01: its earlier sales are now before its creation
    products = [("1", "Kaffee", "1.00", "KAF-001", "2023-02-01"), PRODUCTS[1]]
    write_csv(tmp_path / "third", "products", products)
    run_job(spark, db_settings, connection, tmp_path / "third", "product_data_transform")

    assert_summaries_match_the_lines(loaded, db_settings)
    assert_product_activity_matches_the_lines(loaded, db_settings)
    assert_kept_answers_match_the_lines(loaded, db_settings)
    assert rows(loaded, activity)[0][4:6] == (6, T(2023, 2, 15, 9))

    # Cora's created_at moves to 2022: her sales move to that cohort's sums
    customers = [*CUSTOMERS[:2], ("3", "Cora", "2022-05-01")]
    write_csv(tmp_path / "fourth", "customers", customers)
    run_job(spark, db_settings, connection, tmp_path / "fourth", "customer_data_transform")

    assert_summaries_match_the_lines(loaded, db_settings)
    preferred = sql.SQL(
        "SELECT segment, product_id, quantity FROM {}.variation_preference "
        "WHERE segment_type = 'cohort_year' ORDER BY 1, 2"
    ).format(schema)
    # Cora bought Kaffee's lines 5 (1) and 14 (16); the 2020 cohort the rest
    assert rows(loaded, preferred) == [
        ("2020", 1, 2 + 1 + 1 + 2 + 4 + 8),
        ("2020", 2, 1 + 3 + 32),
        ("2022", 1, 1 + 16),
    ]


def kept_counts(caplog) -> dict[str, str]:
    """What the refresh logged keeping each answer kept per key (its counts)."""
    found = {}
    for record in caplog.records:
        message = record.getMessage()
        if message.startswith("Kept "):
            name, counts = message[len("Kept ") :].split(": ", 1)
            found[name] = counts.split(", in ")[0]
    return found


def test_answers_kept_per_key_rewrite_only_the_families_and_months_touched(
    spark, db_settings, connection, loaded, tmp_path, caplog
):
    db = db_settings.database
    # the first load built every family (KAF, TEE) from January to March 2023
    assert_kept_answers_match_the_lines(loaded, db_settings)
    caplog.set_level(logging.INFO, logger="spark_etl.analytics")

    # a March line sells 4 instead of 1: March rewritten (for both families), nothing else
    # (key by key, however large their share: recompute_share None)
    execute(loaded, "UPDATE cart SET quantity = 4, amount = 4 * unit_price WHERE cart_id = 5")
    refresh(loaded, db.db_schema, db.analytics_schema, recompute_share=None)
    assert kept_counts(caplog) == {
        "monthly_kpi": "1 months recomputed, 1 rows written",
        "customer_purchase_summary": "1 customers recomputed",  # c3, of line 5
        "family_sales_monthly": "0 families recomputed, 1 months recomputed, 2 rows written",
    }
    assert_kept_answers_match_the_lines(loaded, db_settings)

    # by default, past a quarter of the families' months or of the customers changed, all are
    # recomputed in one pass: here one month of three (January, and February that compares
    # with it), one customer of three (c1: Tee sells 2 in January, not 1)
    caplog.clear()
    execute(loaded, "UPDATE cart SET quantity = 2, amount = 2 * unit_price WHERE cart_id = 2")
    refresh(loaded, db.db_schema, db.analytics_schema)
    assert kept_counts(caplog) == {
        "monthly_kpi": "1 months recomputed, 2 rows written",
        "customer_purchase_summary": "3 customers recomputed",
        "family_sales_monthly": "2 families recomputed, 0 months recomputed, 6 rows written",
    }
    assert_kept_answers_match_the_lines(loaded, db_settings)

    # Kaffee sells 6 a year later (March 2024): April 2023 to March 2024 come, March 2023 is
    # whole now; a month compares with the month before and the same month a year before
    caplog.clear()
    write_csv(tmp_path / "second", "carts", [("20", "1", "2", "6", "2024-03-31 23:00:00", "")])
    run_job(
        spark,
        recomputing(db_settings, None),
        connection,
        tmp_path / "second",
        "cart_data_transform",
    )
    assert kept_counts(caplog) == {
        "monthly_kpi": "13 months recomputed, 13 rows written",
        "customer_purchase_summary": "1 customers recomputed",  # c2
        "family_sales_monthly": "0 families recomputed, 13 months recomputed, 26 rows written",
    }
    assert_kept_answers_match_the_lines(loaded, db_settings)
    compared = sql.SQL(
        "SELECT sku, month, revenue, revenue_change_mom, revenue_change_yoy, family_rank"
        " FROM {}.family_sales_monthly WHERE month IN ('2023-03-01', '2023-04-01', '2024-03-01')"
    ).format(sql.Identifier(db.analytics_schema))
    # Kaffee: 2.00, 1.00, 4.00 (January to March 2023), 6.00 (March 2024): 13.00, the first
    # family now; Tee: 4.00, 6.00, nothing since: 10.00 (it led before, 10.00 to 7.00)
    assert rows(loaded, compared) == [
        ("KAF", DAY(2023, 3, 1), D("4.00"), D("3.0000"), None, 1),
        ("KAF", DAY(2023, 4, 1), D("0"), D("-1.0000"), None, 1),
        ("KAF", DAY(2024, 3, 1), D("6.00"), None, D("0.5000"), 1),
        ("TEE", DAY(2023, 3, 1), D("0"), D("-1.0000"), None, 2),
        ("TEE", DAY(2023, 4, 1), D("0"), None, None, 2),
        ("TEE", DAY(2024, 3, 1), D("0"), None, None, 2),
    ]

    # Tee becomes a family of its own, MAT: TEE (gone) and MAT recomputed whole, not KAF
    caplog.clear()
    execute(loaded, "UPDATE product SET sku = 'MAT' WHERE product_id = 2")
    refresh(loaded, db.db_schema, db.analytics_schema, recompute_share=None)
    assert kept_counts(caplog) == {
        "monthly_kpi": "0 months recomputed, 0 rows written",
        "customer_purchase_summary": "0 customers recomputed",
        "family_sales_monthly": "2 families recomputed, 0 months recomputed, 15 rows written",
    }
    assert_kept_answers_match_the_lines(loaded, db_settings)
    assert rows(loaded, compared)[3:] == [
        ("MAT", DAY(2023, 3, 1), D("0"), D("-1.0000"), None, 2),
        ("MAT", DAY(2023, 4, 1), D("0"), None, None, 2),
        ("MAT", DAY(2024, 3, 1), D("0"), None, None, 2),
    ]

    # a rebuild writes every row again, to the same rows
    caplog.clear()
    before = {name: table(loaded, db_settings, name) for name in KEPT}
    refresh(loaded, db.db_schema, db.analytics_schema, rebuild=True)
    assert kept_counts(caplog) == {
        "monthly_kpi": "15 months recomputed, 15 rows written",
        "customer_purchase_summary": "3 customers recomputed",
        "family_sales_monthly": "2 families recomputed, 0 months recomputed, 30 rows written",
    }
    assert {name: table(loaded, db_settings, name) for name in before} == before


def test_a_month_detached_and_attached_again_is_recomputed(db_settings, loaded):
    execute(loaded, "ALTER TABLE cart DETACH PARTITION cart_2023_02")
    assert summarize(loaded, db_settings) == {
        "months_recomputed": 1,
        "lines_applied": 0,
        "purchases_recounted": 0,
    }
    assert_summaries_match_the_lines(loaded, db_settings)
    assert [row[1] for row in table(loaded, db_settings, "purchase")] == [
        DAY(2023, 1, 10), DAY(2023, 3, 1)
    ]  # fmt: skip

    execute(loaded, "UPDATE cart_2023_02 SET quantity = 7, amount = 7 * unit_price")
    execute(
        loaded,
        "ALTER TABLE cart ATTACH PARTITION cart_2023_02 "
        "FOR VALUES FROM ('2023-02-01') TO ('2023-03-01')",
    )

    # the same table (oid) comes back, changed meanwhile: recomputed as a month that came
    assert summarize(loaded, db_settings) == {
        "months_recomputed": 1,
        "lines_applied": 0,
        "purchases_recounted": 0,
    }
    assert_summaries_match_the_lines(loaded, db_settings)


def test_a_change_committed_after_the_refresh_began_waits_for_the_next_one(
    db_settings, connection, loaded
):
    other = open_connection(connection, db_settings.database.db_schema)
    try:
        with other.cursor() as cur:  # not committed while the summaries are brought up to date
            cur.execute("UPDATE cart SET quantity = 9, amount = 9 * unit_price WHERE cart_id = 3")

        assert summarize(loaded, db_settings) == {
            "months_recomputed": 0,
            "lines_applied": 0,
            "purchases_recounted": 0,
        }
        other.commit()
    finally:
        other.close()

    assert table(loaded, db_settings, "cart_change") != []  # logged for the next refresh
    assert summarize(loaded, db_settings) == {
        "months_recomputed": 0,
        "lines_applied": 2,
        "purchases_recounted": 0,
    }
    assert_summaries_match_the_lines(loaded, db_settings)


def test_a_rebuild_recomputes_every_month_to_the_same_tables(db_settings, loaded):
    before = {name: table(loaded, db_settings, name) for name in RECOMPUTED}

    assert summarize(loaded, db_settings, rebuild=True) == {
        "months_recomputed": 3,
        "lines_applied": 0,
        "purchases_recounted": 0,
    }

    assert {name: table(loaded, db_settings, name) for name in RECOMPUTED} == before


def test_triggers_lost_with_a_dropped_trigger_rebuild_the_schema(db_settings, loaded):
    db = db_settings.database
    execute(loaded, "DROP TRIGGER analytics_cart_update ON cart")
    execute(loaded, "UPDATE cart SET quantity = 4, amount = 4 * unit_price WHERE cart_id = 1")

    assert ensure_views(loaded, db.db_schema, db.analytics_schema) is True
    assert ensure_views(loaded, db.db_schema, db.analytics_schema) is False
    refresh(loaded, db.db_schema, db.analytics_schema)
    assert_summaries_match_the_lines(loaded, db_settings)
    triggers = rows(
        loaded,
        sql.SQL(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = CAST({} AS regclass) AND NOT tgisinternal"
        ).format(sql.Literal(postgres.quoted(db.db_schema, "cart"))),
    )
    assert triggers == [
        ("analytics_cart_delete",),
        ("analytics_cart_insert",),
        ("analytics_cart_truncate",),
        ("analytics_cart_update",),
    ]
    # a schema built by the version before these triggers has no count of them: rebuilt
    execute(
        loaded,
        sql.SQL("ALTER TABLE {}.definition DROP COLUMN triggers")
        .format(sql.Identifier(db.analytics_schema))
        .as_string(loaded),
    )
    assert ensure_views(loaded, db.db_schema, db.analytics_schema) is True


def test_analytics_rebuild_recomputes_what_a_change_without_triggers_left_out(
    db_settings, loaded, cli_env, tmp_path
):
    # a session replicating or restoring data fires no triggers: the change is not logged
    with loaded.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute("UPDATE cart SET quantity = 8, amount = 8 * unit_price WHERE cart_id = 1")
        cur.execute("RESET session_replication_role")
    loaded.commit()
    summarize(loaded, db_settings)
    assert table(loaded, db_settings, "purchase") != recomputed(loaded, db_settings, "purchase")

    code = cli.main(
        "analytics", ["--config", str(cli_env), "--output-dir", str(tmp_path / "r"), "--rebuild"]
    )

    assert code == 0
    assert_summaries_match_the_lines(loaded, db_settings)
    assert_product_activity_matches_the_lines(loaded, db_settings)
    assert_kept_answers_match_the_lines(loaded, db_settings)


def twins(conn, settings, view: str) -> tuple[str, dict[str, bool]]:
    """The twin the view reads now, and whether each twin holds rows."""
    schema = settings.database.analytics_schema
    found = rows(
        conn,
        sql.SQL(
            "SELECT relname, relispopulated FROM pg_class "
            "WHERE relnamespace = to_regnamespace({}) AND relname IN ({}, {})"
        ).format(sql.Literal(schema), sql.Literal(view + "__a"), sql.Literal(view + "__b")),
    )
    read = rows(
        conn,
        sql.SQL(
            "SELECT t.relname FROM pg_rewrite r "
            "JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid "
            "JOIN pg_class t ON t.oid = d.refobjid AND t.relkind = 'm' "
            "WHERE r.ev_class = to_regclass({})"
        ).format(sql.Literal(postgres.quoted(schema, view))),
    )
    return read[0][0], dict(found)


def product_1(conn, settings) -> tuple:
    return rows(
        conn,
        sql.SQL(
            "SELECT sales, quantity, revenue FROM {}.product_activity WHERE product_id = 1"
        ).format(sql.Identifier(settings.database.analytics_schema)),
    )[0]


def test_a_refresh_fills_the_twin_nobody_reads_then_points_the_view_at_it(db_settings, loaded):
    db = db_settings.database
    before, _ = twins(loaded, db_settings, "product_activity")
    assert product_1(loaded, db_settings) == (3, 4, D("4.00"))
    execute(loaded, "UPDATE cart SET quantity = 3, amount = 3 * unit_price WHERE cart_id = 1")

    refresh(loaded, db.db_schema, db.analytics_schema)

    now, populated = twins(loaded, db_settings, "product_activity")
    assert {before, now} == {"product_activity__a", "product_activity__b"}
    assert populated == {now: True, before: False}  # the twin read before is emptied
    assert product_1(loaded, db_settings) == (3, 5, D("5.00"))  # line 1: 2 -> 3 at 1.00


def test_a_view_held_by_a_readers_transaction_is_refreshed_concurrently(
    db_settings, connection, loaded, caplog
):
    db = db_settings.database
    reader = open_connection(connection, db.db_schema)
    try:
        assert product_1(reader, db_settings) == (3, 4, D("4.00"))
        with reader.cursor() as cur:  # a transaction left open on the view (a BI tool's)
            cur.execute(f'SELECT count(*) FROM "{db.analytics_schema}".product_activity')
        before, _ = twins(loaded, db_settings, "product_activity")
        other_before, _ = twins(loaded, db_settings, "top_products")
        execute(loaded, "UPDATE cart SET quantity = 3, amount = 3 * unit_price WHERE cart_id = 1")

        with caplog.at_level(logging.INFO, logger="spark_etl.analytics"):
            refresh(loaded, db.db_schema, db.analytics_schema, lock_timeout="50ms")

        # it waited for no reader: the twin read is refreshed in place, the other stays empty
        assert (
            "product_activity is held by a reader's transaction: refreshed concurrently"
        ) in caplog.messages
        assert twins(loaded, db_settings, "product_activity") == (
            before,
            {"product_activity__a": before.endswith("__a"),
             "product_activity__b": before.endswith("__b")},
        )  # fmt: skip
        assert product_1(loaded, db_settings) == (3, 5, D("5.00"))
        # a view it does not hold is swapped as usual, though it reads the one held
        assert twins(loaded, db_settings, "top_products")[0] != other_before
    finally:
        reader.rollback()
        reader.close()
