"""The analytics views on a small hand-built dataset, against answers worked out by hand.

Customers 1-4 joined in 2020, 5-8 in 2021, 9-12 in 2022. Families KAF (products 1 and 2),
TEE (3) and TAS (4, never sold). Product 1 costs 10.00 until 2023-03-01, then 12.00.
Variations: 1 = product 1 at 10.00, 2 = product 2, 3 = product 3, 4 = product 4,
5 = product 1 at 12.00. Lines 5 and 12 were removed; line 6 predates product 3.

Sales (line: customer, variation, quantity, amount, time):
  1: c1 v1 2 20.00 2023-01-10 10:00     2: c1 v2 1 20.00 2023-01-10 12:00
  3: c2 v1 1 10.00 2023-02-15 09:00     4: c2 v5 3 36.00 2023-03-10 09:00
  6: c5 v3 4 20.00 2021-05-01 09:00     7: c5 v3 2 10.00 2021-07-01 09:00
  8: c6 v3 1  5.00 2023-06-30 09:00     9: c9 v2 2 40.00 2023-12-20 09:00
 10: c9 v2 1 20.00 2023-12-27 09:00    11: c1 v5 1 12.00 2023-12-31 23:00
Purchases (customer/day: size, lines, revenue): c1/01-10: 3, 2, 40; c1/12-31: 1, 1, 12;
c2/02-15: 1, 1, 10; c2/03-10: 3, 1, 36; c5/2021-05-01: 4, 1, 20; c5/2021-07-01: 2, 1, 10;
c6: 1, 1, 5; c9/12-20: 2, 1, 40; c9/12-27: 1, 1, 20.
Lifetime revenue: c6 5, c5 30, c2 46, c1 52, c9 60: quartiles of 5 give Q1 = {c6, c5},
Q2 = {c2}, Q3 = {c1}, Q4 = {c9}; everyone else 'none'.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from psycopg2 import sql

from spark_etl.analytics.kept import KEPT
from spark_etl.analytics.queries import fetch
from spark_etl.analytics.questions import QUESTIONS
from spark_etl.analytics.refresh import refresh
from spark_etl.analytics.report.page import write_report as write_report_page
from spark_etl.analytics.report.section import report_section
from spark_etl.analytics.report.terminal import terminal_summary
from spark_etl.analytics.scheduler import refresh_order
from spark_etl.analytics.schema import definition_sql
from spark_etl.analytics.summaries import SUMMARIES, SUMMARY_TABLES
from spark_etl.cli import main as cli
from spark_etl.db import postgres
from tests import browser
from tests.conftest import schema_of_its_own
from tests.helpers import load_products, run_job, write_csv

pytestmark = pytest.mark.integration

D = Decimal
T = datetime
NAMES = ["Ada GmbH", "Bert & Co", "Cäcilie KG", "Dora Ltd", "Emil AG", "Frida GmbH",
         "Gustav oHG", "Hanna Inc", "Ida GmbH", "Jan & Söhne", "Kurt KG", "Lena Ltd"]  # fmt: skip
CUSTOMERS = [
    (str(i + 1), name, f"{2020 + i // 4}-{i % 4 * 3 + 1:02d}-01") for i, name in enumerate(NAMES)
]
PRODUCTS = [
    ("1", "Kaffee Classic", "10.00", "KAF-001", "2020-01-01"),
    ("2", "Kaffee Premium", "20.00", "KAF-002", "2020-01-01"),
    ("3", "Tee Grün", "5.00", "TEE-001", "2021-06-01"),
    ("4", "Tasse", "1.00", "TAS-001", "2020-01-01"),
]
CARTS = [
    ("1", "1", "1", "2", "2023-01-10 10:00:00", ""),
    ("2", "2", "1", "1", "2023-01-10 12:00:00", ""),
    ("3", "1", "2", "1", "2023-02-15 09:00:00", ""),
    ("4", "1", "2", "3", "2023-03-10 09:00:00", ""),
    ("5", "1", "3", "1", "2023-03-20 09:00:00", "2023-03-21 00:00:00"),
    ("6", "3", "5", "4", "2021-05-01 09:00:00", ""),
    ("7", "3", "5", "2", "2021-07-01 09:00:00", ""),
    ("8", "3", "6", "1", "2023-06-30 09:00:00", ""),
    ("9", "2", "9", "2", "2023-12-20 09:00:00", ""),
    ("10", "2", "9", "1", "2023-12-27 09:00:00", ""),
    ("11", "1", "1", "1", "2023-12-31 23:00:00", ""),
    ("12", "2", "10", "1", "2023-07-05 09:00:00", "2023-07-06 00:00:00"),
]


@pytest.fixture(scope="module")
def db_settings(settings, connection):
    """One schema for the whole module: the dataset is loaded once and only read."""
    yield from schema_of_its_own(settings, connection)


@pytest.fixture(scope="module")
def shop(spark, db_settings, connection, tmp_path_factory):
    """The dataset loaded through the jobs (which refresh the views); yields a connection."""
    tmp_path = tmp_path_factory.mktemp("shop")
    write_csv(tmp_path / "first", "customers", CUSTOMERS)
    write_csv(tmp_path / "first", "products", PRODUCTS)
    run_job(spark, db_settings, connection, tmp_path / "first", "customer_data_transform")
    run_job(spark, db_settings, connection, tmp_path / "first", "product_data_transform")
    repriced = [("1", "Kaffee Classic", "12.00", "KAF-001", "2020-01-01"), *PRODUCTS[1:]]
    # and a broken line, set aside: the data quality section has a reason to chart
    write_csv(tmp_path / "second", "carts", [*CARTS, ("13", "1", "1", "many", "2023-01-11", "")])
    load_products(spark, db_settings, connection, tmp_path / "second", repriced, T(2023, 3, 1))
    run_job(spark, db_settings, connection, tmp_path / "second", "cart_data_transform")
    db = db_settings.database
    conn = postgres.connect(connection, db.db_schema, 10)
    yield conn
    conn.close()


def answers(conn, settings, number: str) -> dict[str, list[tuple]]:
    question = next(q for q in QUESTIONS if q.number == number)
    found = fetch(conn, settings.database.analytics_schema, question)
    return {answer.view: answer.rows for answer in found}


def test_top_products_rank_by_quantity_and_revenue_with_their_pareto_shares(shop, db_settings):
    # revenue 193.00 in all: 80 / 193 = 0.4145, 78 / 193 = 0.4041, 35 / 193 = 0.1813; cumulated
    # by revenue: 80, then 158 / 193 = 0.8187, then all of it
    assert answers(shop, db_settings, "1") == {
        "top_products": [
            (1, "Kaffee Classic", "KAF", 7, D("78.00"), 1, 2, D("0.4041"), D("0.8187")),
            (3, "Tee Grün", "TEE", 7, D("35.00"), 1, 3, D("0.1813"), D("1.0000")),
            (2, "Kaffee Premium", "KAF", 4, D("80.00"), 3, 1, D("0.4145"), D("0.4145")),
        ]
    }


def test_a_limit_returns_the_first_rows_of_each_view_in_order(shop, db_settings):
    question = next(q for q in QUESTIONS if q.number == "1")

    found = fetch(shop, db_settings.database.analytics_schema, question, limit=2)

    assert [row[0] for row in found[0].rows] == [1, 3]  # by rank_by_quantity, then product_id


def test_monthly_sales_per_product_and_variation(shop, db_settings):
    rows = answers(shop, db_settings, "2")["product_sales_monthly"]

    assert [(str(month), *rest) for month, *rest in rows] == [
        ("2021-05-01", 3, 3, 4, D("20.00")),
        ("2021-07-01", 3, 3, 2, D("10.00")),
        ("2023-01-01", 1, 1, 2, D("20.00")),
        ("2023-01-01", 2, 2, 1, D("20.00")),
        ("2023-02-01", 1, 1, 1, D("10.00")),
        ("2023-03-01", 1, 5, 3, D("36.00")),
        ("2023-06-01", 3, 3, 1, D("5.00")),
        ("2023-12-01", 1, 5, 1, D("12.00")),
        ("2023-12-01", 2, 2, 3, D("60.00")),
    ]


# customer, purchases, quantity, revenue, quantity and value per purchase, first and last
# purchase, revenue of the 365 days up to the last purchase
SUMMARY = [
    (9, 2, 3, D("60.00"), D("1.50"), T(2023, 12, 20, 9), T(2023, 12, 27, 9), D("30.00"), D("60.00")),
    (1, 2, 4, D("52.00"), D("2.00"), T(2023, 1, 10, 10), T(2023, 12, 31, 23), D("26.00"), D("52.00")),
    (2, 2, 4, D("46.00"), D("2.00"), T(2023, 2, 15, 9), T(2023, 3, 10, 9), D("23.00"), D("46.00")),
    (5, 2, 6, D("30.00"), D("3.00"), T(2021, 5, 1, 9), T(2021, 7, 1, 9), D("15.00"), D("30.00")),
    (6, 1, 1, D("5.00"), D("1.00"), T(2023, 6, 30, 9), T(2023, 6, 30, 9), D("5.00"), D("5.00")),
]  # fmt: skip


def test_customer_purchase_summary_basket_value_and_sizes(shop, db_settings):
    # the last column: revenue of the 365 days up to the customer's last purchase (all of it
    # here: nobody's purchases lie further apart)
    assert answers(shop, db_settings, "3") == {
        "customer_purchase_summary": SUMMARY,
        # (1.5 + 2 + 2 + 3 + 1) / 5 customers; 18 items / 9 purchases; basket values
        # (30 + 26 + 23 + 15 + 5) / 5 = 19.80; 193.00 / 9 purchases = 21.44
        "avg_purchase_quantity": [(5, D("1.90"), D("2.00"), D("19.80"), D("21.44"))],
        # sizes: 1 item c1/12-31 (12.00), c2/02-15 (10.00), c6 (5.00), c9/12-27 (20.00);
        # 2 items c5/07-01 (10.00), c9/12-20 (40.00); 3 items c1/01-10 (40.00), c2/03-10
        # (36.00); 4 items c5/05-01 (20.00). Shares of 9 purchases and of 193.00
        "basket_size_distribution": [
            (1, "1", 4, D("0.4444"), D("47.00"), D("0.2435"), D("11.75")),
            (2, "2", 2, D("0.2222"), D("50.00"), D("0.2591"), D("25.00")),
            (3, "3", 2, D("0.2222"), D("76.00"), D("0.3938"), D("38.00")),
            (4, "4", 1, D("0.1111"), D("20.00"), D("0.1036"), D("20.00")),
        ],
    }


def index(values: dict[int, Fraction]) -> dict[int, Decimal]:
    """Each value / the mean of the values, rounded to 4 places (by hand, with fractions)."""
    mean = sum(values.values()) / len(values)
    return {
        key: round(
            Decimal(value.numerator)
            / Decimal(value.denominator)
            / (Decimal(mean.numerator) / Decimal(mean.denominator)),
            4,
        )
        for key, value in values.items()
    }


def test_seasonality_averages_each_month_over_the_years_it_was_observed(shop, db_settings):
    found = answers(shop, db_settings, "4")

    # Sales run from 2021-05 to 2023-12: May to December are observed in three years, January
    # to April in two (2022, 2023). Month: (quantity, revenue) summed over the years.
    totals = {1: (3, 40), 2: (1, 10), 3: (3, 36), 4: (0, 0), 5: (4, 20), 6: (1, 5), 7: (2, 10),
              8: (0, 0), 9: (0, 0), 10: (0, 0), 11: (0, 0), 12: (4, 72)}  # fmt: skip
    years = {month: 2 if month <= 4 else 3 for month in totals}
    revenue_index = index({m: Fraction(r, years[m]) for m, (_, r) in totals.items()})
    quantity_index = index({m: Fraction(q, years[m]) for m, (q, _) in totals.items()})
    assert revenue_index[1] == D("3.0508") and revenue_index[12] == D("3.6610")  # 20 and 24 a year
    assert found["seasonality"] == [
        (m, (m - 1) // 3 + 1, years[m], q, D(r), revenue_index[m], quantity_index[m])
        for m, (q, r) in totals.items()
    ]
    by_family = {(row[0], row[1]): row[3:] for row in found["seasonality_by_family"]}
    # KAF (created 2020) and TEE (created 2021-06, but sold in 2021-05) are both observed from
    # 2021-05: twelve months each, over the same years
    assert len(by_family) == 24
    assert by_family[("KAF", 12)][:3] == (3, 4, D("72.00"))
    assert by_family[("TEE", 5)][:3] == (3, 4, D("20.00"))
    by_year = {(row[0], row[1]): row[2:] for row in found["seasonality_by_year"]}
    assert len(by_year) == 32  # 2021-05 .. 2023-12
    # 2023: 163.00 over its 12 months; December 72.00 = 864/163 of the mean month
    assert by_year[(2023, 12)] == (4, D("72.00"), D("5.3006"))
    # 2021: 30.00 over its 8 months (May to December), 3.75 a month; May 20.00 = 16/3 of it
    assert by_year[(2021, 5)] == (4, D("20.00"), D("5.3333"))


def test_most_active_customers_rank_by_purchases_then_quantity(shop, db_settings):
    assert answers(shop, db_settings, "5") == {
        "most_active_customers": [
            (5, "Emil AG", 2, 6, D("30.00"), 1),
            (1, "Ada GmbH", 2, 4, D("52.00"), 2),
            (2, "Bert & Co", 2, 4, D("46.00"), 3),
            (9, "Ida GmbH", 2, 3, D("60.00"), 4),
            (6, "Frida GmbH", 1, 1, D("5.00"), 5),
        ]
    }


def test_purchase_frequency_by_segment(shop, db_settings):
    rows = answers(shop, db_settings, "6")["purchase_frequency_by_segment"]

    # days between purchases: c1 355, c2 23, c5 61, c9 7.
    # Months one could buy in (from joining, or the data's start 2021-05-01 09:00 if later,
    # to the last sale 2023-12-31 23:00, in months of 30.4375 days): 974.5833 days = 32.0192
    # for everyone who joined before May 2021 (c1-c6); c9 joined 2022-01-01: 729.9583 days =
    # 23.9822. Per active month: c1, c2, c5 2 / 32.0192 = 0.062463; c6 0.031232; c9 0.083395
    month = Fraction(487, 16)  # 30.4375 days
    months = {c: Fraction(974 * 24 + 14, 24) / month for c in (1, 2, 5, 6)}
    months[9] = Fraction(729 * 24 + 23, 24) / month
    purchases = {1: 2, 2: 2, 5: 2, 6: 1, 9: 2}

    def mean(customers, size):
        value = sum(Fraction(purchases[c]) / months[c] for c in customers) / size
        return round(Decimal(value.numerator) / Decimal(value.denominator), 4)

    assert sorted(rows) == [
        ("cohort_year", "2020", 4, D("1.00"), D("189.00"), mean([1, 2], 4)),
        ("cohort_year", "2021", 4, D("0.75"), D("61.00"), mean([5, 6], 4)),
        ("cohort_year", "2022", 4, D("0.50"), D("7.00"), mean([9], 4)),
        ("value_tier", "Q1", 2, D("1.50"), D("61.00"), mean([5, 6], 2)),
        ("value_tier", "Q2", 1, D("2.00"), D("23.00"), mean([2], 1)),
        ("value_tier", "Q3", 1, D("2.00"), D("355.00"), mean([1], 1)),
        ("value_tier", "Q4", 1, D("2.00"), D("7.00"), mean([9], 1)),
        ("value_tier", "none", 7, D("0.00"), None, D("0.0000")),
    ]
    # the 2022 cohort buys more often per month as a customer than its 0.50 purchases suggest
    assert mean([9], 1) == D("0.0834") and mean([1, 2], 4) == D("0.0312")


def test_variation_preference_shares_within_family_per_segment(shop, db_settings):
    rows = answers(shop, db_settings, "7")["variation_preference"]

    # KAF-001 sold at 10.00 (variation 1) and at 12.00 (variation 5): one SKU, summed.
    # Over everybody KAF sold 11: KAF-001 7 (0.6364), KAF-002 4 (0.3636); the 2020 cohort's
    # 0.875 of KAF-001 is 0.875 / (7/11) = 1.375 times everybody's. KAF is the largest family
    # (11 items against TEE's 7): family_rank 1.
    assert sorted(rows) == [
        ("cohort_year", "2020", "KAF", "KAF-001", 1, 7, D("0.8750"), D("0.6364"), D("1.3750"), 1),
        ("cohort_year", "2020", "KAF", "KAF-002", 2, 1, D("0.1250"), D("0.3636"), D("0.3438"), 1),
        ("cohort_year", "2021", "TEE", "TEE-001", 3, 7, D("1.0000"), D("1.0000"), D("1.0000"), 2),
        ("cohort_year", "2022", "KAF", "KAF-002", 2, 3, D("1.0000"), D("0.3636"), D("2.7500"), 1),
        ("value_tier", "Q1", "TEE", "TEE-001", 3, 7, D("1.0000"), D("1.0000"), D("1.0000"), 2),
        ("value_tier", "Q2", "KAF", "KAF-001", 1, 4, D("1.0000"), D("0.6364"), D("1.5714"), 1),
        ("value_tier", "Q3", "KAF", "KAF-001", 1, 3, D("0.7500"), D("0.6364"), D("1.1786"), 1),
        ("value_tier", "Q3", "KAF", "KAF-002", 2, 1, D("0.2500"), D("0.3636"), D("0.6875"), 1),
        ("value_tier", "Q4", "KAF", "KAF-002", 2, 3, D("1.0000"), D("0.3636"), D("2.7500"), 1),
    ]


def test_average_cart_size_by_segment(shop, db_settings):
    rows = answers(shop, db_settings, "8")["avg_cart_size_by_segment"]

    # basket values: 2020 (40 + 12 + 10 + 36) / 4 = 24.50; 2021 (20 + 10 + 5) / 3 = 11.67;
    # 2022 (40 + 20) / 2 = 30.00; Q1 = c5, c6 as 2021; Q2 = c2 23.00; Q3 = c1 26.00
    assert sorted(rows) == [
        ("cohort_year", "2020", 4, D("2.00"), D("1.25"), D("24.50")),
        ("cohort_year", "2021", 3, D("2.33"), D("1.00"), D("11.67")),
        ("cohort_year", "2022", 2, D("1.50"), D("1.00"), D("30.00")),
        ("value_tier", "Q1", 3, D("2.33"), D("1.00"), D("11.67")),
        ("value_tier", "Q2", 2, D("2.00"), D("1.00"), D("23.00")),
        ("value_tier", "Q3", 2, D("2.00"), D("1.50"), D("26.00")),
        ("value_tier", "Q4", 2, D("1.50"), D("1.00"), D("30.00")),
    ]


def test_top_variations_rank_a_sku_over_all_its_price_versions(shop, db_settings):
    # KAF-001: 3 items at 10.00 and 4 at 12.00 = 7 (78.00) over two price versions; it leads
    # KAF-002's 4, which a ranking per price version put first (4 against 4 and 3)
    assert answers(shop, db_settings, "9") == {
        "top_variations_by_category": [
            ("KAF", "KAF-001", 1, "001", 7, D("78.00"), 2, 1),
            ("KAF", "KAF-002", 2, "002", 4, D("80.00"), 1, 2),
            ("TEE", "TEE-001", 3, "001", 7, D("35.00"), 1, 1),
        ]
    }


def test_price_change_compares_the_30_days_around_it(shop, db_settings):
    # before [01-30, 03-01): line 3 (1 item, 10.00, c2); after [03-01, 03-31): line 4
    # (3 items, 36.00, c2); line 5 was removed and line 1 is older than 30 days
    assert answers(shop, db_settings, "10") == {
        "price_change_impact": [
            (
                1,
                1,
                5,
                D("10.00"),
                D("12.00"),
                D("20.00"),
                T(2023, 3, 1),
                D("30.00"),
                D("30.00"),
                True,
                D("0.0333"),
                D("0.1000"),
                D("2.0000"),
                D("0.3333"),
                D("1.2000"),
                D("2.6000"),
                1,
                1,
                D("0.0000"),
                None,  # KAF-002 sold nothing in either window: no family change
                D("10.0000"),  # quantity +200% for a price +20%
                None,
            ),
        ]
    }


ENGAGEMENT = [
    (1, "Kaffee Classic", "KAF", 5, 1, D("0.2000"), 7, D("78.00"), 2, D("974.58"), D("0.0051"), 1),
    (2, "Kaffee Premium", "KAF", 4, 1, D("0.2500"), 4, D("80.00"), 2, D("974.58"), D("0.0041"), 2),
    (3, "Tee Grün", "TEE", 3, 0, D("0.0000"), 7, D("35.00"), 2, D("974.58"), D("0.0031"), 3),
    (4, "Tasse", "TAS", 0, 0, None, 0, D("0"), 0, D("974.58"), D("0.0000"), 4),
]  # fmt: skip


def test_product_engagement_includes_products_never_sold(shop, db_settings):
    # on sale from 2021-05-01 09:00 (the data's start; Tee Grün was created on 2021-06-01,
    # but its first line came on 2021-05-01 09:00) to 2023-12-31 23:00: 974.5833 days; lines
    # per day 5 / 974.5833, 4 / 974.5833, 3 / 974.5833
    assert answers(shop, db_settings, "11") == {"product_engagement": ENGAGEMENT}


def test_time_to_purchase_leaves_out_sales_before_creation(shop, db_settings):
    # product 1: sales 1105.42, 1141.38, 1164.38 and 1460.96 days after 2020-01-01
    # product 3: line 6 predates it; lines 7 and 8 come 30.375 and 759.375 days after
    assert answers(shop, db_settings, "12") == {
        "time_to_purchase": [
            (1, "Kaffee Classic", T(2020, 1, 1), T(2023, 1, 10, 10), D("1105.42"), D("1218.03"), 0),
            (2, "Kaffee Premium", T(2020, 1, 1), T(2023, 1, 10, 12), D("1105.50"), D("1337.08"), 0),
            (3, "Tee Grün", T(2021, 6, 1), T(2021, 7, 1, 9), D("30.38"), D("394.88"), 1),
            (4, "Tasse", T(2020, 1, 1), None, None, None, 0),
        ],
        # sales from 2021-05-01 09:00 to 2023-12-31 23:00: only product 3 was created inside
        "time_to_purchase_summary": [
            (T(2021, 5, 1, 9), T(2023, 12, 31, 23), 1, 1, D("30.38"), D("30.38"))
        ],
        # that product's 30.38 days fall in 30 to 90; the other buckets are there, empty
        "time_to_purchase_distribution": [
            (bucket, label, int(bucket == 4), D("1.0000") if bucket == 4 else D("0.0000"))
            for bucket, label in enumerate(
                [
                    "under 1",
                    "1 to 7",
                    "7 to 30",
                    "30 to 90",
                    "90 to 180",
                    "180 to 365",
                    "365 or more",
                    "not sold yet",
                ],
                start=1,
            )
        ],
    }


def test_end_of_life_candidates_and_dormant_customers(shop, db_settings):
    found = answers(shop, db_settings, "13")

    # latest sale 2023-12-31 23:00; halves (2022-12-31 23:00, 2023-06-30 23:00] and after.
    # Kaffee Classic fell from 6 to 1: below the minimum of 10 units, noise, not a candidate.
    # Revenue at risk: Tee Grün's 12 months hold line 8 (5.00); a customer's 365 days up to
    # the last purchase hold all their purchases here (c2 10 + 36, c5 20 + 10, c6 5)
    assert found["end_of_life_candidates"] == [
        (
            3,
            "Tee Grün",
            "TEE",
            T(2023, 6, 30, 9),
            D("184.6"),
            1,
            0,
            "no sale in the last 180 days",
            D("5.00"),
        ),
        (4, "Tasse", "TAS", None, None, 0, 0, "no sale in the last 180 days", D("0")),
    ]
    assert found["dormant_customers"] == [
        (2, "Bert & Co", T(2023, 3, 10, 9), D("296.6"), 2, D("46.00")),
        (3, "Cäcilie KG", None, None, 0, D("0")),
        (4, "Dora Ltd", None, None, 0, D("0")),
        (5, "Emil AG", T(2021, 7, 1, 9), D("913.6"), 2, D("30.00")),
        (6, "Frida GmbH", T(2023, 6, 30, 9), D("184.6"), 1, D("5.00")),
        (7, "Gustav oHG", None, None, 0, D("0")),
        (8, "Hanna Inc", None, None, 0, D("0")),
        (10, "Jan & Söhne", None, None, 0, D("0")),
        (11, "Kurt KG", None, None, 0, D("0")),
        (12, "Lena Ltd", None, None, 0, D("0")),
    ]
    assert found["lifecycle_summary"] == [
        ("customer", "no purchase in the last 180 days", 10, D("81.00")),
        ("product", "no sale in the last 180 days", 2, D("5.00")),
    ]


def test_lifecycle_functions_take_another_window(shop, db_settings):
    schema = db_settings.database.analytics_schema
    with shop.cursor() as cur:
        cur.execute(
            f'SELECT product_id, reason FROM "{schema}".end_of_life_candidates(400) ORDER BY 1'
        )
        products = [tuple(row.values()) for row in cur.fetchall()]
        cur.execute(f'SELECT customer_id FROM "{schema}".dormant_customers(1000) ORDER BY 1')
        customers = [row["customer_id"] for row in cur.fetchall()]

    # 400 days: Tee Grün sold 2023-06-30, inside; its fall from 1 to 0 is below the minimum
    assert products == [(4, "no sale in the last 400 days")]
    # 1000 days before the latest sale is 2021-04-05 23:00: c7 to c12 joined later, so are not
    # dormant yet; c5's last purchase is 913.6 days old
    assert customers == [3, 4]


def test_refresh_again_keeps_answers(shop, db_settings):
    db = db_settings.database
    before = answers(shop, db_settings, "1")

    refreshed = refresh(shop, db.db_schema, db.analytics_schema)

    # the materialized views and the answers kept per key (the summaries are not views)
    assert len(refreshed) == 18
    assert answers(shop, db_settings, "1") == before


def test_refresh_on_several_connections_keeps_answers(shop, db_settings, connection):
    db = db_settings.database
    every = [question.number for question in QUESTIONS]
    before = {number: answers(shop, db_settings, number) for number in every}
    opened = []

    def connect():
        opened.append(postgres.open_model(connection, db))
        return opened[-1]

    seconds = {}
    refreshed = refresh(
        shop, db.db_schema, db.analytics_schema, seconds, connect=connect, connections=3
    )

    assert len(refreshed) == 18
    assert set(seconds) == {SUMMARIES, *refreshed}
    assert {number: answers(shop, db_settings, number) for number in every} == before
    with shop.cursor() as cur:  # kept for the next refresh's order, as they were measured
        cur.execute(
            sql.SQL("SELECT name, seconds FROM {}.refresh_step").format(
                sql.Identifier(db.analytics_schema)
            )
        )
        assert {row["name"]: row["seconds"] for row in cur.fetchall()} == seconds
    assert len(opened) == 2 and all(conn.closed for conn in opened)
    with shop.cursor() as cur:  # every view reads its other twin now, as one refresh leaves it
        cur.execute(
            "SELECT count(*) FILTER (WHERE relispopulated) AS filled, count(*) AS twins"
            " FROM pg_class WHERE relnamespace = to_regnamespace(%s) AND relkind = 'm'",
            (db.analytics_schema,),
        )
        assert cur.fetchone() == {"filled": 15, "twins": 30}


def test_refresh_order_follows_what_each_view_reads_even_through_functions(shop, db_settings):
    views = {
        view["name"]: view for view in refresh_order(shop, db_settings.database.analytics_schema)
    }
    order = list(views)

    # (reader, what it reads): directly, through the view customer_segment_membership, and
    # through the function variation_preference_rows()
    for reader, source in [
        ("purchase_frequency_by_segment", "customer_segment"),
        ("avg_cart_size_by_segment", "customer_segment"),
        ("top_products", "product_activity"),
        ("lifecycle_summary", "product_activity"),  # through end_of_life_candidates()
    ]:
        assert order.index(source) < order.index(reader), (reader, source)
        assert source in views[reader]["reads"], (reader, source)
    # a view reading an answer kept per key waits for its step (through the plain view that
    # reads its tables); that step, not a view, waits for what it reads
    for reader, kept in [
        ("seasonality_by_family", "family_sales_monthly"),
        ("most_active_customers", "customer_purchase_summary"),
        ("lifecycle_summary", "customer_purchase_summary"),  # through dormant_customers()
    ]:
        assert kept not in views and kept in views[reader]["reads"], (reader, kept)
    assert set(KEPT["family_sales_monthly"].reads) == {SUMMARIES, "data_period", "monthly_kpi"}
    assert set(KEPT["monthly_kpi"].reads) == {SUMMARIES, "data_period"}
    assert set(KEPT["customer_purchase_summary"].reads) == {SUMMARIES}
    # what reads the tables summarize_cart() keeps waits for it; what reads cart itself does not
    summaries = SUMMARIES
    assert summaries in views["customer_segment"]["reads"]  # purchase
    assert summaries in views["product_activity"]["reads"]  # product_month, product_buyer
    assert summaries in views["variation_preference"]["reads"]  # cohort_/tier_variation
    assert summaries not in views["data_period"]["reads"]
    again = refresh_order(shop, db_settings.database.analytics_schema)
    assert order == [view["name"] for view in again]  # deterministic
    assert len(order) == 15


def test_every_materialized_view_is_stored_twice():
    text = definition_sql()
    views = re.findall(r"CREATE MATERIALIZED VIEW (\w+)", text)

    assert len(views) == 15
    assert re.findall(r"CALL store_twice\('(\w+)'\);", text) == views


def test_no_string_bodied_function_reads_a_materialized_view():
    """A function whose body is a string hides what it reads from pg_depend, and so from the
    refresh order: those that read a materialized view, or a table summarize_cart() keeps
    (but summarize_cart() itself and the functions it calls), must be BEGIN ATOMIC; a kept
    answer's function reads only what its declaration (kept.py) says it reads."""
    text = definition_sql()
    views = set(re.findall(r"CREATE MATERIALIZED VIEW (\w+)", text))
    bodies = []
    for chunk in text.split("CREATE FUNCTION ")[1:]:
        string_body = re.search(r"\bAS \$\$(.*?)\$\$;", chunk, flags=re.DOTALL)
        if string_body:
            bodies.append((chunk.split("(", 1)[0], string_body.group(1)))
    # purchase_of_month, product_sales_of_month, product_month_of, cart_ranges, the triggers'
    # two, summarize_cart and the three functions it calls, the three keep_* functions,
    # empty_for_refill and build_indexes
    summarizing = {
        "summarize_cart",
        "product_month_of",
        "apply_product_month_changes",
        "summarize_product_buyers",
        "summarize_customer_segments",
    }
    kept = {answer.function: answer for answer in KEPT.values()}
    assert len(bodies) == 15
    for name, body in bodies:
        code = re.sub(r"--[^\n]*", "", body)
        read = {view for view in views if re.search(rf"\b{view}\b", code)}
        summarized = {table for table in SUMMARY_TABLES if re.search(rf"\b{table}\b", code)}
        if name in kept:
            declared = set(kept[name].reads)
            assert read <= declared, (name, read - declared)
            assert not summarized or SUMMARIES in declared, (name, summarized)
            continue
        assert not read, (name, read)
        assert not summarized or name in summarizing, (name, summarized)
    assert set(kept) <= {name for name, _ in bodies}


