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
