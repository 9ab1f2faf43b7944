"""The harness's own measurements run against a real database: the writer baselines write every
line with each writer, the index-use counters attribute scans to the cart's indexes, and the
lake's measurement writes every table whole and sizes it."""

from __future__ import annotations

from datetime import datetime

import pytest

from bench import index_use, lake
from bench.baselines import WRITERS_SCHEMA, writer_baselines
from spark_etl.runs.run_context import RunContext
from tests.helpers import open_connection, query, write_csv

pytestmark = [pytest.mark.integration, pytest.mark.bench]


def test_writer_baselines_write_every_line_with_each_writer(
    spark, db_settings, connection, tmp_path
):
    lines = [(str(i), "1", "2", "3", "2021-03-04 05:06:07", "") for i in range(1, 251)]
    write_csv(tmp_path, "carts", lines)

    seconds = writer_baselines(spark, connection, db_settings, tmp_path)
    writer_baselines(spark, connection, db_settings, tmp_path)  # again: replaces, not fails

    assert set(seconds) == {
        "read_carts",
        "jdbc_default_write_carts",
        "jdbc_writer_carts",
        "copy_writer_carts",
    }
    conn = open_connection(connection)
    try:
        with conn.cursor() as cur:
            for table in (
                "public.jdbc_default_cart",
                f"{WRITERS_SCHEMA}.jdbc_writer_cart",
                f"{WRITERS_SCHEMA}.copy_writer_cart",
            ):
                cur.execute(f"SELECT count(*) AS n, count(DISTINCT id) AS ids FROM {table}")
                assert dict(cur.fetchone()) == {"n": 250, "ids": 250}, table
            cur.execute(f"DROP SCHEMA {WRITERS_SCHEMA} CASCADE")
            cur.execute("DROP TABLE public.jdbc_default_cart")
        conn.commit()
    finally:
        conn.close()


def test_index_scans_count_each_index_of_the_partitioned_cart(loaded, db_settings, connection):
    schema = db_settings.database.db_schema
    before = index_use.index_scans(connection, schema)
    conn = open_connection(connection, schema)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'cart'",
            (schema,),
        )
        declared = {row["indexname"] for row in cur.fetchall()}
        cur.execute("SET enable_seqscan = off")
        cur.execute("SET enable_bitmapscan = off")
        # one probe of the index on (product_id, created_at) in every leaf partition
        cur.execute("SELECT count(*) AS n FROM cart WHERE product_id = 1")
    conn.close()  # a session's counters reach the shared statistics when it ends

    after = index_use.index_scans(connection, schema)

    assert set(before) == declared
    leaves = _leaf_count(connection, schema)
    assert all(len(before[name]) == leaves for name in declared)
    scans = index_use.total(after)
    assert scans["cart_product_idx"] - index_use.total(before)["cart_product_idx"] == leaves
    assert all(
        scans[name] == index_use.total(before)[name] for name in declared - {"cart_product_idx"}
    )
    assert index_use.per_phase([before, after, after]) == {
        name: {"suite": leaves if name == "cart_product_idx" else 0, "lake": 0}
        for name in sorted(declared)
    }
    # a partition dropped: its scans leave with it, the phase counts the other leaves'
    dropped = next(iter(before["cart_product_idx"]))
    without = {
        name: {leaf: n for leaf, n in leaves_.items() if leaf != dropped}
        for name, leaves_ in after.items()
    }
    assert index_use.per_phase([before, without])["cart_product_idx"] == {"suite": leaves - 1}


def _leaf_count(connection, schema: str) -> int:
    conn = open_connection(connection, schema)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM pg_partition_tree('cart') WHERE isleaf")
        n = cur.fetchone()["n"]
    conn.close()
    return n


def test_index_scans_of_a_table_not_created_yet_are_none(db_settings, connection):
    assert index_use.index_scans(connection, db_settings.database.db_schema, "no_such") == {}


def test_the_lake_measure_writes_every_table_whole_and_sizes_it(
    loaded, spark, db_settings, connection, tmp_path
):
    ctx = RunContext(db_settings, connection, str(loaded), datetime(2030, 1, 1))
    (tmp_path / "lake" / "left-over").mkdir(parents=True)  # an earlier run's: emptied first

    measured = lake.measure(spark, ctx, tmp_path / "lake")

    assert set(measured["entities"]) == {"customer", "product", "cart"}
    assert all(seconds > 0 for seconds in measured["entities"].values())
    assert set(measured["tables"]) == {"customer", "product", "product_variation", "cart"}
    for name, table in measured["tables"].items():
        assert table["rows"] == query(connection, db_settings, f"SELECT count(*) FROM {name}")[0][0]
        assert table["parquet_bytes"] > 0 and table["pg_heap_bytes"] > 0, name
        assert table["pg_total_bytes"] > table["pg_heap_bytes"], name  # its key's index
    months = query(
        connection, db_settings, "SELECT count(DISTINCT date_trunc('month', created_at)) FROM cart"
    )[0][0]
    assert measured["tables"]["cart"]["files"] == months == 60
    assert not (tmp_path / "lake" / "left-over").exists()
