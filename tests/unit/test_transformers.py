"""Transforms on tiny DataFrames built in each test, compared with chispa."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_etl.config import InputSettings
from spark_etl.definitions import load_entities
from spark_etl.io.readers import read_source
from spark_etl.spark.actions import count_rows, duplicates_marked, rejected_rows
from spark_etl.transforms.carts import with_line_amount, with_variation_in_force
from spark_etl.transforms.columns import (
    READ_ORDER,
    REASONS,
    WINNER,
    accepted_rows,
    pack_raw,
    repeated_keys,
)
from spark_etl.transforms.rules import RunValues, check_rows
from spark_etl.transforms.source import (
    CORRUPT_RECORD,
    SOURCE_BLOCK,
    SOURCE_FILE,
    SOURCE_ORDER,
    SourceSpec,
)

MODEL = load_entities()
CUSTOMERS, PRODUCTS, CARTS = (
    SourceSpec.of(MODEL.entity(name)) for name in ("customer", "product", "cart")
)
FORMATS = ("yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd")
VALUES = RunValues(
    timestamp_formats=FORMATS,
    ranges={
        "price": (Decimal("0.00"), Decimal("9999999999.99")),
        "quantity": (Decimal(1), Decimal(100000)),
    },
    latest=datetime(2030, 1, 1),
    future_days=1,
)
PRODUCT_COLUMNS = tuple(MODEL.entity("product").columns)
VARIATION_LOOKUP = "product_variation_id long, product_id long, price decimal(12,2), valid_from timestamp, valid_to timestamp"
MONEY = T.DecimalType(12, 2)
# splits of about 8 KiB: a test file is read by several tasks, as a large extract is
MARKINGS = ExitStack()  # the duplicate markings the tests hold open (``validated``)
SMALL_SPLITS = {"spark.sql.files.maxPartitionBytes": "8192", "spark.sql.files.openCostInBytes": "0"}


def validated(checked, entity: str, broadcast_limit: int = 200_000):
    """What a load stages: the checked rows, their repeated keys marked as production does
    (what that caches stays cached until the module's tests end)."""
    definition = MODEL.entity(entity)
    marking = duplicates_marked(
        checked,
        key=definition.key,
        latest_by=definition.latest_by,
        broadcast_limit=broadcast_limit,
    )
    return MARKINGS.enter_context(marking)


@pytest.fixture(scope="module", autouse=True)
def _release_markings():
    yield
    MARKINGS.close()


def checked_rows(raw, entity: str, values: RunValues = VALUES, **lookups):
    """The rules of a built-in entity's definition over packed rows, as a load checks them."""
    return check_rows(
        raw,
        MODEL.entity(entity),
        values,
        known_keys=lookups.get("known_keys", {}),
        histories=lookups.get("histories", {}),
    )


def packed(spark: SparkSession, spec: SourceSpec, rows: list[tuple]):
    """Rows as a reader would return them (text, no corrupt record), packed for the transforms."""
    schema = (
        spec.raw_schema.add(CORRUPT_RECORD, "string")
        .add(SOURCE_FILE, "string")
        .add(SOURCE_BLOCK, "long")
        .add(SOURCE_ORDER, "long")
    )
    full = [(*row, None, "file:/in.csv", 0, order) for order, row in enumerate(rows)]
    return pack_raw(spark.createDataFrame(full, schema), spec.columns)


def reasons_by_id(frame, id_column: str) -> dict:
    return {row[id_column]: row[REASONS] for row in frame.collect()}


def test_customer_names_are_trimmed_and_dates_parsed_in_both_formats(spark):
    raw = packed(
        spark,
        CUSTOMERS,
        [
            ("1", "  Müller,   Schmidt & Co. KG ", "2020-01-01"),
            ("2", "Jäger", "2020-02-01 10:30:00"),
        ],
    )

    actual = accepted_rows(validated(checked_rows(raw, "customer"), "customer"), CUSTOMERS_OUT)

    expected = spark.createDataFrame(
        [
            (1, "Müller, Schmidt & Co. KG", datetime(2020, 1, 1)),
            (2, "Jäger", datetime(2020, 2, 1, 10, 30)),
        ],
        "customer_id long, name string, created_at timestamp",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


CUSTOMERS_OUT = ("customer_id", "name", "created_at")


def test_customer_rows_breaking_rules_list_every_reason(spark):
    raw = packed(
        spark,
        CUSTOMERS,
        [("abc", " ", "31/12/2021"), ("0", "Zero", "2020-02-30"), ("5", "Fine", None)],
    )

    reasons = reasons_by_id(
        validated(checked_rows(raw, "customer"), "customer").selectExpr("_raw.id AS id", REASONS),
        "id",
    )

    assert reasons == {
        "abc": [
            "id is not a positive integer",
            "name is missing",
            "created_at is not a date (yyyy-MM-dd HH:mm:ss or yyyy-MM-dd)",
        ],
        "0": [
            "id is not a positive integer",
            "created_at is not a date (yyyy-MM-dd HH:mm:ss or yyyy-MM-dd)",
        ],
        "5": ["created_at is missing"],
    }


# two keys repeat: joined back by broadcast / whole rows sorted
@pytest.mark.parametrize("broadcast_limit", [200_000, 1])
def test_duplicate_id_keeps_latest_created_then_last_line(spark, broadcast_limit):
    raw = packed(
        spark,
        CUSTOMERS,
        [
            ("1", "Old", "2020-01-01"),
            ("1", "Newest", "2021-01-01"),
            ("1", "Also newest, earlier line", "2021-01-01"),
            ("2", "Tie first", "2020-01-01"),
            ("2", "Tie last", "2020-01-01"),
            ("3", "Invalid newer", "not a date"),
            ("3", "Valid older", "2019-01-01"),
        ],
    )

    checked = validated(checked_rows(raw, "customer"), "customer", broadcast_limit)

    kept = {(row.customer_id, row.name) for row in accepted_rows(checked, CUSTOMERS_OUT).collect()}
    assert kept == {(1, "Also newest, earlier line"), (2, "Tie last"), (3, "Valid older")}
    duplicates = sorted(
        row.raw_record
        for row in rejected_rows(checked, count_rows(checked)).collect()
        if row.reasons == "duplicate"
    )
    assert duplicates == [
        '{"id":"1","name":"Newest","created_at":"2021-01-01"}',
        '{"id":"1","name":"Old","created_at":"2020-01-01"}',
        '{"id":"2","name":"Tie first","created_at":"2020-01-01"}',
    ]


@pytest.mark.parametrize(
    ("ids", "repeated"),
    [
        (["1", "2", "3"], False),
        (["1", "2", "1"], True),
        # a repeated id on a row that breaks a rule is not a duplicate to mark
        (["1", "2", "x2"], False),
    ],
)
def test_duplicates_are_found_among_valid_rows_only(spark, ids, repeated):
    rows = [(i, "Name", "2020-01-01") for i in ids]
    if ids[-1].startswith("x"):
        rows[-1] = ("2", "Name", "not a date")

    parsed = checked_rows(packed(spark, CUSTOMERS, rows), "customer")

    found = repeated_keys(parsed, key="customer_id", latest_by="created_at").collect()
    assert [row._repeated for row in found] == ([1] if repeated else [])


def test_a_repeated_key_wins_by_latest_then_last_read_and_a_missing_latest_loses(spark):
    rows = [
        ("1", "Dated, read first", "2020-01-01"),
        ("1", "Undated, read last", "2021-01-01"),
        ("3", "Newer", "2021-01-01"),
        ("3", "Older, read last", "2020-01-01"),
        ("2", "Tie, read first", "2020-01-01"),
        ("2", "Tie, read last", "2020-01-01"),
    ]
    parsed = checked_rows(packed(spark, CUSTOMERS, rows), "customer")
    # a row whose latest_by is NULL (a column no rule requires) loses to one that has it
    parsed = parsed.withColumn(
        "created_at", F.when(F.col("_raw.name") != "Undated, read last", F.col("created_at"))
    )
    positions = {
        row["_raw"]["name"]: tuple(row[name] for name in READ_ORDER) for row in parsed.collect()
    }

    found = repeated_keys(parsed, key="customer_id", latest_by="created_at").collect()

    winners = {row._repeated: tuple(row[WINNER + name] for name in READ_ORDER) for row in found}
    assert winners == {
        1: positions["Dated, read first"],
        2: positions["Tie, read last"],
        3: positions["Newer"],
    }


def test_rows_read_and_set_aside_are_counted_in_one_pass(spark):
    raw = packed(
        spark,
        CUSTOMERS,
        [("1", "A", "2020-01-01"), ("1", "B", "2020-01-02"), ("2", "", "2020-01-01")],
    )

    counts = count_rows(validated(checked_rows(raw, "customer"), "customer"))

    assert (counts.read, counts.set_aside) == (3, 2)  # the older "1" is a duplicate, "2" no name
    assert [(split.rows, split.set_aside) for split in counts.splits] == [(3, 2)]


def test_last_line_wins_among_identical_timestamps_in_line_order(spark):
    raw = packed(spark, CUSTOMERS, [("1", "First", "2020-01-01"), ("1", "Second", "2020-01-01")])

    kept = accepted_rows(validated(checked_rows(raw, "customer"), "customer"), CUSTOMERS_OUT)

    assert [row.name for row in kept.collect()] == ["Second"]


def test_product_sku_splits_into_family_and_variation_and_price_is_exact(spark):
    raw = packed(
        spark,
        PRODUCTS,
        [
            ("1", "Kaffeemühle", "12.5", " kaf-001 ", "2020-01-01"),  # trimmed, case kept
            ("2", "Set", "0", "SET-A-XL", "2020-01-01"),
            ("3", "No variation", "9999999999.99", "PLAIN", "2020-01-01"),
            ("4", "Real extract", "1.00", "PHkXdiGyFyw-553", "2020-01-01"),
            ("5", "Spaced", "1.00", "Big Box - 2 XL", "2020-01-01"),  # inner spaces kept
        ],
    )

    actual = accepted_rows(validated(checked_rows(raw, "product"), "product"), PRODUCT_COLUMNS)

    expected = spark.createDataFrame(
        [
            (1, "Kaffeemühle", "kaf", "001", "kaf-001", Decimal("12.50"), datetime(2020, 1, 1)),
            (2, "Set", "SET", "A-XL", "SET-A-XL", Decimal("0.00"), datetime(2020, 1, 1)),
            (
                3,
                "No variation",
                "PLAIN",
                None,
                "PLAIN",
                Decimal("9999999999.99"),
                datetime(2020, 1, 1),
            ),
            (
                4,
                "Real extract",
                "PHkXdiGyFyw",
                "553",
                "PHkXdiGyFyw-553",
                Decimal("1.00"),
                datetime(2020, 1, 1),
            ),
            (
                5,
                "Spaced",
                "Big Box",
                "2 XL",
                "Big Box - 2 XL",
                Decimal("1.00"),
                datetime(2020, 1, 1),
            ),
        ],
        T.StructType(
            [
                T.StructField("product_id", T.LongType()),
                T.StructField("name", T.StringType()),
                T.StructField("sku", T.StringType()),
                T.StructField("variation", T.StringType()),
                T.StructField("full_sku", T.StringType()),
                T.StructField("price", MONEY),
                T.StructField("created_at", T.TimestampType()),
            ]
        ),
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize(
    ("price", "sku", "reasons"),
    [
        ("12.345", "A-1", ["price is not an amount with at most 10 digits and 2 decimals"]),
        ("12,99", "A-1", ["price is not an amount with at most 10 digits and 2 decimals"]),
        ("-1.00", "A-1", ["price is not from 0.00 to 9999999999.99"]),
        ("10000000000.00", "A-1", ["price is not an amount with at most 10 digits and 2 decimals"]),
        (None, None, ["price is missing", "sku is missing"]),
        ("1.00", "-001", ["sku has no family before '-'"]),
        ("1.00", " -001", ["sku has no family before '-'"]),
        ("1.00", "   ", ["sku is missing"]),
    ],
)
def test_product_price_and_sku_rules(spark, price, sku, reasons):
    raw = packed(spark, PRODUCTS, [("1", "Name", price, sku, "2020-01-01")])

    found = reasons_by_id(
        validated(checked_rows(raw, "product"), "product").select("product_id", REASONS),
        "product_id",
    )

    assert found == {1: reasons}


def variations_frame(spark, rows):
    return spark.createDataFrame(rows, VARIATION_LOOKUP)


def carts_frame(spark, rows):
    return spark.createDataFrame(
        rows,
        "cart_id long, product_id long, quantity int, created_at timestamp, _reasons array<string>",
    )


def test_cart_line_takes_variation_in_force_at_creation_or_the_first_one(spark):
    variations = variations_frame(
        spark,
        [
            (1, 10, Decimal("12.50"), datetime(2020, 1, 1), datetime(2021, 6, 1)),
            (5, 10, Decimal("13.00"), datetime(2021, 6, 1), None),
            (2, 11, Decimal("7.99"), datetime(2020, 1, 1), None),
        ],
    )
    carts = carts_frame(
        spark,
        [
            (100, 10, 1, datetime(2019, 5, 1), []),  # before the product existed
            (101, 10, 1, datetime(2021, 5, 31, 23, 59, 59), []),
            (102, 10, 1, datetime(2021, 6, 1), []),  # the change instant belongs to the new price
            (103, 11, 1, datetime(2022, 1, 1), []),
            (104, 99, 1, datetime(2022, 1, 1), []),
        ],
    )

    priced = with_variation_in_force(carts, variations).select(
        "cart_id", "product_variation_id", "unit_price", REASONS
    )

    expected = spark.createDataFrame(
        [
            (100, 1, Decimal("12.50"), []),
            (101, 1, Decimal("12.50"), []),
            (102, 5, Decimal("13.00"), []),
            (103, 2, Decimal("7.99"), []),
            (104, None, None, ["product_id not found in product"]),
        ],
        "cart_id long, product_variation_id long, unit_price decimal(12,2), _reasons array<string>",
    )
    assert_df_equality(priced, expected, ignore_row_order=True, ignore_nullable=True)


def test_line_amount_is_exact_and_overflow_is_rejected(spark):
    carts = spark.createDataFrame(
        [(1, 3, Decimal("7.99"), []), (2, 100000, Decimal("9999999999.99"), [])],
        "cart_id long, quantity int, unit_price decimal(12,2), _reasons array<string>",
    )

    actual = with_line_amount(carts)

    expected = spark.createDataFrame(
        [
            (1, 3, Decimal("7.99"), [], Decimal("23.97")),
            (2, 100000, Decimal("9999999999.99"), ["amount exceeds numeric(14,2)"], None),
        ],
        "cart_id long, quantity int, unit_price decimal(12,2), _reasons array<string>, amount decimal(14,2)",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_cart_validation_rejects_each_broken_kind_once(spark):
    raw = packed(
        spark,
        CARTS,
        [
            ("1", "10", "1", "2", "2021-01-01", None),
            ("#2", "10", "1", "1", "2021-01-01", None),
            ("3", "10", "1", "0", "2021-01-01", None),
            ("4", "10", "1", "-2", "2021-01-01", None),
            ("5", "10", "9", "1", "2021-01-01", None),
            ("6", "10", "1", "1", "2021-01-01", "yesterday"),
            ("7", "10", "1", "1.5", "2021-01-01", None),
            ("1", "10", "1", "1", "2020-01-01", None),
            ("8", "10", "1", "1", "2204-01-01", None),  # a typo for 2024: in the future
            ("9", "10", "1", "1", "2024-06-02 00:00:00", None),  # within the day allowed
        ],
    )
    variations = variations_frame(spark, [(1, 10, Decimal("1.00"), datetime(2020, 1, 1), None)])
    customers = spark.createDataFrame([(1,)], "customer_id long")

    values = RunValues(
        timestamp_formats=FORMATS,
        ranges={**VALUES.ranges, "quantity": (Decimal(1), Decimal(100))},
        latest=datetime(2024, 6, 2),  # the load at 2024-06-01, and one day allowed after it
        future_days=1,
    )

    checked = checked_rows(
        raw,
        "cart",
        values,
        known_keys={
            "product_id": spark.createDataFrame([(10,)], "product_id long"),
            "customer_id": customers,
        },
        histories={"product_id": variations},
    )

    found = sorted(
        (row.id, row.created, row[REASONS])
        for row in validated(checked, "cart")
        .selectExpr("_raw.id AS id", "_raw.created_at AS created", REASONS)
        .collect()
    )
    assert found == [
        ("#2", "2021-01-01", ["id is not a positive integer"]),
        ("1", "2020-01-01", ["duplicate"]),
        ("1", "2021-01-01", []),
        ("3", "2021-01-01", ["quantity is not a whole number from 1 to 100"]),
        ("4", "2021-01-01", ["quantity is not a whole number from 1 to 100"]),
        ("5", "2021-01-01", ["customer_id not found in customer"]),
        ("6", "2021-01-01", ["delete_at is not a date (yyyy-MM-dd HH:mm:ss or yyyy-MM-dd)"]),
        ("7", "2021-01-01", ["quantity is not a whole number from 1 to 100"]),
        ("8", "2204-01-01", ["created_at is in the future (over 1 day after the load)"]),
        ("9", "2024-06-02 00:00:00", []),
    ]


def test_row_with_bytes_that_were_not_utf8_is_rejected(spark):
    raw = packed(
        spark, CUSTOMERS, [("1", "M\ufffdller", "2020-01-01"), ("2", "Müller", "2020-01-01")]
    )

    found = reasons_by_id(
        validated(checked_rows(raw, "customer"), "customer").select("customer_id", REASONS),
        "customer_id",
    )

    assert found == {1: ["not valid UTF-8"], 2: []}


def split_rows(spark: SparkSession, rows: list[tuple]):
    """Customer rows as a reader returns them: (id, file, split offset, read id)."""
    schema = (
        CUSTOMERS.raw_schema.add(CORRUPT_RECORD, "string")
        .add(SOURCE_FILE, "string")
        .add(SOURCE_BLOCK, "long")
        .add(SOURCE_ORDER, "long")
    )
    full = [(id_, "A", "2020-01-01", None, *lineage) for id_, *lineage in rows]
    return pack_raw(spark.createDataFrame(full, schema), CUSTOMERS.columns)


def reject_numbers(raw) -> list[tuple]:
    checked = validated(checked_rows(raw, "customer"), "customer")
    rejected = rejected_rows(checked, count_rows(checked))
    return sorted((r.source_file, r.record_number) for r in rejected.collect())


def test_record_numbers_follow_split_offsets_not_the_order_spark_reads_splits(spark):
    # a.csv in two splits; b.csv read by a task in between (Spark packs splits by size, so a
    # file's last split can be read after another file): numbering follows the offsets
    rows = [
        ("1", "a.csv", 0, 0),
        ("x", "a.csv", 0, 1),
        ("z", "b.csv", 0, 8_000),
        ("3", "a.csv", 4_096, 900_000),
        ("y", "a.csv", 4_096, 900_001),
    ]

    assert reject_numbers(split_rows(spark, rows)) == [("a.csv", 2), ("a.csv", 4), ("b.csv", 1)]


def test_record_numbers_are_still_right_when_read_ids_are_not_consecutive(spark):
    # Spark promises growing ids, not consecutive ones: with gaps, the rows are sorted instead
    rows = [
        ("1", "a.csv", 0, 10),
        ("x", "a.csv", 0, 20),
        ("3", "a.csv", 4_096, 5),
        ("y", "a.csv", 4_096, 7),
        ("z", "b.csv", 0, 1),
    ]

    assert reject_numbers(split_rows(spark, rows)) == [("a.csv", 2), ("a.csv", 4), ("b.csv", 1)]


def test_record_numbers_of_a_real_read_split_into_many_partitions(spark, tmp_path):
    folder = tmp_path / "customers.csv"  # a folder of part files, as Spark writes them
    folder.mkdir()
    expected = []
    for part, first_id, count in (("part-0.csv", 0, 3_000), ("part-1.csv", 5_000, 1_200)):
        lines = ["id,name,created_at"]
        for number in range(1, count + 1):
            bad = number % 97 == 0
            lines.append(f"{'x' if bad else first_id + number},Name {number},2020-01-01")
            if bad:
                expected.append((part, number))
        (folder / part).write_text("\n".join(lines) + "\n", encoding="utf-8")
    previous = {key: spark.conf.get(key) for key in SMALL_SPLITS}
    for key, value in SMALL_SPLITS.items():
        spark.conf.set(key, value)
    try:
        raw = read_source(
            spark, str(tmp_path), CUSTOMERS, InputSettings(format="csv", csv_multiline=False)
        )
        assert raw.rdd.getNumPartitions() >= 8
        numbers = reject_numbers(pack_raw(raw, CUSTOMERS.columns))
    finally:
        for key, value in previous.items():
            spark.conf.set(key, value)

    assert [(file.rsplit("/", 1)[1], number) for file, number in numbers] == sorted(expected)


def test_without_repeated_keys_the_checked_rows_are_staged_as_they_are(spark):
    raw = packed(spark, CUSTOMERS, [("1", "Ada", "2020-01-01"), ("2", "Bert", "2020-01-01")])
    checked = checked_rows(raw, "customer")

    # no sort of whole rows when nothing repeats: the very same plan goes on to staging
    assert validated(checked, "customer") is checked
