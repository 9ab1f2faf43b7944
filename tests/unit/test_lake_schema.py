"""The lake's tables from the entity definitions: the model's columns and types, the key as
identifier field, partitioned by the model's time range; the warehouse checked before Spark;
the catalog's connection, whose password is never shown."""

from __future__ import annotations

from datetime import date

import pytest
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan, Or
from pyiceberg.table import TableProperties
from pyiceberg.transforms import MonthTransform
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
)

from spark_etl.config import Connection, load_settings
from spark_etl.definitions import load_entities
from spark_etl.errors import ConfigError
from spark_etl.lake.catalog import catalog_url
from spark_etl.lake.files import range_start, read_spans
from spark_etl.lake.schema import iceberg_type, lake_tables
from spark_etl.lake.warehouse import check_warehouse, warehouse_uri


@pytest.mark.parametrize(
    ("pg_type", "expected"),
    [
        ("bigint", LongType()),
        ("integer", IntegerType()),
        ("smallint", IntegerType()),
        ("numeric(12,2)", DecimalType(12, 2)),
        ("numeric(38,10)", DecimalType(38, 10)),
        ("text", StringType()),
        ("character varying(20)", StringType()),
        ("boolean", BooleanType()),
        ("date", DateType()),
        ("timestamp without time zone", TimestampType()),
        ("double precision", DoubleType()),
    ],
)
def test_each_model_type_has_its_iceberg_type(pg_type, expected):
    assert iceberg_type(pg_type) == expected


def test_cart_is_partitioned_by_month_and_keyed_by_its_id():
    model = load_entities()
    (cart,) = lake_tables(model.entity("cart"), model)

    schema = cart.schema()
    assert [(f.field_id, f.name, str(f.field_type), f.required) for f in schema.fields] == [
        (1, "cart_id", "long", True),
        (2, "product_variation_id", "long", True),
        (3, "product_id", "long", True),
        (4, "customer_id", "long", True),
        (5, "quantity", "int", True),
        (6, "unit_price", "decimal(12, 2)", True),
        (7, "amount", "decimal(14, 2)", True),
        (8, "created_at", "timestamp", True),
        (9, "deleted_at", "timestamp", False),
    ]
    assert schema.identifier_field_ids == [1]
    (field,) = cart.partition_spec().fields
    assert (field.source_id, field.field_id, field.name, field.transform) == (
        8,
        1000,
        "created_at_month",
        MonthTransform(),
    )
    assert TableProperties.DEFAULT_NAME_MAPPING in cart.properties()
    assert cart.ranges_filter((date(2024, 12, 1),)) == And(
        GreaterThanOrEqual("created_at", "2024-12-01T00:00:00"),
        LessThan("created_at", "2025-01-01T00:00:00"),
    )
    assert isinstance(cart.ranges_filter((date(2024, 1, 1), date(2024, 3, 1))), Or)


def test_a_history_entity_keeps_its_versions_table_keyed_by_the_surrogate_key():
    model = load_entities()

    product, variation = lake_tables(model.entity("product"), model)

    assert product.column_names == ("product_id", "name", "sku", "created_at")
    assert product.identifier == ("product_id",) and product.partitioning is None
    assert product.partition_spec().is_unpartitioned()
    assert variation.name == "product_variation"
    assert variation.column_names == (
        "product_variation_id",
        "product_id",
        "variation",
        "full_sku",
        "price",
        "valid_from",
        "valid_to",
        "is_current",
    )
    assert variation.schema().identifier_field_ids == [1]


def test_the_warehouse_is_created_and_one_that_cannot_be_is_one_clear_error(tmp_path):
    assert check_warehouse(str(tmp_path / "lake" / "a")) == tmp_path / "lake" / "a"
    assert (tmp_path / "lake" / "a").is_dir()
    assert warehouse_uri(f"file://{tmp_path}/lake") == f"file://{tmp_path}/lake"
    (tmp_path / "file").write_text("", encoding="utf-8")

    with pytest.raises(ConfigError) as error:
        check_warehouse(str(tmp_path / "file" / "lake"))

    assert str(error.value) == (
        f"Lake warehouse {tmp_path / 'file' / 'lake'} cannot be created (Not a directory); set "
        "lake.warehouse (or SPARK_ETL_LAKE_WAREHOUSE) to a folder this user can write, or null "
        "for no lake."
    )


def test_the_catalogs_url_holds_the_connection_and_shows_no_password():
    connection = Connection(
        "db.example", 5433, "shop", "etl", "s3cr:t@/", (("sslmode", "require"),)
    )
    db = load_settings().database.model_copy(update={"db_schema": "model"})

    url = catalog_url(connection, db)

    assert (url.host, url.port, url.database, url.username, url.password) == (
        "db.example",
        5433,
        "shop",
        "etl",
        "s3cr:t@/",
    )
    assert dict(url.query) == {
        "options": "-csearch_path=model",
        "application_name": "spark-etl lake",
        "connect_timeout": "10",
        "sslmode": "require",
    }
    assert "s3cr" not in str(url) and "s3cr" not in repr(url)


@pytest.mark.parametrize(
    ("day", "interval", "expected"),
    [
        (date(2024, 2, 29), "month", date(2024, 2, 1)),
        (date(2024, 2, 29), "year", date(2024, 1, 1)),
        (date(2024, 2, 29), "day", date(2024, 2, 29)),
    ],
)
def test_range_start_is_the_first_day_of_its_range(day, interval, expected):
    assert range_start(day, interval) == expected


def test_read_spans_cut_the_ranges_into_at_most_so_many_runs_of_neighbours():
    months = [date(2024, m, 1) for m in range(1, 11)]
    assert read_spans(months, 64) == [(m, m) for m in months]  # one read per month
    assert read_spans(months, 4) == [
        (date(2024, 1, 1), date(2024, 3, 1)),
        (date(2024, 4, 1), date(2024, 6, 1)),
        (date(2024, 7, 1), date(2024, 9, 1)),
        (date(2024, 10, 1), date(2024, 10, 1)),
    ]
    assert read_spans([], 64) == []
