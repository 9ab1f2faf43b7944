"""The harness's own measurements run against a real database: the writer baselines write every
line with each writer, and the index-use counters attribute scans to the cart's indexes."""

from __future__ import annotations

import pytest

from bench import index_use
from bench.run import WRITERS_SCHEMA, writer_baselines
from tests.helpers import open_connection, write_csv

pytestmark = pytest.mark.integration


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
        name: {"suite": leaves if name == "cart_product_idx" else 0, "answers": 0}
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
