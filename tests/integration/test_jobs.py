"""Jobs end to end against a real PostgreSQL: the exact rows of the model after each load."""

from __future__ import annotations

import random
import socket
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from spark_etl.config import Connection
from spark_etl.db import postgres
from spark_etl.errors import (
    ConcurrentRunError,
    DatabaseError,
    DatabaseUnavailableError,
    InputError,
)
from spark_etl.runs.pipeline import refresh_analytics
from spark_etl.runs.run_context import RunContext
from tests.helpers import open_connection, query, run_job, write_csv

pytestmark = pytest.mark.integration

D = Decimal
T = datetime

CUSTOMERS = [
    ("1", "Müller, Schmidt & Co. KG", "2020-01-01"),
    ("2", "Jäger & Söhne", "2020-02-01 10:00:00"),
    ("3", '"Weiß" Handels GmbH', "2020-03-01"),
    ("x7", "Broken Id", "2020-01-01"),
    ("2", "Jäger & Söhne GmbH", "2020-02-05 00:00:00"),  # later duplicate: wins
]
PRODUCTS = [
    ("10", "Kaffeemühle, Deluxe", "12.5", "KAF-001", "2020-01-01"),  # one decimal digit
    ("11", "Teekanne & Tasse", "7.99", "kaf-002", "2020-01-01 08:00:00"),  # kept as written
    ("12", "Öko Rucksack", "100", "BAG-001", "2020-06-01"),
    ("13", "Same SKU, other id", "5.00", "BAG-001", "2020-06-01"),  # shared full SKU: loaded
    ("14", "Too precise", "12.345", "BAG-002", "2020-06-01"),  # rejected, never rounded
]
CARTS = [
    ("100", "10", "1", "2", "2021-01-15 10:00:00", ""),
    ("101", "11", "2", "3", "2021-02-01", "2021-02-02 00:00:00"),
    ("102", "12", "3", "1", "2020-05-01 12:00:00", ""),  # predates its product
    ("103", "10", "1", "1", "2021-03-01", "2021-02-01"),  # removed before created
    ("104", "99", "1", "1", "2021-03-01", ""),  # unknown product
    ("105", "10", "42", "1", "2021-03-01", ""),  # unknown customer
    ("106", "10", "1", "0", "2021-03-01", ""),  # zero quantity
    ("107", "10", "1", "1", "2021-13-01", ""),  # no such month
]

EXPECTED_CUSTOMERS = {
    (1, "Müller, Schmidt & Co. KG", T(2020, 1, 1)),
    (2, "Jäger & Söhne GmbH", T(2020, 2, 5)),
    (3, '"Weiß" Handels GmbH', T(2020, 3, 1)),
}
EXPECTED_PRODUCTS = {
    (10, "Kaffeemühle, Deluxe", "KAF", T(2020, 1, 1)),
    (11, "Teekanne & Tasse", "kaf", T(2020, 1, 1, 8)),  # its own family: case is kept
    (12, "Öko Rucksack", "BAG", T(2020, 6, 1)),
    (13, "Same SKU, other id", "BAG", T(2020, 6, 1)),
}
EXPECTED_VARIATIONS = {
    (1, 10, "001", "KAF-001", D("12.50"), T(2020, 1, 1), None, True),
    (2, 11, "002", "kaf-002", D("7.99"), T(2020, 1, 1, 8), None, True),
    (3, 12, "001", "BAG-001", D("100.00"), T(2020, 6, 1), None, True),
    (4, 13, "001", "BAG-001", D("5.00"), T(2020, 6, 1), None, True),
}
EXPECTED_CARTS = {
    (100, 1, 10, 1, 2, D("12.50"), D("25.00"), T(2021, 1, 15, 10), None),
    (101, 2, 11, 2, 3, D("7.99"), D("23.97"), T(2021, 2, 1), T(2021, 2, 2)),
    (102, 3, 12, 3, 1, D("100.00"), D("100.00"), T(2020, 5, 1, 12), None),
    (103, 1, 10, 1, 1, D("12.50"), D("12.50"), T(2021, 3, 1), T(2021, 2, 1)),
}
SELECT_VARIATIONS = (
    "SELECT product_variation_id, product_id, variation, full_sku, price, valid_from, valid_to, "
    "is_current FROM product_variation"
)
SELECT_CARTS = (
    "SELECT cart_id, product_variation_id, product_id, customer_id, quantity, unit_price, amount, "
    "created_at, deleted_at FROM cart"
)


