"""Lookups a load reads from the model: every row, in parallel slices, broadcast only when short."""

from __future__ import annotations

import pytest

from spark_etl.io import readers
from tests.helpers import open_connection

pytestmark = pytest.mark.integration

KEYS = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181, 6765]


def customers_with_keys(connection, schema: str) -> None:
    conn = open_connection(connection, schema)
    with conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        cur.execute(f'CREATE TABLE "{schema}".customer (customer_id bigint, name text)')
        cur.executemany(
            f'INSERT INTO "{schema}".customer VALUES (%s, %s)', [(k, f"c{k}") for k in KEYS]
        )
    conn.commit()
    conn.close()


def joined_plan(spark, lookup) -> str:
    lines = spark.range(50).withColumnRenamed("id", "customer_id")
    joined = lines.join(lookup, on="customer_id", how="left")
    return joined._jdf.queryExecution().executedPlan().toString()


def test_a_long_lookup_is_read_in_slices_and_joined_without_broadcast(
    spark, db_settings, connection
):
    db = db_settings.database
    customers_with_keys(connection, db.db_schema)

    lookup = readers.read_lookup(
        spark,
        connection,
        db,
        "customer",
        ("customer_id", "name"),
        rows_per_read=5,
        broadcast_rows=10,
    )

    assert lookup.rdd.getNumPartitions() == 4  # 19 rows, 5 per read
    assert sorted(tuple(row) for row in lookup.collect()) == [(k, f"c{k}") for k in KEYS]
    plan = joined_plan(spark, lookup)
    assert "BroadcastHashJoin" not in plan and "SortMergeJoin" in plan


def test_a_short_lookup_is_one_read_marked_for_broadcast(spark, db_settings, connection):
    db = db_settings.database
    customers_with_keys(connection, db.db_schema)

    lookup = readers.read_lookup(spark, connection, db, "customer", ("customer_id",))

    assert lookup.rdd.getNumPartitions() == 1
    assert sorted(row.customer_id for row in lookup.collect()) == KEYS
    assert "BroadcastHashJoin" in joined_plan(spark, lookup)