def write_report(conn, settings, folder):
    folder.mkdir(parents=True, exist_ok=True)
    schema = settings.database.analytics_schema
    sections = [report_section(conn, schema, q, folder) for q in QUESTIONS]
    return write_report_page(folder, sections, T(2024, 1, 2, 3, 4), "EUR")


def test_report_has_every_question_its_charts_and_nothing_from_outside(shop, db_settings, tmp_path):
    index = write_report(shop, db_settings, tmp_path / "report")

    page = index.read_text(encoding="utf-8")
    for question in QUESTIONS:
        assert f"<h2>{question.number}. {question.title}</h2>".replace("&", "&amp;") in page
        for view in question.views:
            assert (tmp_path / "report" / f"{view}.csv").is_file()
    # every chart has rows to draw on this data set
    assert page.count('class="plotly-graph-div"') == sum(len(q.charts) for q in QUESTIONS)
    assert "No rows to chart" not in page
    assert "http://" not in page and "https://" not in page
    links = set(re.findall(r'(?:href|src)="([^"#][^"]*)"', page))  # "#..." point inside the page
    assert links == {"plotly.min.js"} | {f"{view}.csv" for q in QUESTIONS for view in q.views}
    assert (tmp_path / "report" / "plotly.min.js").stat().st_size > 1_000_000
    csv_lines = (tmp_path / "report" / "top_products.csv").read_text(encoding="utf-8").splitlines()
    assert csv_lines == [
        "product_id,name,sku,quantity,revenue,rank_by_quantity,rank_by_revenue,revenue_share,cumulative_revenue_share",
        "1,Kaffee Classic,KAF,7,78.00,1,2,0.4041,0.8187",
        "3,Tee Grün,TEE,7,35.00,1,3,0.1813,1.0000",
        "2,Kaffee Premium,KAF,4,80.00,3,1,0.4145,0.4145",
    ]
    # the key figures of December 2023 (72.00 from 3 purchases; November sold nothing)
    for value in ("72.00", "24.00"):
        assert f'<span class="unit">EUR</span> <span>{value}</span>' in page
    assert "Key figures of December 2023, against the month before" in page