def write_extract(folder: Path, carts=CARTS, products=PRODUCTS, customers=CUSTOMERS) -> Path:
    write_csv(folder, "customers", customers)
    write_csv(folder, "products", products)
    write_csv(folder, "carts", carts)
    return folder


def model(connection, settings) -> dict[str, set[tuple]]:
    return {
        "customer": set(query(connection, settings, "SELECT * FROM customer")),
        "product": set(query(connection, settings, "SELECT * FROM product")),
        "variation": set(query(connection, settings, SELECT_VARIATIONS)),
        "cart": set(query(connection, settings, SELECT_CARTS)),
    }


def test_all_loads_exact_rows_and_sets_aside_broken_ones(spark, db_settings, connection, tmp_path):
    run_ids = run_job(spark, db_settings, connection, write_extract(tmp_path))

    assert model(connection, db_settings) == {
        "customer": EXPECTED_CUSTOMERS,
        "product": EXPECTED_PRODUCTS,
        "variation": EXPECTED_VARIATIONS,
        "cart": EXPECTED_CARTS,
    }
    audit = query(
        connection,
        db_settings,
        "SELECT job, status, rows_read, rows_loaded, rows_rejected, rows_duplicate, "
        "rows_inserted, rows_updated, rows_flagged FROM etl_run "
        "WHERE run_id = ANY(CAST(%s AS uuid[])) ORDER BY started_at",
        run_ids,
    )
    assert audit == [
        ("customer_data_transform", "succeeded", 5, 3, 1, 1, 3, 0, 0),
        ("product_data_transform", "succeeded", 5, 4, 1, 0, 4, 0, 2),
        ("cart_data_transform", "succeeded", 8, 4, 4, 0, 4, 0, 2),
    ]
    rejects = query(
        connection,
        db_settings,
        "SELECT job, source_file LIKE '%%/' || split_part(job, '_', 1) || 's.csv', record_number, "
        "raw_record->>'id', reasons FROM etl_reject ORDER BY job, record_number",
    )
    assert rejects == [
        ("cart_data_transform", True, 5, "104", ["product_id not found in product"]),
        ("cart_data_transform", True, 6, "105", ["customer_id not found in customer"]),
        (
            "cart_data_transform",
            True,
            7,
            "106",
            ["quantity is not a whole number from 1 to 100000"],
        ),
        (
            "cart_data_transform",
            True,
            8,
            "107",
            ["created_at is not a date (yyyy-MM-dd HH:mm:ss or yyyy-MM-dd)"],
        ),
        ("customer_data_transform", True, 2, "2", ["duplicate"]),
        ("customer_data_transform", True, 4, "x7", ["id is not a positive integer"]),
        (
            "product_data_transform",
            True,
            5,
            "14",
            ["price is not an amount with at most 10 digits and 2 decimals"],
        ),
    ]
    timed = query(
        connection, db_settings, "SELECT DISTINCT jsonb_object_keys(stage_seconds) FROM etl_run"
    )
    assert sorted(timed) == [("merge",), ("read_validate",), ("stage",)]
    flags = query(
        connection, db_settings, "SELECT job, record_id, flag FROM etl_flag ORDER BY 1, 2"
    )
    assert flags == [
        ("cart_data_transform", 102, "created before its product"),
        ("cart_data_transform", 103, "deleted before created"),
        ("product_data_transform", 12, "full_sku shared with another product"),
        ("product_data_transform", 13, "full_sku shared with another product"),
    ]
    # merged rows leave nothing behind in staging
    staged = "SELECT (SELECT count(*) FROM {}) + (SELECT count(*) FROM stage_reject)"
    for table in ("stage_customer", "stage_product", "stage_cart"):
        assert query(connection, db_settings, staged.format(table)) == [(0,)]


