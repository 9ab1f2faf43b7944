"""The peer: the script a user would write instead of the suite, timed by the harness beside it.

    python bench/peer.py INPUT_DIR [--schema NAME] [--work DIR]   (PG* variables: the database)

DuckDB reads the three files with explicit types and applies the suite's core transform: the
SKU split into family and variation, one product variation per product (surrogate keys in
product order, in force from the product's creation), each cart line priced by the variation
in force at its creation and its amount. It writes one CSV per model table and COPYs them, in
one transaction, into the model's tables as the project's DDL defines them (``spark_etl.db.ddl``:
the same columns, types, checks, keys, indexes and names), the cart range-partitioned by month
and each month split by hash of the customer, as the loads do. The cart's primary key, indexes
and foreign keys are added after its COPY and the ANALYZE of its leaves, as PostgreSQL's advice
for a bulk load goes (and as the loads add a new month's).

Nothing else: no validation (a malformed value fails the read, a duplicate id the primary key),
no rejects, flags, audit, staging, merge or analytics. A cart line whose product is unknown
drops out of the price join; one whose customer is unknown fails the foreign key.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from psycopg2 import sql

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from spark_etl.config import Connection, connection_from_env  # noqa: E402
from spark_etl.db import ddl, partitions, postgres  # noqa: E402
from spark_etl.definitions import load_entities  # noqa: E402

# The input contract's columns (docs/input.md), typed: DuckDB parses both accepted timestamp
# layouts ("2024-11-05 10:00:00" and "2024-11-05") as TIMESTAMP.
SOURCES = {
    "customers": {"id": "BIGINT", "name": "VARCHAR", "created_at": "TIMESTAMP"},
    "products": {
        "id": "BIGINT",
        "name": "VARCHAR",
        "price": "DECIMAL(12,2)",
        "sku": "VARCHAR",
        "created_at": "TIMESTAMP",
    },
    "carts": {
        "id": "BIGINT",
        "product_id": "BIGINT",
        "customer_id": "BIGINT",
        "quantity": "INTEGER",
        "created_at": "TIMESTAMP",
        "delete_at": "TIMESTAMP",
    },
}
# Each model table as DuckDB computes it, its columns in the model's order.
TRANSFORM = {
    "customer": """
        SELECT id AS customer_id, {clean_name} AS name, created_at FROM {customers}
    """,
    "product": """
        SELECT id AS product_id, {clean_name} AS name,
               trim(split_part(trim(sku), '-', 1)) AS sku, created_at
        FROM {products}
    """,
    "product_variation": """
        SELECT row_number() OVER (ORDER BY id) AS product_variation_id, id AS product_id,
               CASE WHEN regexp_matches(trim(sku), '^[^-]*-(.+)$')
                    THEN trim(regexp_extract(trim(sku), '^[^-]*-(.+)$', 1)) END AS variation,
               trim(sku) AS full_sku, price, created_at AS valid_from,
               CAST(NULL AS TIMESTAMP) AS valid_to, true AS is_current
        FROM {products}
    """,
    # the variation in force at the line's creation; a product's first version is opened to
    # the past (a line older than its product takes it), as the suite prices such lines
    "cart": """
        WITH versions AS (
            SELECT product_variation_id, product_id, price,
                   CASE WHEN row_number() OVER (PARTITION BY product_id
                             ORDER BY valid_from, product_variation_id) > 1
                        THEN valid_from END AS in_force_from,
                   valid_to AS in_force_to
            FROM product_variation
        )
        SELECT c.id AS cart_id, v.product_variation_id, c.product_id, c.customer_id,
               c.quantity, v.price AS unit_price,
               CAST(c.quantity * v.price AS DECIMAL(14,2)) AS amount,
               c.created_at, c.delete_at AS deleted_at
        FROM {carts} c JOIN versions v ON v.product_id = c.product_id
            AND (v.in_force_from IS NULL OR c.created_at >= v.in_force_from)
            AND (v.in_force_to IS NULL OR c.created_at < v.in_force_to)
    """,
}
CLEAN_NAME = "nullif(trim(regexp_replace(name, '\\s+', ' ', 'g')), '')"
LOAD_ORDER = ("customer", "product", "product_variation", "cart")


def _source(input_dir: Path, stem: str) -> str:
    path = str(input_dir / f"{stem}.csv").replace("'", "''")
    columns = ", ".join(f"'{name}': '{kind}'" for name, kind in SOURCES[stem].items())
    return f"read_csv('{path}', header = true, quote = '\"', columns = {{{columns}}})"


def transform(input_dir: Path, work: Path) -> list[date]:
    """The four model tables as CSV files in ``work``; the months the cart lines fall in."""
    work.mkdir(parents=True, exist_ok=True)
    import duckdb  # the bench extra: imported here, so the harness's other parts need it not

    db = duckdb.connect()
    sources = {stem: _source(input_dir, stem) for stem in SOURCES}
    for table in LOAD_ORDER:
        query = TRANSFORM[table].format(clean_name=CLEAN_NAME, **sources)
        db.execute(f"CREATE TABLE {table} AS {query}")
        target = str(work / f"{table}.csv").replace("'", "''")
        db.execute(f"COPY {table} TO '{target}' (FORMAT csv, HEADER false)")
    months = db.execute(
        "SELECT DISTINCT CAST(date_trunc('month', created_at) AS DATE) FROM cart ORDER BY 1"
    ).fetchall()
    db.close()
    return [row[0] for row in months]


def _deferred(spec: ddl.TableSpec) -> list[sql.Composable]:
    """The cart's primary key, indexes and foreign keys, as the model's DDL names them."""
    statements: list[sql.Composable] = [
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
            sql.Identifier(spec.name),
            sql.Identifier(ddl.object_name(spec.name, "pkey")),
            sql.SQL(", ").join(map(sql.Identifier, spec.primary_key)),
        )
    ]
    statements += [ddl.index_sql(spec.name, index) for index in spec.indexes]
    statements += [
        sql.SQL("ALTER TABLE {} ADD {}").format(sql.Identifier(spec.name), ddl.foreign_key_sql(key))
        for key in spec.foreign_keys
    ]
    return statements


def _months_ddl(cart: Any, months: list[date]) -> list[sql.Composable]:
    """A partition per month, split by hash of the customer, named as the loads name them."""
    parts = cart.table.partitioning
    statements = []
    for month in months:
        name = partitions.partition_name(cart.table.name, month, parts.interval)
        statements.append(
            sql.SQL(
                "CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({}) PARTITION BY HASH ({})"
            ).format(
                sql.Identifier(name),
                sql.Identifier(cart.table.name),
                sql.Literal(month),
                sql.Literal(partitions.next_start(month, parts.interval)),
                sql.Identifier(parts.hash.column),
            )
        )
        for remainder, leaf in enumerate(partitions.range_leaves(cart, name)):
            statements.append(
                sql.SQL(
                    "CREATE TABLE {} PARTITION OF {} FOR VALUES WITH (MODULUS {}, REMAINDER {})"
                ).format(
                    sql.Identifier(leaf),
                    sql.Identifier(name),
                    sql.Literal(parts.hash.partitions),
                    sql.Literal(remainder),
                )
            )
    return statements


def load(connection: Connection, schema: str, input_dir: Path, work: Path) -> dict[str, float]:
    """Transform, then load into ``schema`` (created when missing); seconds per phase and
    ``total``: ``transform`` (DuckDB: read, transform, CSV), ``copy`` (tables, partitions,
    COPY), ``analyze`` (the cart's leaves, as the loads analyze them: not the parents) and
    ``keys_and_indexes`` (the cart's key, indexes and foreign keys, then the commit)."""
    model = load_entities()
    cart = model.entity("cart")
    specs = {
        spec.name: spec
        for spec in ddl.model_tables(model, model.jobs["all"])
        if spec.name in LOAD_ORDER
    }
    unindexed = dataclasses.replace(specs["cart"], primary_key=(), foreign_keys=(), indexes=())
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    months = transform(input_dir, work)
    seconds["transform"] = time.perf_counter() - started
    phase = time.perf_counter()
    conn = postgres.connect(connection, schema, 10)
    cur = conn.cursor()
    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    for table in LOAD_ORDER:
        spec = unindexed if table == "cart" else specs[table]
        for _, statement in ddl.create_statements(spec):
            cur.execute(statement)
        if table == "cart":
            for statement in _months_ddl(cart, months):
                cur.execute(statement)
        with (work / f"{table}.csv").open("rb") as handle:
            cur.copy_expert(
                sql.SQL("COPY {} FROM STDIN (FORMAT csv)")
                .format(sql.Identifier(table))
                .as_string(conn),
                handle,
                size=1 << 20,
            )
    seconds["copy"] = time.perf_counter() - phase
    phase = time.perf_counter()
    leaves = [
        leaf
        for month in months
        for leaf in partitions.range_leaves(
            cart,
            partitions.partition_name(cart.table.name, month, cart.table.partitioning.interval),
        )
    ]
    cur.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(map(sql.Identifier, leaves))))
    seconds["analyze"] = time.perf_counter() - phase
    phase = time.perf_counter()
    for statement in _deferred(specs["cart"]):
        cur.execute(statement)
    conn.commit()
    seconds["keys_and_indexes"] = time.perf_counter() - phase
    conn.close()
    seconds["total"] = time.perf_counter() - started
    for table in LOAD_ORDER:
        (work / f"{table}.csv").unlink()
    return seconds


