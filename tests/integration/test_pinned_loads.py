"""Today's load behaviour, pinned row by row before the entities move to definitions (issue 12):
each test loads the extract of test_jobs, changes one thing, and asserts the exact rows."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal

import pytest

from tests.helpers import load_products, query, run_job, write_csv
from tests.integration.test_jobs import (
    CARTS,
    EXPECTED_VARIATIONS,
    PRODUCTS,
    SELECT_CARTS,
    SELECT_VARIATIONS,
    model,
    write_extract,
)

pytestmark = pytest.mark.integration

D = Decimal
T = datetime


def product_10(price: str, sku: str = "KAF-001", name: str = "Kaffeemühle, Deluxe") -> list:
    return [("10", name, price, sku, "2020-01-01"), *PRODUCTS[1:]]


def variations_of(connection, settings, product_id: int) -> set[tuple]:
    return set(
        query(connection, settings, SELECT_VARIATIONS + " WHERE product_id = %s", product_id)
    )


def changes_of_last_run(connection, settings, job: str) -> tuple[int, int]:
    [row] = query(
        connection,
        settings,
        "SELECT rows_inserted, rows_updated FROM etl_run WHERE job = %s "
        "ORDER BY started_at DESC LIMIT 1",
        job,
    )
    return row


def test_a_full_sku_change_opens_a_new_variation_and_keeps_the_family(
    spark, db_settings, connection, tmp_path
):
    run_job(spark, db_settings, connection, write_extract(tmp_path / "first"))
    product_before = query(connection, db_settings, "SELECT * FROM product WHERE product_id = 10")

    load_products(
        spark, db_settings, connection, tmp_path / "sku", product_10("12.5", "KAF-003"),
        T(2021, 6, 1),
    )  # fmt: skip

    assert variations_of(connection, db_settings, 10) == {
        (1, 10, "001", "KAF-001", D("12.50"), T(2020, 1, 1), T(2021, 6, 1), False),
        (5, 10, "003", "KAF-003", D("12.50"), T(2021, 6, 1), None, True),
    }
    # the family (KAF) and the rest of the product row are untouched
    assert query(connection, db_settings, "SELECT * FROM product WHERE product_id = 10") == (
        product_before
    )
    assert changes_of_last_run(connection, db_settings, "product_data_transform") == (0, 1)


def test_a_name_only_change_touches_the_product_row_only(spark, db_settings, connection, tmp_path):
    run_job(spark, db_settings, connection, write_extract(tmp_path / "first"))

    load_products(
        spark, db_settings, connection, tmp_path / "name",
        product_10("12.5", name="Kaffeemühle Deluxe XL"), T(2021, 6, 1),
    )  # fmt: skip

    assert query(connection, db_settings, "SELECT * FROM product WHERE product_id = 10") == [
        (10, "Kaffeemühle Deluxe XL", "KAF", T(2020, 1, 1))
    ]
    assert set(query(connection, db_settings, SELECT_VARIATIONS)) == EXPECTED_VARIATIONS
    assert changes_of_last_run(connection, db_settings, "product_data_transform") == (0, 1)


def test_an_as_of_before_the_current_variation_opened_changes_it_in_place(
    spark, db_settings, connection, tmp_path
):
    run_job(spark, db_settings, connection, write_extract(tmp_path / "first"))
    load_products(
        spark, db_settings, connection, tmp_path / "raised", product_10("13.00"), T(2021, 6, 1)
    )

    # a later load dated before 2021-06-01, when the current variation opened
    load_products(
        spark, db_settings, connection, tmp_path / "earlier", product_10("14.00"), T(2021, 3, 1)
    )

    assert variations_of(connection, db_settings, 10) == {
        (1, 10, "001", "KAF-001", D("12.50"), T(2020, 1, 1), T(2021, 6, 1), False),
        (5, 10, "001", "KAF-001", D("14.00"), T(2021, 6, 1), None, True),
    }


def test_a_second_change_and_a_change_back_open_a_variation_each(
    spark, db_settings, connection, tmp_path
):
    run_job(spark, db_settings, connection, write_extract(tmp_path / "first"))
    load_products(
        spark, db_settings, connection, tmp_path / "raised", product_10("13.00"), T(2021, 6, 1)
    )
    lines = [
        ("108", "10", "2", "1", "2021-07-01 09:00:00", ""),  # at 13.00
        ("109", "10", "2", "1", "2021-10-01 09:00:00", ""),  # back at 12.50
    ]
    folder = write_extract(tmp_path / "back", [*CARTS, *lines], product_10("12.50"))

    run_job(spark, db_settings, connection, folder, as_of=T(2021, 9, 1))

    # the old price comes back as a new variation (a new key), not by reopening variation 1
    assert variations_of(connection, db_settings, 10) == {
        (1, 10, "001", "KAF-001", D("12.50"), T(2020, 1, 1), T(2021, 6, 1), False),
        (5, 10, "001", "KAF-001", D("13.00"), T(2021, 6, 1), T(2021, 9, 1), False),
        (6, 10, "001", "KAF-001", D("12.50"), T(2021, 9, 1), None, True),
    }
    assert set(query(connection, db_settings, SELECT_CARTS + " WHERE cart_id >= 108")) == {
        (108, 5, 10, 2, 1, D("13.00"), D("13.00"), T(2021, 7, 1, 9), None),
        (109, 6, 10, 2, 1, D("12.50"), D("12.50"), T(2021, 10, 1, 9), None),
    }


def test_keys_of_a_first_load_follow_product_ids_whatever_the_row_order(
    spark, db_settings, connection, tmp_path
):
    products = list(PRODUCTS)
    random.Random(3).shuffle(products)
    assert products != PRODUCTS

    run_job(spark, db_settings, connection, write_extract(tmp_path, CARTS, products))

    assert set(query(connection, db_settings, SELECT_VARIATIONS)) == EXPECTED_VARIATIONS


def test_a_line_moving_to_another_customer_and_month_is_moved_not_copied(
    spark, db_settings, connection, tmp_path
):
    run_job(spark, db_settings, connection, write_extract(tmp_path / "first"))
    before = model(connection, db_settings)["cart"]
    moved = ("100", "10", "2", "2", "2021-05-15 10:00:00", "")
    write_csv(tmp_path / "moved", "carts", [moved])

    run_job(spark, db_settings, connection, tmp_path / "moved", "cart_data_transform")

    after = set(query(connection, db_settings, SELECT_CARTS))
    assert after == {row for row in before if row[0] != 100} | {
        (100, 1, 10, 2, 2, D("12.50"), D("25.00"), T(2021, 5, 15, 10), None)
    }
    [(partition,)] = query(
        connection,
        db_settings,
        "SELECT CAST(tableoid::regclass AS text) FROM cart WHERE cart_id = 100",
    )
    assert partition.split(".")[-1].startswith("cart_2021_05_h")
    assert changes_of_last_run(connection, db_settings, "cart_data_transform") == (0, 1)


def test_an_increment_is_matched_by_its_keys_range_ends_included(
    spark, db_settings, connection, tmp_path
):
    # the merge looks staged keys up between the least and the greatest staged key: here the
    # least moves (another month) and the greatest is new, so both ends must be matched
    run_job(spark, db_settings, connection, write_extract(tmp_path / "first"))
    before = model(connection, db_settings)["cart"]
    moved = ("102", "12", "3", "1", "2021-06-01 09:00:00", "")
    new = ("120", "11", "2", "4", "2021-06-02 08:00:00", "")
    write_csv(tmp_path / "increment", "carts", [moved, new])

    run_job(spark, db_settings, connection, tmp_path / "increment", "cart_data_transform")

    assert set(query(connection, db_settings, SELECT_CARTS)) == {
        row for row in before if row[0] != 102
    } | {
        (102, 3, 12, 3, 1, D("100.00"), D("100.00"), T(2021, 6, 1, 9), None),
        (120, 2, 11, 2, 4, D("7.99"), D("31.96"), T(2021, 6, 2, 8), None),
    }
    assert changes_of_last_run(connection, db_settings, "cart_data_transform") == (1, 1)


def test_created_before_its_customer_is_flagged_and_loaded(
    spark, db_settings, connection, tmp_path
):
    early = ("110", "10", "3", "1", "2020-02-01 00:00:00", "")  # customer 3 joined 2020-03-01

    run_job(spark, db_settings, connection, write_extract(tmp_path, [*CARTS, early]))

    assert query(connection, db_settings, SELECT_CARTS + " WHERE cart_id = 110") == [
        (110, 1, 10, 3, 1, D("12.50"), D("12.50"), T(2020, 2, 1), None)
    ]
    flags = query(
        connection, db_settings, "SELECT record_id, flag FROM etl_flag WHERE record_id = 110"
    )
    assert flags == [(110, "created before its customer")]


def test_limits_of_quantity_and_of_a_configured_price_set_rows_aside(
    spark, db_settings, connection, tmp_path
):
    settings = db_settings.model_copy(
        update={
            "validation": db_settings.validation.model_copy(
                update={
                    "price": db_settings.validation.price.model_copy(update={"max": D("50.00")})
                }
            )
        }
    )
    too_many = ("111", "10", "1", "100001", "2021-03-01", "")

    run_job(spark, settings, connection, write_extract(tmp_path, [*CARTS, too_many]))

    rejects = query(
        connection,
        settings,
        "SELECT raw_record->>'id', reasons FROM etl_reject "
        "WHERE raw_record->>'id' IN ('12', '111') ORDER BY 1",
    )
    assert rejects == [
        ("111", ["quantity is not a whole number from 1 to 100000"]),
        ("12", ["price is not from 0.00 to 50.00"]),
    ]


def test_a_malformed_csv_record_is_set_aside_with_its_reason(
    spark, db_settings, connection, tmp_path
):
    write_extract(tmp_path)
    with (tmp_path / "carts.csv").open("a", encoding="utf-8") as handle:
        handle.write("112,10,1,1,2021-03-01,,one field too many\n")

    run_job(spark, db_settings, connection, tmp_path)

    rejects = query(
        connection,
        db_settings,
        "SELECT record_number, reasons FROM etl_reject WHERE job = 'cart_data_transform' "
        "AND record_number = %s",
        len(CARTS) + 1,
    )
    assert rejects == [(len(CARTS) + 1, ["malformed record"])]
    assert query(connection, db_settings, "SELECT count(*) FROM cart WHERE cart_id = 112") == [(0,)]


def test_multiline_csv_reads_a_quoted_line_break_as_one_record(
    spark, db_settings, connection, tmp_path
):
    settings = db_settings.model_copy(
        update={"input": db_settings.input.model_copy(update={"csv_multiline": True})}
    )
    customers = [("1", "Müller\nSchmidt KG", "2020-01-01"), ("2", "Jäger", "2020-02-01")]

    write_csv(tmp_path, "customers", customers)
    run_job(spark, settings, connection, tmp_path, "customer_data_transform")

    # one record, not two broken ones; the name's white space is collapsed like any other
    assert query(connection, settings, "SELECT * FROM customer ORDER BY 1") == [
        (1, "Müller Schmidt KG", T(2020, 1, 1)),
        (2, "Jäger", T(2020, 2, 1)),
    ]


def test_every_line_lands_in_its_month_and_hash_leaf_never_in_cart_default(
    spark, db_settings, connection, tmp_path
):
    run_job(spark, db_settings, connection, write_extract(tmp_path / "first"))
    # a second load: a line of a month that has its partition now, and one of a new month
    lines = [
        ("120", "10", "1", "1", "2021-03-15 12:00:00", ""),
        ("121", "11", "2", "1", "2019-12-31 23:59:59", ""),
    ]
    run_job(spark, db_settings, connection, write_extract(tmp_path / "second", [*CARTS, *lines]))

    leaves = query(
        connection, db_settings, "SELECT tableoid::regclass::text, created_at, cart_id FROM cart"
    )
    assert {120, 121} <= {cart_id for _, _, cart_id in leaves}
    assert all(leaf.rsplit("_h", 1)[0] == f"cart_{created:%Y_%m}" for leaf, created, _ in leaves)
    assert {leaf.rsplit("_h", 1)[1] for leaf, _, _ in leaves} <= {"0", "1", "2", "3"}
    assert query(connection, db_settings, "SELECT count(*) FROM cart_default") == [(0,)]