def test_rerun_in_any_row_order_keeps_rows_and_surrogate_keys(
    spark, db_settings, connection, tmp_path
):
    run_job(spark, db_settings, connection, write_extract(tmp_path / "first"))
    before = model(connection, db_settings)
    shuffled = random.Random(7)
    products, carts = list(PRODUCTS), list(CARTS)
    shuffled.shuffle(products)
    shuffled.shuffle(carts)

    run_ids = run_job(
        spark, db_settings, connection, write_extract(tmp_path / "again", carts, products)
    )

    assert model(connection, db_settings) == before
    changes = query(
        connection,
        db_settings,
        "SELECT rows_inserted, rows_updated FROM etl_run WHERE run_id = ANY(CAST(%s AS uuid[]))",
        run_ids,
    )
    assert changes == [(0, 0), (0, 0), (0, 0)]


def test_price_change_opens_new_variation_and_old_lines_keep_their_price(
    spark, db_settings, connection, tmp_path
):
    run_job(spark, db_settings, connection, write_extract(tmp_path / "first"))
    changed = [("10", "Kaffeemühle, Deluxe", "13.00", "KAF-001", "2020-01-01"), *PRODUCTS[1:]]
    new_line = ("108", "10", "2", "2", "2021-07-01 09:30:00", "")

    run_job(
        spark,
        db_settings,
        connection,
        write_extract(tmp_path / "second", [*CARTS, new_line], changed),
        as_of=T(2021, 6, 1),
    )

    variations = set(query(connection, db_settings, SELECT_VARIATIONS + " WHERE product_id = 10"))
    assert variations == {
        (1, 10, "001", "KAF-001", D("12.50"), T(2020, 1, 1), T(2021, 6, 1), False),
        (5, 10, "001", "KAF-001", D("13.00"), T(2021, 6, 1), None, True),
    }
    lines = set(query(connection, db_settings, SELECT_CARTS + " WHERE product_id = 10"))
    assert lines == {
        (100, 1, 10, 1, 2, D("12.50"), D("25.00"), T(2021, 1, 15, 10), None),
        (103, 1, 10, 1, 1, D("12.50"), D("12.50"), T(2021, 3, 1), T(2021, 2, 1)),
        (108, 5, 10, 2, 2, D("13.00"), D("26.00"), T(2021, 7, 1, 9, 30), None),
    }


def price_changes_of_product_10(connection, settings) -> list[tuple]:
    """(old variation, new variation, old price, new price) of each change price_change_impact
    shows for product 10."""
    return query(
        connection,
        settings,
        f"SELECT old_variation_id, new_variation_id, old_price, new_price "
        f"FROM {settings.database.analytics_schema}.price_change_impact WHERE product_id = 10",
    )


def test_two_price_changes_at_the_same_instant_replace_instead_of_stacking(
    spark, db_settings, connection, tmp_path
):
    """Two product loads with the same --as-of: the second change replaces the first one's
    variation in place; no zero-length [T, T) variation, and the views still refresh."""
    run_job(spark, db_settings, connection, write_extract(tmp_path / "first"))
    raised = [("10", "Kaffeemühle, Deluxe", "13.00", "KAF-001", "2020-01-01"), *PRODUCTS[1:]]
    raised_again = [("10", "Kaffeemühle, Deluxe", "14.00", "KAF-001", "2020-01-01"), *PRODUCTS[1:]]
    for number, products in enumerate((raised, raised_again)):
        folder = write_extract(tmp_path / f"change{number}", CARTS, products)
        run_job(
            spark,
            db_settings,
            connection,
            folder,
            job="product_data_transform",
            as_of=T(2021, 6, 1),
        )

    variations = set(query(connection, db_settings, SELECT_VARIATIONS + " WHERE product_id = 10"))
    assert variations == {
        (1, 10, "001", "KAF-001", D("12.50"), T(2020, 1, 1), T(2021, 6, 1), False),
        (5, 10, "001", "KAF-001", D("14.00"), T(2021, 6, 1), None, True),
    }
    changes = price_changes_of_product_10(connection, db_settings)
    assert changes == [(1, 5, D("12.50"), D("14.00"))]


