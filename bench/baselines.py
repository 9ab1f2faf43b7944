"""The reference points the suite is measured against, on the same rows in the same run: raw
COPY of the files, Spark's plain read and its JDBC writers, the merge's bulk-load limit, and the
peer (bench/peer.py) with the check that it loaded what the suite did.
"""

from __future__ import annotations

import re
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import psycopg2.errors
from psycopg2 import sql

from bench import peer
from bench.databases import admin
from spark_etl.config import Connection
from spark_etl.db import postgres
from spark_etl.io import writers

RAW_COLUMNS = {
    "customers": ("id", "name", "created_at"),
    "products": ("id", "name", "price", "sku", "created_at"),
    "carts": ("id", "product_id", "customer_id", "quantity", "created_at", "delete_at"),
}


CART_SCHEMA = (
    "id long, product_id long, customer_id long, quantity int, created_at timestamp, "
    "delete_at timestamp"
)


CART_COLUMNS_SQL = (
    "id bigint, product_id bigint, customer_id bigint, quantity integer, "
    "created_at timestamp, delete_at timestamp"
)


WRITERS_SCHEMA = "writer_baselines"


def copy_baseline(connection: Connection, input_dir: Path) -> dict[str, float]:
    """COPY each CSV file, one connection, into an unindexed table of text columns."""
    seconds = {}
    conn = postgres.connect(connection, "public", 10)
    with conn.cursor() as cur:
        for stem, columns in RAW_COLUMNS.items():
            table = sql.Identifier(f"raw_{stem}")
            cur.execute(
                sql.SQL("CREATE UNLOGGED TABLE {} ({})").format(
                    table,
                    sql.SQL(", ").join(
                        sql.SQL("{} text").format(sql.Identifier(c)) for c in columns
                    ),
                )
            )
            conn.commit()
            started = time.perf_counter()
            with (input_dir / f"{stem}.csv").open("rb") as handle:
                cur.copy_expert(
                    sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv, HEADER true)")
                    .format(table)
                    .as_string(conn),
                    handle,
                    size=1 << 20,
                )
            conn.commit()
            seconds[stem] = time.perf_counter() - started
    conn.close()
    return seconds


def writer_baselines(
    spark: Any, connection: Connection, settings: Any, input_dir: Path
) -> dict[str, float]:
    """Read the cart lines (timed: Spark's read alone), then write the cached rows with JDBC
    defaults, with the project's tuned JDBC writer and with its COPY writer."""
    started = time.perf_counter()
    carts = (
        spark.read.option("header", True)
        .schema(CART_SCHEMA)
        .csv(str(input_dir / "carts.csv"))
        .cache()
    )
    carts.count()
    read = time.perf_counter() - started
    started = time.perf_counter()
    carts.write.jdbc(
        connection.jdbc_url,
        "jdbc_default_cart",
        mode="overwrite",
        properties=connection.jdbc_properties(10),
    )
    seconds = {"read_carts": read, "jdbc_default_write_carts": time.perf_counter() - started}
    # in a schema of their own, with the bookkeeping the COPY writer keeps of its attempts
    conn = postgres.connect(connection, "public", 10)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(WRITERS_SCHEMA))
        )
    postgres.apply_schema(conn, WRITERS_SCHEMA)
    with conn.cursor() as cur:
        # the COPY writer tags each row with its task attempt, as in a staging table
        for writer, tag in (("jdbc", ""), ("copy", ", stage_attempt bigint")):
            cur.execute(
                sql.SQL("CREATE UNLOGGED TABLE {} ({}{})").format(
                    sql.Identifier(WRITERS_SCHEMA, f"{writer}_writer_cart"),
                    sql.SQL(CART_COLUMNS_SQL),
                    sql.SQL(tag),
                )
            )
    conn.commit()
    conn.close()
    db = settings.database.model_copy(update={"db_schema": WRITERS_SCHEMA})
    for writer in ("jdbc", "copy"):
        started = time.perf_counter()
        getattr(writers, f"{writer}_stage")(carts, f"{writer}_writer_cart", connection, db)
        seconds[f"{writer}_writer_carts"] = time.perf_counter() - started
    carts.unpersist()
    return seconds


