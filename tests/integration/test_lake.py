"""The lake against a real PostgreSQL: after each load, the Iceberg tables (catalogued in the
model's own schema) hold exactly what PostgreSQL holds; an increment rewrites only the months
it changed, in one snapshot naming its run; a re-run that changes nothing commits nothing; a
failed lake write leaves the load committed and the previous snapshot current; a warehouse
that cannot be written stops a load before Spark starts."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from pyiceberg.table import Table
from pyiceberg.transforms import MonthTransform
from pyiceberg.types import DecimalType, LongType, StringType, TimestampType

from spark_etl.cli import main as cli
from spark_etl.definitions import load_entities
from spark_etl.errors import LakeError
from spark_etl.lake import write
from spark_etl.local.datagen import DataSpec, generate
from spark_etl.runs import pipeline
from spark_etl.runs.run_context import RunContext
from tests.helpers import load_products, query, run_job, write_csv
from tests.integration.conftest import PENDING, lake_rows, open_lake, pg_rows
from tests.integration.test_migrations import CUSTOMER_YAML

pytestmark = [pytest.mark.integration, pytest.mark.lake]

TABLES = ("customer", "product", "product_variation", "cart")


def month_files(table: Table) -> dict[date, set[str]]:
    """The current data files of a table partitioned by month, by month."""
    files: dict[date, set[str]] = {}
    for task in table.scan().plan_files():
        months = task.file.partition[0]  # months since 1970-01
        files.setdefault(date(1970 + months // 12, months % 12 + 1, 1), set()).add(
            task.file.file_path
        )
    return files


def test_lake_holds_what_postgresql_holds_and_an_increment_rewrites_only_its_months(
    spark, lake_settings, connection, tmp_path
):
    settings = lake_settings
    generate(tmp_path / "in", DataSpec(400, 30, 12, seed=5))
    started = run_job(spark, settings, connection, tmp_path / "in")

    catalog = open_lake(connection, settings)
    assert sorted(name for _, name in catalog.list_tables("spark_etl")) == sorted(TABLES)
    assert query(connection, settings, PENDING) == []  # every change taken by the lake
    for name in TABLES:
        table = catalog.load_table(("spark_etl", name))
        assert lake_rows(table) == pg_rows(connection, settings, table, name), name
        assert len(table.snapshots()) == 1, name
        assert table.current_snapshot().summary["etl_run"] in started
    cart = catalog.load_table(("spark_etl", "cart"))
    assert cart.current_snapshot().summary["etl_run"] == started[-1]  # cart loads last
    # the model's types and key; partitioned by month like the model
    schema = cart.schema()
    assert schema.find_field("unit_price").field_type == DecimalType(12, 2)
    assert schema.find_field("amount").field_type == DecimalType(14, 2)
    assert schema.find_field("created_at").field_type == TimestampType()
    assert schema.find_field("cart_id").field_type == LongType()
    assert schema.find_field("cart_id").required and not schema.find_field("deleted_at").required
    assert [schema.find_column_name(i) for i in schema.identifier_field_ids] == ["cart_id"]
    assert [(f.name, f.transform) for f in cart.spec().fields] == [
        ("created_at_month", MonthTransform())
    ]
    assert catalog.load_table(("spark_etl", "customer")).spec().is_unpartitioned()
    before = month_files(cart)
    months = query(
        connection,
        settings,
        "SELECT DISTINCT CAST(date_trunc('month', created_at) AS date) FROM cart",
    )
    assert sorted(before) == sorted(month for (month,) in months)  # one file per month
    assert len(before) > 50 and all(len(paths) == 1 for paths in before.values())

    # an increment: one line of 2021-03 changes its quantity, one moves from 2022-07 to 2023-01
    lines = query(
        connection,
        settings,
        "SELECT DISTINCT ON (date_trunc('month', created_at)) cart_id::text, product_id::text, "
        "customer_id::text, quantity, created_at FROM cart WHERE deleted_at IS NULL "
        "AND created_at >= '2021-03-01' AND created_at < '2021-04-01' "
        "OR created_at >= '2022-07-01' AND created_at < '2022-08-01' "
        "ORDER BY date_trunc('month', created_at), cart_id",
    )
    (changed, moved) = lines
    delta = [
        (*changed[:3], str(changed[3] + 1), f"{changed[4]:%Y-%m-%d %H:%M:%S}", ""),
        (*moved[:4], "2023-01-15 12:00:00", ""),
    ]
    write_csv(tmp_path / "delta", "carts", [tuple(map(str, row)) for row in delta])
    (increment,) = run_job(spark, settings, connection, tmp_path / "delta", "cart_data_transform")

    cart = catalog.load_table(("spark_etl", "cart"))
    assert lake_rows(cart) == pg_rows(connection, settings, cart, "cart")
    assert len(cart.snapshots()) == 2
    assert cart.current_snapshot().summary["etl_run"] == increment
    assert cart.current_snapshot().summary.operation.value == "overwrite"
    after = month_files(cart)
    touched = {date(2021, 3, 1), date(2022, 7, 1), date(2023, 1, 1)}
    assert {month for month in before if after.get(month) != before[month]} == touched
    assert all(not (after[month] & before[month]) for month in touched)
    assert {m: p for m, p in after.items() if m not in touched} == {
        m: p for m, p in before.items() if m not in touched
    }

    # the same increment again changes nothing in PostgreSQL: no snapshot in the lake
    run_job(spark, settings, connection, tmp_path / "delta", "cart_data_transform")
    assert len(catalog.load_table(("spark_etl", "cart")).snapshots()) == 2
    for name in ("customer", "product", "product_variation"):
        assert len(catalog.load_table(("spark_etl", name)).snapshots()) == 1

    # the whole first extract again (a full snapshot): it changes back the two lines the
    # increment changed, so their three months are written again, and only those
    run_job(spark, settings, connection, tmp_path / "in", "cart_data_transform")
    cart = catalog.load_table(("spark_etl", "cart"))
    assert lake_rows(cart) == pg_rows(connection, settings, cart, "cart")
    assert len(cart.snapshots()) == 3
    again = month_files(cart)
    assert {month for month in after if again.get(month) != after[month]} == touched

    # a price change versions the product: its variations change, the product's row does not
    ((product_id, name, price, sku, created_at),) = query(
        connection,
        settings,
        "SELECT p.product_id::text, p.name, v.price, v.full_sku, p.created_at FROM product p "
        "JOIN product_variation v ON v.product_id = p.product_id AND v.is_current "
        "ORDER BY p.product_id LIMIT 1",
    )
    repriced = (product_id, name, str(price + 1), sku, f"{created_at:%Y-%m-%d %H:%M:%S}")
    (reprice,) = load_products(
        spark, settings, connection, tmp_path / "price", [repriced], datetime(2025, 6, 1)
    )
    variation = catalog.load_table(("spark_etl", "product_variation"))
    assert lake_rows(variation) == pg_rows(connection, settings, variation, "product_variation")
    assert len(variation.snapshots()) == 2
    assert variation.current_snapshot().summary["etl_run"] == reprice
    assert len(catalog.load_table(("spark_etl", "product")).snapshots()) == 1


def test_a_warehouse_that_cannot_be_written_stops_the_load_before_spark_starts(
    cli_env, tmp_path, monkeypatch, capsys
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    config = Path(cli_env)
    config.write_text(
        config.read_text(encoding="utf-8") + f"lake:\n  warehouse: {blocker / 'lake'}\n",
        encoding="utf-8",
    )

    def no_spark(*args, **kwargs):
        raise AssertionError("Spark started")

    monkeypatch.setattr(cli, "spark_session", no_spark)
    generate(tmp_path / "in", DataSpec(20, 5, 5, seed=1))

    code = cli.main("all", ["--input-dir", str(tmp_path / "in"), "--config", str(config)])

    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: Lake warehouse {blocker / 'lake'} cannot be created (Not a directory); set "
        "lake.warehouse (or SPARK_ETL_LAKE_WAREHOUSE) to a folder this user can write, or null "
        "for no lake."
    ]


def test_a_failed_lake_write_keeps_the_load_in_postgresql_and_the_previous_snapshot(
    spark, lake_settings, connection, tmp_path, monkeypatch
):
    settings = lake_settings
    customers = [("1", "Ada", "2024-01-05 10:00:00"), ("2", "Bo", "2024-02-06 11:00:00")]
    write_csv(tmp_path / "first", "customers", customers)
    locks: list[list[tuple]] = []
    rewrite = write.rewrite

    def seen_from_another_session(*args, **kwargs):
        locks.append(
            query(
                connection,
                settings,
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
            )
        )
        return rewrite(*args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(write, "rewrite", seen_from_another_session)
        run_job(spark, settings, connection, tmp_path / "first", "customer_data_transform")
    assert locks == [[(1,)]]  # the lake commits while the job holds the load lock
    catalog = open_lake(connection, settings)
    before = lake_rows(catalog.load_table(("spark_etl", "customer")))

    def disk_gone(*args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr(write, "parquet_file_to_data_file", disk_gone)
    write_csv(tmp_path / "second", "customers", [("1", "Ada Lovelace", "2024-01-05 10:00:00")])
    started: list[str] = []
    with pytest.raises(LakeError) as error:
        pipeline.run(
            spark,
            RunContext(settings, connection, str(tmp_path / "second"), datetime(2030, 1, 1)),
            "customer_data_transform",
            started,
        )

    assert str(error.value) == (
        "customer_data_transform: the load committed to PostgreSQL, but writing the lake failed "
        "(OSError: disk gone); its tables keep their previous snapshot, and the next load of "
        "customer (or spark-etl lake sync) writes what this one changed."
    )
    assert query(
        connection, settings, "SELECT status FROM etl_run WHERE run_id = %s", started[0]
    ) == [("succeeded",)]
    assert query(connection, settings, "SELECT name FROM customer WHERE customer_id = 1") == [
        ("Ada Lovelace",)
    ]
    customer = catalog.load_table(("spark_etl", "customer"))
    assert len(customer.snapshots()) == 1 and lake_rows(customer) == before
    assert query(connection, settings, PENDING) == [("customer", None, started[0])]

    # the next load changes nothing, yet writes what the failed one left pending
    monkeypatch.undo()
    (again,) = run_job(spark, settings, connection, tmp_path / "second", "customer_data_transform")
    customer = catalog.load_table(("spark_etl", "customer"))
    assert lake_rows(customer) == pg_rows(connection, settings, customer, "customer")
    assert len(customer.snapshots()) == 2
    assert customer.current_snapshot().summary["etl_run"] == again
    assert query(connection, settings, PENDING) == []


def test_a_column_a_migration_adds_is_added_to_the_lake_table(
    spark, lake_settings, connection, tmp_path
):
    settings = lake_settings
    customers = [("1", "Ada", "2024-01-05 10:00:00"), ("2", "Bo", "2024-02-06 11:00:00")]
    write_csv(tmp_path / "first", "customers", customers)
    run_job(spark, settings, connection, tmp_path / "first", "customer_data_transform")
    text = CUSTOMER_YAML.replace(
        "    created_at: {rule: timestamp}\n",
        "    created_at: {rule: timestamp}\n    email: {rule: text, required: false}\n",
    ).replace(
        "  created_at: {type: timestamp, nullable: false}\n",
        "  created_at: {type: timestamp, nullable: false}\n  email: {type: text}\n",
    )
    (tmp_path / "entities").mkdir()
    (tmp_path / "entities" / "customer.yaml").write_text(text, encoding="utf-8")
    header = ("id", "name", "created_at", "email")
    write_csv(
        tmp_path / "second",
        "customers",
        [("2", "Bo", "2024-02-06 11:00:00", "bo@example.com")],
        header,
    )

    started: list[str] = []
    ctx = RunContext(
        settings,
        connection,
        str(tmp_path / "second"),
        datetime(2030, 1, 1),
        model=load_entities(tmp_path / "entities"),
    )
    pipeline.run(spark, ctx, "customer_data_transform", started)

    catalog = open_lake(connection, settings)
    customer = catalog.load_table(("spark_etl", "customer"))
    email = customer.schema().find_field("email")
    assert email.field_type == StringType() and not email.required
    assert (
        lake_rows(customer)
        == pg_rows(connection, settings, customer, "customer")
        == [
            (1, "Ada", datetime(2024, 1, 5, 10), None),
            (2, "Bo", datetime(2024, 2, 6, 11), "bo@example.com"),
        ]
    )
    mapping = json.loads(customer.properties["schema.name-mapping.default"])
    assert [field["names"] for field in mapping] == [
        ["customer_id"],
        ["name"],
        ["created_at"],
        ["email"],
    ]