def test_report_tables_show_the_first_rows_and_say_where_the_rest_is(shop, db_settings, tmp_path):
    index = write_report(shop, db_settings, tmp_path / "report")

    page = index.read_text(encoding="utf-8")
    # 32 months from 2021-05 to 2023-12: the page shows 20, the CSV holds all of them
    assert "First 20 of 32 rows; all of them are in monthly_kpi.csv." in page
    assert len((tmp_path / "report" / "monthly_kpi.csv").read_text().splitlines()) == 1 + 32


def test_report_opens_in_a_browser_with_every_chart_drawn_and_no_console_message(
    shop, db_settings, tmp_path
):
    if browser.chromium() is None:
        pytest.skip("chromium is not installed (./test.sh installs Debian's package)")
    index = write_report(shop, db_settings, tmp_path / "report")

    page = browser.open_page(index)
    shot = browser.screenshot(index, tmp_path / "report" / "first-screen.png")

    assert page.console == []  # no error, no warning, nothing
    sections = re.split(r'<section id="q', page.dom)[1:]
    assert len(sections) == len(QUESTIONS)
    for question, section in zip(QUESTIONS, sections, strict=True):
        assert section.startswith(f'{question.number}"')
        # plotly drew each chart (its <svg class="main-svg"> exists only once it ran)
        drawn = len(re.findall(r'<div[^>]*class="[^"]*js-plotly-plot', section))
        assert drawn == len(question.charts), question.number
        assert section.count("<table") == len(question.views), question.number
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a screen with something on it, not a blank page


