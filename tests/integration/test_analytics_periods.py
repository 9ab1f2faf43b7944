"""Analytics answers that depend on the period the data covers, each on a small data set of
its own whose answer is computed by hand in the test."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from spark_etl.analytics.queries import fetch
from spark_etl.analytics.questions import QUESTIONS
from spark_etl.db import postgres
from tests.helpers import load_products, run_job, write_csv

pytestmark = pytest.mark.integration

D = Decimal
T = datetime
DAY = date


def answers(connection, settings, number: str) -> dict[str, list[tuple]]:
    db = settings.database
    conn = postgres.connect(connection, db.db_schema, 10)
    try:
        question = next(q for q in QUESTIONS if q.number == number)
        return {a.view: a.rows for a in fetch(conn, db.analytics_schema, question)}
    finally:
        conn.close()


def test_time_to_purchase_averages_only_products_created_inside_the_period(
    spark, db_settings, connection, tmp_path
):
    write_csv(tmp_path, "customers", [("1", "Ada GmbH", "2020-01-01")])
    write_csv(
        tmp_path,
        "products",
        [
            ("1", "Old", "1.00", "OLD-001", "2019-01-01"),  # before the data: left out
            ("2", "Two", "1.00", "NEW-001", "2023-01-02"),
            ("3", "Three", "1.00", "NEW-002", "2023-01-03"),
            ("4", "Four", "1.00", "NEW-003", "2023-01-04"),
        ],
    )
    write_csv(
        tmp_path,
        "carts",
        [
            ("1", "1", "1", "1", "2023-01-01 00:00:00", ""),  # the first sale: the period starts
            ("2", "2", "1", "1", "2023-01-03 00:00:00", ""),  # 1 day after creation
            ("3", "3", "1", "1", "2023-01-05 00:00:00", ""),  # 2 days
            ("4", "4", "1", "1", "2023-01-13 00:00:00", ""),  # 9 days; the period ends
        ],
    )

    run_job(spark, db_settings, connection, tmp_path)

    # products 2, 3 and 4: mean (1 + 2 + 9) / 3 = 4, median 2; product 1 (1461 days) is out
    assert answers(connection, db_settings, "12")["time_to_purchase_summary"] == [
        (T(2023, 1, 1), T(2023, 1, 13), 3, 3, D("4.00"), D("2.00"))
    ]


def test_lifecycle_needs_an_old_enough_item_and_a_real_fall(
    spark, db_settings, connection, tmp_path
):
    write_csv(
        tmp_path,
        "customers",
        [
            ("1", "Buyer", "2020-01-01"),
            ("2", "Joined Yesterday", "2023-12-30"),  # never bought, but too new to be dormant
            ("3", "Gone", "2020-01-01"),  # never bought: dormant
        ],
    )
    write_csv(
        tmp_path,
        "products",
        [
            ("1", "Big Seller", "1.00", "BIG-001", "2020-01-01"),
            ("2", "Small Seller", "1.00", "SMA-001", "2020-01-01"),
            ("3", "Brand New", "1.00", "NEW-001", "2023-12-01"),  # 30 days old, no sale yet
            ("4", "Forgotten", "1.00", "FOR-001", "2020-01-01"),  # never sold
        ],
    )
    write_csv(
        tmp_path,
        "carts",
        [
            ("1", "1", "1", "20", "2023-03-01 00:00:00", ""),  # previous half
            ("2", "1", "1", "5", "2023-12-31 00:00:00", ""),  # recent half; the latest sale
            ("3", "2", "1", "6", "2023-03-01 00:00:00", ""),
            ("4", "2", "1", "1", "2023-10-01 00:00:00", ""),
        ],
    )

    run_job(spark, db_settings, connection, tmp_path)

    found = answers(connection, db_settings, "13")
    # Big Seller 20 -> 5: fell by more than half from at least 10; Small Seller 6 -> 1: noise;
    # Brand New is younger than the 180 days; Forgotten is old and never sold
    # revenue at risk: Big Seller's 12 months hold both its lines (20 + 5 items at 1.00)
    assert found["end_of_life_candidates"] == [
        (
            1,
            "Big Seller",
            "BIG",
            T(2023, 12, 31),
            D("0.0"),
            20,
            5,
            "sales fell by more than half",
            D("25.00"),
        ),
        (4, "Forgotten", "FOR", None, None, 0, 0, "no sale in the last 180 days", D("0")),
    ]
    assert found["dormant_customers"] == [(3, "Gone", None, None, 0, D("0"))]
    assert found["lifecycle_summary"] == [
        ("customer", "no purchase in the last 180 days", 1, D("0")),
        ("product", "no sale in the last 180 days", 1, D("0")),
        ("product", "sales fell by more than half", 1, D("25.00")),
    ]


def months(first: tuple[int, int], count: int) -> list[tuple[int, int]]:
    year, month = first
    return [(year + (month - 1 + i) // 12, (month - 1 + i) % 12 + 1) for i in range(count)]


def test_seasonality_at_flat_demand_is_flat_and_a_late_family_has_no_months_before_it(
    spark, db_settings, connection, tmp_path
):
    write_csv(tmp_path, "customers", [("1", "Ada GmbH", "2020-01-01")])
    write_csv(
        tmp_path,
        "products",
        [
            ("1", "Flat", "1.00", "FLA-001", "2020-01-01"),
            ("2", "Late", "1.00", "LAT-001", "2023-07-01"),  # launched in July
        ],
    )
    sold = [("1", year, month) for year, month in months((2023, 1), 15)]  # 2023-01 .. 2024-03
    sold += [("2", year, month) for year, month in months((2023, 7), 9)]  # 2023-07 .. 2024-03
    write_csv(
        tmp_path,
        "carts",
        [
            (str(i + 1), product, "1", "1", f"{year}-{month:02d}-15 10:00:00", "")
            for i, (product, year, month) in enumerate(sold)
        ],
    )

    run_job(spark, db_settings, connection, tmp_path)

    found = answers(connection, db_settings, "4")
    flat = [row for row in found["seasonality_by_family"] if row[0] == "FLA"]
    # one unit every month: every month is an average month, however many years it was seen
    # in (January to March twice, April to December once); summing instead made January 1.6
    # and April 0.8
    assert flat == [
        ("FLA", m, (m - 1) // 3 + 1, 2 if m <= 3 else 1, 2 if m <= 3 else 1,
         D("2.00") if m <= 3 else D("1.00"), D("1.0000"), D("1.0000"))
        for m in range(1, 13)
    ]  # fmt: skip
    late = [row for row in found["seasonality_by_family"] if row[0] == "LAT"]
    # observed from its launch (2023-07): no zeros for April to June, nine average months
    assert [row[1] for row in late] == [1, 2, 3, 7, 8, 9, 10, 11, 12]
    assert {(row[3], row[6], row[7]) for row in late} == {(1, D("1.0000"), D("1.0000"))}


def test_price_change_windows_stop_at_the_neighbouring_change_and_at_the_data(
    spark, db_settings, connection, tmp_path
):
    customers = [("1", "Ada GmbH", "2020-01-01")]
    products = [("1", "Pen", "10.00", "PEN-001", "2023-01-01"), ("2", "Ink", "1.00", "INK-001", "2020-01-01")]  # fmt: skip
    write_csv(tmp_path / "first", "customers", customers)
    write_csv(tmp_path / "first", "products", products)
    run_job(spark, db_settings, connection, tmp_path / "first", "customer_data_transform")
    run_job(spark, db_settings, connection, tmp_path / "first", "product_data_transform")
    for price, as_of in (("12.00", T(2023, 3, 1)), ("15.00", T(2023, 3, 11))):
        repriced = [("1", "Pen", price, "PEN-001", "2023-01-01"), products[1]]
        load_products(spark, db_settings, connection, tmp_path / price, repriced, as_of)
    write_csv(
        tmp_path / "carts",
        "carts",
        [
            ("1", "2", "1", "1", "2023-01-05 10:00:00", ""),  # the data starts on 01-05
            ("2", "1", "1", "1", "2023-02-10 10:00:00", ""),  # at 10.00
            ("3", "1", "1", "1", "2023-02-20 10:00:00", ""),  # at 10.00
            ("4", "1", "1", "2", "2023-03-05 10:00:00", ""),  # at 12.00
            ("5", "1", "1", "1", "2023-03-15 10:00:00", ""),  # at 15.00
            ("6", "1", "1", "1", "2023-03-20 10:00:00", ""),  # at 15.00; the data ends on 03-20
        ],
    )
    run_job(spark, db_settings, connection, tmp_path / "carts", "cart_data_transform")

    rows = answers(connection, db_settings, "10")["price_change_impact"]
    # 03-01: before [01-30, 03-01) 30 days, 2 items, 20.00; after [03-01, 03-11) cut at the
    # next change: 10 days, 2 items, 24.00 (the 30 days after would have counted the two sold
    # at 15.00 too). Per day 2/30 against 2/10: +200%; revenue 20/30 against 24/10: +260%.
    # 03-11: before [03-01, 03-11) cut at the change before: 10 days, 2 items, 24.00; after
    # [03-11, 03-21) cut where the data ends: 10 days, 2 items, 30.00.
    # Elasticity: +200% for +20% = 10; 0% for +25% = 0. Ink is another family: no family change.
    assert rows == [
        (1, 1, 3, D("10.00"), D("12.00"), D("20.00"), T(2023, 3, 1), D("30.00"), D("10.00"), False,
         D("0.0667"), D("0.2000"), D("2.0000"), D("0.6667"), D("2.4000"), D("2.6000"), 1, 1, D("2.0000"),
         None, D("10.0000"), None),
        (1, 3, 4, D("12.00"), D("15.00"), D("25.00"), T(2023, 3, 11), D("10.00"), D("10.00"), False,
         D("0.2000"), D("0.2000"), D("0.0000"), D("2.4000"), D("3.0000"), D("0.2500"), 1, 1, D("0.0000"),
         None, D("0.0000"), None),
    ]  # fmt: skip


def test_key_figures_compare_the_latest_whole_month_and_growth_is_per_family(
    spark, db_settings, connection, tmp_path
):
    write_csv(
        tmp_path,
        "customers",
        [
            ("1", "Ada GmbH", "2022-01-01"),
            ("2", "Bert KG", "2022-01-01"),
            ("3", "Cleo AG", "2022-01-01"),
        ],
    )
    write_csv(
        tmp_path,
        "products",
        [
            ("1", "Mug", "10.00", "MUG-001", "2022-01-01"),
            ("2", "Cup", "5.00", "MUG-002", "2022-01-01"),
        ],
    )
    write_csv(
        tmp_path,
        "carts",
        [
            ("1", "1", "1", "2", "2023-01-15 08:00:00", ""),  # the data starts mid-January
            ("2", "1", "1", "1", "2024-01-10 09:00:00", ""),  # c1's purchase of 01-10: 3 items,
            ("3", "2", "1", "2", "2024-01-10 10:00:00", ""),  # 20.00
            ("4", "2", "2", "1", "2024-01-20 09:00:00", ""),  # 5.00
            ("5", "1", "1", "3", "2024-02-05 09:00:00", ""),  # 30.00
            ("6", "1", "2", "1", "2024-02-06 09:00:00", ""),  # 10.00
            ("7", "2", "3", "4", "2024-02-07 09:00:00", ""),  # 20.00
            ("8", "1", "3", "1", "2024-03-02 09:00:00", ""),  # the data ends on 03-02
        ],
    )

    run_job(spark, db_settings, connection, tmp_path)

    found = answers(connection, db_settings, "0")
    # March 2024 is partial (the data ends on the 2nd): February is the latest whole month.
    # February: 60.00 from 3 purchases of 3, 1 and 4 items, 3 lines, 3 customers; January:
    # 25.00 from 2 purchases of 3 and 1 items, 3 lines, 2 customers; February 2023: nothing.
    # Basket size 8/3 against 4/2: +33.33% (from the exact 2.6667, not the rounded 2.67)
    assert found["key_figures"] == [
        (DAY(2024, 2, 1), False, 1, "revenue", "currency", D("60.00"), D("25.00"), D("1.4000"), D("0.00"), None, False, False),
        (DAY(2024, 2, 1), False, 2, "sales", "cart lines", D("3.00"), D("3.00"), D("0.0000"), D("0.00"), None, False, False),
        (DAY(2024, 2, 1), False, 3, "buying customers", "customers", D("3.00"), D("2.00"), D("0.5000"), D("0.00"), None, False, False),
        (DAY(2024, 2, 1), False, 4, "average basket value", "currency", D("20.00"), D("12.50"), D("0.6000"), None, None, False, False),
        (DAY(2024, 2, 1), False, 5, "average basket size", "items", D("2.67"), D("2.00"), D("0.3333"), None, None, False, False),
    ]  # fmt: skip
    monthly = {row[0]: row for row in found["monthly_kpi"]}
    assert len(monthly) == 15  # 2023-01 .. 2024-03, the empty months included
    assert [month for month, row in monthly.items() if row[1]] == [DAY(2023, 1, 1), DAY(2024, 3, 1)]
    # month, partial, revenue, sales, quantity, customers, purchases, basket value and size,
    # against the month before and the year before: January 2024 is 25.00 / 20.00 - 1
    assert monthly[DAY(2024, 1, 1)] == (
        DAY(2024, 1, 1),
        False,
        D("25.00"),
        3,
        4,
        2,
        2,
        D("12.50"),
        D("2.00"),
        None,
        D("0.2500"),
    )
    assert found["data_period"] == [
        (T(2023, 1, 15, 8), T(2024, 3, 2, 9), DAY(2023, 1, 1), DAY(2024, 3, 1), 0, None, None, None)
    ]

    family = {row[1]: row for row in answers(connection, db_settings, "2")["family_sales_monthly"]}
    # one family, MUG, every month from the data's start (it launched before), zeros included
    assert len(family) == 15
    assert family[DAY(2023, 6, 1)] == ("MUG", DAY(2023, 6, 1), False, 0, D("0"), None, None, 1)
    assert family[DAY(2024, 2, 1)][3:7] == (8, D("60.00"), D("1.4000"), None)
    assert family[DAY(2024, 3, 1)][2:7] == (True, 1, D("10.00"), D("-0.8333"), None)


@pytest.mark.parametrize(
    ("family_after", "expected"),
    [
        # the rest of the family fell too, 4 -> 3: -25%; against it Pen fell 0.5 / 0.75 - 1 =
        # -33.33%, an elasticity of -1.3333
        ([("5", "2", "1", "3", "2023-03-12 10:00:00", "")], (D("-0.2500"), D("-1.3333"))),
        # the rest of the family sold nothing after the change: -100%, nothing to compare with
        ([], (D("-1.0000"), None)),
    ],
)
def test_elasticity_is_also_given_against_the_rest_of_the_family(
    spark, db_settings, connection, tmp_path, family_after, expected
):
    products = [("1", "Pen", "10.00", "PEN-001", "2022-01-01"), ("2", "Pen Blue", "10.00", "PEN-002", "2022-01-01")]  # fmt: skip
    write_csv(tmp_path / "first", "customers", [("1", "Ada GmbH", "2020-01-01")])
    write_csv(tmp_path / "first", "products", products)
    run_job(spark, db_settings, connection, tmp_path / "first", "customer_data_transform")
    run_job(spark, db_settings, connection, tmp_path / "first", "product_data_transform")
    repriced = [("1", "Pen", "12.50", "PEN-001", "2022-01-01"), products[1]]
    load_products(spark, db_settings, connection, tmp_path / "second", repriced, T(2023, 3, 1))
    write_csv(
        tmp_path / "carts",
        "carts",
        [
            ("1", "2", "1", "1", "2023-01-01 10:00:00", ""),  # the data starts
            ("2", "1", "1", "4", "2023-02-10 10:00:00", ""),  # Pen before: 4
            ("3", "2", "1", "4", "2023-02-12 10:00:00", ""),  # the family before: 4
            ("4", "1", "1", "2", "2023-03-10 10:00:00", ""),  # Pen after: 2
            *family_after,
            ("6", "2", "1", "1", "2023-04-30 10:00:00", ""),  # the data ends
        ],
    )
    run_job(spark, db_settings, connection, tmp_path / "carts", "cart_data_transform")

    [row] = answers(connection, db_settings, "10")["price_change_impact"]
    # price +25%; both windows the full 30 days. Pen 4 -> 2: -50%, elasticity -0.5 / 0.25 = -2
    assert (row[5], row[9], row[12], row[20]) == (D("25.00"), True, D("-0.5000"), D("-2.0000"))
    assert (row[19], row[21]) == expected


def test_engagement_counts_days_on_sale_from_the_first_line_when_it_predates_the_product(
    spark, db_settings, connection, tmp_path
):
    write_csv(tmp_path, "customers", [("1", "Ada GmbH", "2020-01-01")])
    write_csv(
        tmp_path,
        "products",
        [
            ("1", "Early", "1.00", "EAR-001", "2023-06-01"),  # sold since January regardless
            ("2", "Late", "1.00", "LAT-001", "2024-02-01"),  # created after the data ends
            ("3", "Plain", "1.00", "PLA-001", "2020-01-01"),
        ],
    )
    write_csv(
        tmp_path,
        "carts",
        [
            ("1", "1", "1", "1", "2023-01-01 10:00:00", ""),  # the data starts
            ("2", "3", "1", "1", "2023-06-01 10:00:00", ""),
            ("3", "1", "1", "1", "2023-12-31 10:00:00", ""),  # the data ends: 364 days
        ],
    )

    run_job(spark, db_settings, connection, tmp_path)

    rows = answers(connection, db_settings, "11")["product_engagement"]
    # Early counts from its first line (364 days, not the 213 since its creation): 2 / 364;
    # Plain 1 / 364; Late was never on sale in the data: no rate, ranked last
    assert [(r[0], r[3], r[9], r[10], r[11]) for r in rows] == [
        (1, 2, D("364.00"), D("0.0055"), 1),
        (3, 1, D("364.00"), D("0.0027"), 2),
        (2, 0, None, None, 3),
    ]