def bulk_load_limit(connection: Connection, schema: str, work: Path) -> dict[str, float]:
    """The merge's practical limit: the model's cart rows COPYed into an unindexed copy of
    the partitioned cart table (same months and hash leaves), then its indexes built and its
    foreign keys checked. The rows are exported first, untimed."""
    conn = postgres.connect(connection, schema, 10)
    export = work / "bulk-limit-cart.bin"
    cur = conn.cursor()
    with export.open("wb") as handle:
        cur.copy_expert("COPY (SELECT * FROM cart) TO STDOUT (FORMAT binary)", handle)
    cur.execute("DROP SCHEMA IF EXISTS bulk_limit CASCADE")
    cur.execute("CREATE SCHEMA bulk_limit")
    cur.execute(
        "CREATE TABLE bulk_limit.cart (LIKE cart INCLUDING DEFAULTS) PARTITION BY "
        + _one(cur, "SELECT pg_get_partkeydef('cart'::regclass) AS d")
    )
    # every partition, parents before children, with its bounds and its own partitioning
    cur.execute(
        """
        WITH RECURSIVE tree AS (
            SELECT inhrelid AS child, inhparent AS parent, 1 AS depth FROM pg_inherits
            WHERE inhparent = 'cart'::regclass
            UNION ALL
            SELECT i.inhrelid, i.inhparent, t.depth + 1 FROM pg_inherits i
            JOIN tree t ON i.inhparent = t.child
        )
        SELECT c.relname AS name, p.relname AS parent,
               pg_get_expr(c.relpartbound, c.oid) AS bound,
               CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partitioning
        FROM tree t JOIN pg_class c ON c.oid = t.child JOIN pg_class p ON p.oid = t.parent
        ORDER BY t.depth, c.relname
        """
    )
    for part in cur.fetchall():
        statement = (
            sql.SQL("CREATE TABLE {} PARTITION OF {} ")
            .format(
                sql.Identifier("bulk_limit", part["name"]),
                sql.Identifier("bulk_limit", part["parent"]),
            )
            .as_string(conn)
            + part["bound"]
        )
        if part["partitioning"]:
            statement += " PARTITION BY " + part["partitioning"]
        cur.execute(statement)
    cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'cart'",
        (schema,),
    )
    indexes = [
        re.sub(r" ON (ONLY )?\S+ ", " ON bulk_limit.cart ", row["indexdef"], count=1)
        for row in cur.fetchall()
    ]
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint "
        "WHERE conrelid = 'cart'::regclass AND contype = 'f'"
    )
    foreign_keys = [row["definition"] for row in cur.fetchall()]
    # the COPY in the transaction that created the tables, as a bulk load would run it: under
    # wal_level = minimal (the embedded server) its rows are then synced at commit, not logged
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with export.open("rb") as handle:
        cur.copy_expert("COPY bulk_limit.cart FROM STDIN (FORMAT binary)", handle, size=1 << 20)
    conn.commit()
    seconds["copy"] = time.perf_counter() - started
    started = time.perf_counter()
    for statement in indexes:
        cur.execute(statement)
    for definition in foreign_keys:  # referenced tables resolve in the model's schema
        cur.execute("ALTER TABLE bulk_limit.cart ADD " + definition)
    conn.commit()
    seconds["indexes_and_keys"] = time.perf_counter() - started
    cur.execute("DROP SCHEMA bulk_limit CASCADE")
    conn.commit()
    conn.close()
    export.unlink()
    return seconds


def _one(cur: Any, query: str) -> Any:
    cur.execute(query)
    return next(iter(cur.fetchone().values()))


def peer_run(connection: Connection, input_dir: Path, work: Path) -> dict[str, float]:
    """The peer's load (``bench/peer.py``) into its own fresh database, timed by phase; then a
    checkpoint, untimed, so that writing its pages out does not fall into the suite's time."""
    seconds = peer.load(connection, "public", input_dir, work)
    conn = admin(connection)
    # a server of one's own (PGHOST) may not let the bench user checkpoint
    with conn.cursor() as cur, suppress(psycopg2.errors.InsufficientPrivilege):
        cur.execute("CHECKPOINT")
    conn.close()
    return seconds


def peer_check(
    connection: Connection, schema: str, peer_connection: Connection, size: int
) -> dict[str, Any]:
    """The peer's tables against the suite's: the cart's rows and sum(amount), and every
    table's rows and content; a difference is printed at once."""
    check = peer.compare(
        peer.fingerprint(connection, schema), peer.fingerprint(peer_connection, "public")
    )
    for line in peer_check_problems(check, size):
        print(line, file=sys.stderr, flush=True)
    return check


def peer_check_problems(check: dict[str, Any], size: int) -> list[str]:
    """What differs between the peer's tables and the suite's, loudly; nothing when equal."""
    suite, peer_found = check["suite"], check["peer"]
    problems = []
    if not check["cart_equal"]:
        problems.append(
            f"!!! PEER CHECK FAILED ({size:,} lines): cart rows {suite['rows']['cart']:,} "
            f"(suite) vs {peer_found['rows']['cart']:,} (peer), sum(amount) "
            f"{suite['cart_amount']} vs {peer_found['cart_amount']}: the ratios to the peer "
            "compare different work"
        )
    if not check["tables_equal"]:
        differing = [
            table
            for table in suite["rows"]
            if (suite["rows"][table], suite["content"][table])
            != (peer_found["rows"].get(table), peer_found["content"].get(table))
        ]
        problems.append(
            f"!!! PEER TABLES DIFFER ({size:,} lines) from the suite's in: " + ", ".join(differing)
        )
    return problems