def fingerprint(connection: Connection, schema: str) -> dict[str, Any]:
    """Each model table's rows and a checksum of its content (its rows' text hashed and
    summed: the same rows give the same sum, in any order), and the cart's sum(amount)."""
    conn = postgres.connect(connection, schema, 10)
    found: dict[str, Any] = {"rows": {}, "content": {}}
    with conn.cursor() as cur:
        for table in LOAD_ORDER:
            cur.execute(
                sql.SQL(
                    "SELECT count(*) AS n, COALESCE(sum(hashtext(t::text)::bigint), 0) AS c "
                    "FROM {} t"
                ).format(sql.Identifier(table))
            )
            row = cur.fetchone()
            found["rows"][table], found["content"][table] = int(row["n"]), str(row["c"])
        cur.execute("SELECT COALESCE(sum(amount), 0) AS amount FROM cart")
        found["cart_amount"] = str(cur.fetchone()["amount"])
    conn.close()
    return found


def compare(suite: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """The two fingerprints, whether the cart's rows and sum(amount) are equal, and whether
    every table holds the same rows."""
    return {
        "suite": suite,
        "peer": peer,
        "cart_equal": suite["rows"]["cart"] == peer["rows"]["cart"]
        and suite["cart_amount"] == peer["cart_amount"],
        "tables_equal": suite["rows"] == peer["rows"] and suite["content"] == peer["content"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/peer.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("input_dir", type=Path, help="customers.csv, products.csv, carts.csv")
    parser.add_argument("--schema", default="public", help="where the tables go (default public)")
    parser.add_argument("--work", type=Path, help="where the CSV files go (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="peer-") as temporary:
        seconds = load(
            connection_from_env(), args.schema, args.input_dir, args.work or Path(temporary)
        )
    print(", ".join(f"{name} {value:.1f} s" for name, value in seconds.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
