"""Both staging writers against a real PostgreSQL: every value arrives exactly as Spark held it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from spark_etl.io import writers
from spark_etl.transforms.source import MONEY
from tests.helpers import create_model, open_connection, query

pytestmark = pytest.mark.integration

# Text that CSV must quote or escape, NULL beside the empty string, the extremes of the types.
ROWS = [
    (1, 'Comma, "quotes" and\nnewline', "", None, "a\\.b", Decimal("0.01"), datetime(2020, 1, 1)),
    (
        2,
        None,
        "Müller & Söhne",
        "\\.",
        "x",
        Decimal("9999999999.99"),
        datetime(2021, 2, 3, 4, 5, 6, 789012),
    ),
    (2**62, "  spaces kept  ", "tab\there", "\r\n", None, None, None),
]
SCHEMA = (
    "product_id long, name string, sku string, variation string, full_sku string, "
    f"price {MONEY.simpleString()}, created_at timestamp"
)


@pytest.mark.parametrize("writer", ["copy", "jdbc"])
def test_staged_rows_equal_the_frame_value_for_value(spark, db_settings, connection, writer):
    settings = db_settings.database.model_copy(update={"stage_writer": writer})
    conn = open_connection(connection)
    create_model(conn, settings.db_schema)
    conn.close()
    frame = spark.createDataFrame(ROWS, SCHEMA).repartition(3)  # several writing partitions

    writers.write_stage(frame, "stage_product", connection, settings)

    staged = query(
        connection,
        db_settings,
        "SELECT product_id, name, sku, variation, full_sku, price, created_at "
        "FROM stage_product ORDER BY product_id",
    )
    assert staged == ROWS


def test_copy_writer_returns_the_rows_written_and_accepts_an_empty_frame(
    spark, db_settings, connection
):
    settings = db_settings.database
    conn = open_connection(connection)
    create_model(conn, settings.db_schema)
    conn.close()
    frame = spark.createDataFrame(ROWS, SCHEMA)

    assert writers.copy_stage(frame, "stage_product", connection, settings) == 3
    assert writers.copy_stage(frame.limit(0), "stage_product", connection, settings) == 0
    assert query(connection, db_settings, "SELECT count(*) FROM stage_product") == [(3,)]
