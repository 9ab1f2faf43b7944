"""Analytics answers that depend on the period the data covers, each on a small data set of
its own whose answer is computed by hand in the test."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from spark_etl import analytics, database
from spark_etl.analytics import QUESTIONS
from tests.helpers import run_job, write_csv

pytestmark = pytest.mark.integration

D = Decimal
T = datetime


def answers(connection, settings, number: str) -> dict[str, list[tuple]]:
    db = settings.database
    conn = database.connect(connection, db.db_schema, 10)
    try:
        question = next(q for q in QUESTIONS if q.number == number)
        return {a.view: a.rows for a in analytics.fetch(conn, db.analytics_schema, question)}
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
    assert found["end_of_life_candidates"] == [
        (1, "Big Seller", "BIG", T(2023, 12, 31), D("0.0"), 20, 5, "sales fell by more than half"),
        (4, "Forgotten", "FOR", None, None, 0, 0, "no sale in the last 180 days"),
    ]
    assert found["dormant_customers"] == [(3, "Gone", None, None, 0)]


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
        folder = tmp_path / price
        write_csv(folder, "products", [("1", "Pen", price, "PEN-001", "2023-01-01"), products[1]])
        run_job(spark, db_settings, connection, folder, "product_data_transform", as_of=as_of)
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
    assert rows == [
        (1, 1, 3, D("10.00"), D("12.00"), D("20.00"), T(2023, 3, 1), D("30.00"), D("10.00"), False,
         D("0.0667"), D("0.2000"), D("2.0000"), D("0.6667"), D("2.4000"), D("2.6000"), 1, 1, D("2.0000")),
        (1, 3, 4, D("12.00"), D("15.00"), D("25.00"), T(2023, 3, 11), D("10.00"), D("10.00"), False,
         D("0.2000"), D("0.2000"), D("0.0000"), D("2.4000"), D("3.0000"), D("0.2500"), 1, 1, D("0.0000")),
    ]  # fmt: skip