def test_price_change_impact_survives_a_zero_length_variation_left_by_older_loads(
    spark, db_settings, connection, tmp_path
):
    run_job(spark, db_settings, connection, write_extract(tmp_path / "first"))
    conn = open_connection(connection, db_settings.database.db_schema)
    with conn.cursor() as cur:  # what two same-instant changes left before they were replaced
        cur.execute(
            "UPDATE product_variation SET valid_to = '2021-06-01', is_current = false "
            "WHERE product_variation_id = 1"
        )
        cur.execute(
            "INSERT INTO product_variation VALUES "
            "(8, 10, '001', 'KAF-001', 13.00, '2021-06-01', '2021-06-01', false), "
            "(9, 10, '001', 'KAF-001', 14.00, '2021-06-01', NULL, true)"
        )
    conn.commit()
    conn.close()

    refresh_analytics(RunContext(db_settings, connection, str(tmp_path), T(2030, 1, 1)))

    changes = price_changes_of_product_10(connection, db_settings)
    assert changes == [(1, 9, D("12.50"), D("14.00"))]


def test_incremental_extract_adds_and_changes_without_losing_earlier_rows(
    spark, db_settings, connection, tmp_path
):
    run_job(spark, db_settings, connection, write_extract(tmp_path / "first"))
    delta = [
        ("100", "10", "1", "5", "2021-01-20 10:00:00", ""),  # quantity and creation time changed
        ("109", "11", "3", "1", "2022-12-31 23:59:59", ""),  # new line in a new month
    ]
    write_csv(tmp_path / "delta", "carts", delta)

    run_ids = run_job(spark, db_settings, connection, tmp_path / "delta", job="cart_data_transform")

    lines = set(query(connection, db_settings, SELECT_CARTS))
    assert lines == {
        (100, 1, 10, 1, 5, D("12.50"), D("62.50"), T(2021, 1, 20, 10), None),
        (101, 2, 11, 2, 3, D("7.99"), D("23.97"), T(2021, 2, 1), T(2021, 2, 2)),
        (102, 3, 12, 3, 1, D("100.00"), D("100.00"), T(2020, 5, 1, 12), None),
        (103, 1, 10, 1, 1, D("12.50"), D("12.50"), T(2021, 3, 1), T(2021, 2, 1)),
        (109, 2, 11, 3, 1, D("7.99"), D("7.99"), T(2022, 12, 31, 23, 59, 59), None),
    }
    assert query(
        connection,
        db_settings,
        "SELECT rows_inserted, rows_updated FROM etl_run WHERE run_id = %s",
        run_ids[0],
    ) == [(1, 1)]
    partitions = query(
        connection,
        db_settings,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'cart_2022_12' "
        "AND p.relnamespace = to_regnamespace(%s) ORDER BY 1",
        db_settings.database.db_schema,
    )
    assert partitions == [(f"cart_2022_12_h{i}",) for i in range(4)]


