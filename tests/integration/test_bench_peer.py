"""The harness's DuckDB peer computes the model's rows and loads them into the model's tables:
the same partitions, keys and indexes as the loads create."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import pytest

pytest.importorskip("duckdb", reason="the bench extra (pip install -e .[bench])")

from bench import peer
from tests.helpers import open_connection, write_csv

pytestmark = [pytest.mark.integration, pytest.mark.bench]


def rows(cur, statement: str, *params: str) -> list[tuple]:
    cur.execute(statement, params)
    return [tuple(row.values()) for row in cur.fetchall()]


def test_peer_prices_each_line_by_its_variation_into_the_partitioned_model(connection, tmp_path):
    input_dir = tmp_path / "input"
    write_csv(
        input_dir,
        "customers",
        [("1", "Müller  &   Söhne", "2019-01-05"), ("2", "Smith GmbH", "2019-02-01 10:00:00")],
    )
    write_csv(
        input_dir,
        "products",
        [
            ("1", "Teekanne Öko", "12.5", "ABC-001", "2019-01-01 00:00:00"),
            ("2", "Notebook, 50 g", "3.99", " XYZ-L-2 ", "2019-06-01"),
            ("3", "Mini", "7", "PLAIN", "2019-07-01 08:00:00"),
        ],
    )
    write_csv(
        input_dir,
        "carts",
        [
            ("1", "1", "1", "2", "2020-01-15 10:00:00", ""),
            ("2", "2", "2", "3", "2020-02-01 00:00:00", "2020-02-03 12:00:00"),
            ("3", "1", "2", "1", "2018-12-31 23:59:59", ""),  # before its product: first price
            ("4", "3", "1", "10", "2020-01-31 23:59:59", ""),
        ],
    )
    schema = f"peer_{uuid.uuid4().hex[:12]}"
    conn = open_connection(connection)
    try:
        seconds = peer.load(connection, schema, input_dir, tmp_path / "work")
        with conn.cursor() as cur:
            cur.execute(f"SET search_path TO {schema}")
            customers, products, variations, carts = (
                rows(cur, f"SELECT * FROM {table} ORDER BY 1")
                for table in ("customer", "product", "product_variation", "cart")
            )
            tree = rows(
                cur,
                "SELECT c.relname AS child, p.relname AS parent FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
                "WHERE c.relkind IN ('r', 'p') AND c.relnamespace = %s::regnamespace "
                "ORDER BY 1",
                schema,
            )
            indexes = rows(
                cur,
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'cart' "
                "ORDER BY 1",
                schema,
            )
            keys = rows(
                cur,
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'cart'::regclass AND contype IN ('p', 'f') ORDER BY 1",
            )
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.commit()
        conn.close()

    assert set(seconds) == {"transform", "copy", "keys_and_indexes", "analyze", "total"}
    assert customers == [
        (1, "Müller & Söhne", datetime(2019, 1, 5)),
        (2, "Smith GmbH", datetime(2019, 2, 1, 10)),
    ]
    assert products == [
        (1, "Teekanne Öko", "ABC", datetime(2019, 1, 1)),
        (2, "Notebook, 50 g", "XYZ", datetime(2019, 6, 1)),
        (3, "Mini", "PLAIN", datetime(2019, 7, 1, 8)),
    ]
    assert variations == [
        (1, 1, "001", "ABC-001", Decimal("12.50"), datetime(2019, 1, 1), None, True),
        (2, 2, "L-2", "XYZ-L-2", Decimal("3.99"), datetime(2019, 6, 1), None, True),
        (3, 3, None, "PLAIN", Decimal("7.00"), datetime(2019, 7, 1, 8), None, True),
    ]
    assert carts == [
        (1, 1, 1, 1, 2, Decimal("12.50"), Decimal("25.00"), datetime(2020, 1, 15, 10), None),
        (
            2,
            2,
            2,
            2,
            3,
            Decimal("3.99"),
            Decimal("11.97"),
            datetime(2020, 2, 1),
            datetime(2020, 2, 3, 12),
        ),
        (
            3,
            1,
            1,
            2,
            1,
            Decimal("12.50"),
            Decimal("12.50"),
            datetime(2018, 12, 31, 23, 59, 59),
            None,
        ),
        (
            4,
            3,
            3,
            1,
            10,
            Decimal("7.00"),
            Decimal("70.00"),
            datetime(2020, 1, 31, 23, 59, 59),
            None,
        ),
    ]
    months = ("cart_2018_12", "cart_2020_01", "cart_2020_02")
    assert tree == sorted(
        [("cart_default", "cart")]
        + [(month, "cart") for month in months]
        + [(f"{month}_h{remainder}", month) for month in months for remainder in range(4)]
    )
    assert indexes == [
        ("cart_created_at_idx",),
        ("cart_customer_idx",),
        ("cart_pkey",),
        ("cart_product_idx",),
    ]
    assert keys == [
        ("cart_customer_id_fkey", "FOREIGN KEY (customer_id) REFERENCES customer(customer_id)"),
        ("cart_pkey", "PRIMARY KEY (cart_id, created_at, customer_id)"),
        ("cart_product_id_fkey", "FOREIGN KEY (product_id) REFERENCES product(product_id)"),
        (
            "cart_product_variation_id_fkey",
            "FOREIGN KEY (product_variation_id) REFERENCES product_variation(product_variation_id)",
        ),
    ]


def test_harness_names_every_difference_of_the_peer_loudly():
    from bench.baselines import peer_check_problems

    suite = {
        "rows": {"customer": 2, "product": 1, "product_variation": 1, "cart": 3},
        "content": {"customer": "7", "product": "8", "product_variation": "9", "cart": "10"},
        "cart_amount": "60.00",
    }
    same = peer.compare(suite, suite)
    other = {**suite, "content": {**suite["content"], "product": "1"}, "cart_amount": "59.99"}
    differing = peer.compare(suite, other)

    assert (same["cart_equal"], same["tables_equal"]) == (True, True)
    assert peer_check_problems(same, 3) == []
    assert (differing["cart_equal"], differing["tables_equal"]) == (False, False)
    assert peer_check_problems(differing, 3) == [
        "!!! PEER CHECK FAILED (3 lines): cart rows 3 (suite) vs 3 (peer), sum(amount) 60.00 vs "
        "59.99: the ratios to the peer compare different work",
        "!!! PEER TABLES DIFFER (3 lines) from the suite's in: product",
    ]