def test_terminal_summary_prints_the_first_rows_as_a_table(shop, db_settings, tmp_path):
    section = report_section(shop, db_settings.database.analytics_schema, QUESTIONS[1], tmp_path)

    text = terminal_summary(section, top=2)

    assert text.splitlines() == [
        "== 1. Top products",
        "-- analytics.top_products (first 2 of 3)",
        "product_id    name            sku    quantity    revenue    rank_by_quantity    rank_by_revenue    revenue_share    cumulative_revenue_share",
        "------------  --------------  -----  ----------  ---------  ------------------  -----------------  ---------------  --------------------------",
        "1             Kaffee Classic  KAF    7           78.00      1                   2                  0.4041           0.8187",
        "3             Tee Grün        TEE    7           35.00      1                   3                  0.1813           1.0000",
    ]


def test_analytics_command_prints_every_answer_and_the_report_path(shop, cli_env, tmp_path, capsys):
    out = tmp_path / "report"

    code = cli.main("analytics", ["--config", str(cli_env), "--output-dir", str(out), "--top", "1"])

    printed = capsys.readouterr().out
    assert code == 0
    for question in QUESTIONS:
        assert f"== {question.number}. {question.title}\n" in printed
    assert "-- analytics.top_products (first 1 of 3)\n" in printed
    assert printed.rstrip().splitlines()[-1] == f"Report: {(out / 'index.html').resolve()}"
    assert (out / "index.html").is_file()


def test_analytics_command_names_an_unwritable_report_folder(shop, cli_env, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")

    code = cli.main("analytics", ["--config", str(cli_env), "--output-dir", str(blocker / "r")])

    assert code == 2
    assert capsys.readouterr().err == (
        f"error: Output folder {blocker}/r is not writable (Not a directory); choose another --output-dir.\n"
    )