def test_failure_before_commit_leaves_model_unchanged_and_run_failed(
    spark, db_settings, connection, tmp_path, monkeypatch
):
    write_extract(tmp_path)
    run_job(spark, db_settings, connection, tmp_path, job="customer_data_transform")
    run_job(spark, db_settings, connection, tmp_path, job="product_data_transform")

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(postgres, "finish_run", crash)  # after every merge statement ran
    with pytest.raises(RuntimeError, match="disk full"):
        run_job(spark, db_settings, connection, tmp_path, job="cart_data_transform")

    assert query(connection, db_settings, "SELECT count(*) FROM cart") == [(0,)]
    assert query(
        connection, db_settings, "SELECT count(*) FROM etl_reject WHERE job = 'cart_data_transform'"
    ) == [(0,)]
    assert query(
        connection,
        db_settings,
        "SELECT status, error_message FROM etl_run WHERE job = 'cart_data_transform'",
    ) == [("failed", "RuntimeError: disk full")]
    # the staged rows of the failed merge are still there to look at: 4 lines, 4 rejects
    assert query(
        connection,
        db_settings,
        "SELECT (SELECT count(*) FROM stage_cart), (SELECT count(*) FROM stage_reject)",
    ) == [(4, 4)]

    monkeypatch.undo()
    run_job(spark, db_settings, connection, tmp_path, job="cart_data_transform")
    assert set(query(connection, db_settings, SELECT_CARTS)) == EXPECTED_CARTS


def test_second_load_while_one_runs_is_refused(spark, db_settings, connection, tmp_path):
    holder = open_connection(connection)
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (postgres.LOAD_LOCK_KEY,))
    try:
        with pytest.raises(ConcurrentRunError, match="Another load is running"):
            run_job(spark, db_settings, connection, write_extract(tmp_path))
    finally:
        holder.close()


def test_missing_extract_fails_the_run_with_a_clear_message(
    spark, db_settings, connection, tmp_path
):
    write_csv(tmp_path, "customers", CUSTOMERS)

    with pytest.raises(InputError) as raised:
        run_job(spark, db_settings, connection, tmp_path, job="product_data_transform")

    assert str(raised.value) == (
        f"No products.csv or products.jsonl or products.ndjson or products.json or "
        f"products.parquet in {tmp_path}; put the product extract there."
    )
    assert query(connection, db_settings, "SELECT status FROM etl_run") == [("failed",)]
    assert query(connection, db_settings, "SELECT count(*) FROM product") == [(0,)]


def test_json_lines_and_parquet_extracts_load_like_csv(spark, db_settings, connection, tmp_path):
    customers = spark.createDataFrame(CUSTOMERS, ["id", "name", "created_at"])
    customers.write.json(str(tmp_path / "jsonl" / "customers.jsonl"))
    customers.write.parquet(str(tmp_path / "parquet" / "customers.parquet"))

    run_job(spark, db_settings, connection, tmp_path / "jsonl", job="customer_data_transform")
    from_json = set(query(connection, db_settings, "SELECT * FROM customer"))
    run_job(spark, db_settings, connection, tmp_path / "parquet", job="customer_data_transform")
    from_parquet = set(query(connection, db_settings, "SELECT * FROM customer"))

    assert from_json == EXPECTED_CUSTOMERS
    assert from_parquet == EXPECTED_CUSTOMERS


def test_unreachable_database_is_one_clear_sentence(spark, db_settings, tmp_path):
    closed = Connection("127.0.0.1", _closed_port(), "etl", "etl", "not-printed-secret")

    with pytest.raises(DatabaseError) as raised:
        run_job(spark, db_settings, closed, write_extract(tmp_path))

    message = str(raised.value)
    assert message.startswith(f"Cannot connect to PostgreSQL at 127.0.0.1:{closed.port} as etl (")
    assert message.endswith(
        "); it may be down, starting or in recovery: run again later, or check the PG* variables."
    )
    assert isinstance(raised.value, DatabaseUnavailableError)  # exit 75: retried
    assert "not-printed-secret" not in message


def test_wrong_password_is_reported_without_the_password(spark, db_settings, connection, tmp_path):
    wrong = Connection(
        connection.host, connection.port, connection.database, connection.user, "Wr0ng-pw"
    )

    with pytest.raises(DatabaseError) as raised:
        run_job(spark, db_settings, wrong, write_extract(tmp_path))

    assert "password authentication failed" in str(raised.value)
    assert str(raised.value).endswith("; check the PG* variables or run ./submit.sh --local.")
    assert not isinstance(raised.value, DatabaseUnavailableError)  # exit 2: not retried
    assert "Wr0ng-pw" not in str(raised.value)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
