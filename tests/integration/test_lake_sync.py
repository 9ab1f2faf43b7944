"""``spark-etl lake sync`` against a real PostgreSQL, and the lake through retention and
restore: what PostgreSQL holds differently from the lake (rows changed or deleted by hand, a
table dropped from the catalog) is written again, range by range, and nothing else; months
retention archived stay in the lake, equal to their archive; a restored month is not
duplicated; months archived before the lake was set up are added from their archives; ``lake
expire`` expires old snapshots and removes only what no snapshot left uses."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from spark_etl.local.datagen import DataSpec, generate
from tests.helpers import change, job_config, query, run_job
from tests.integration.conftest import (
    PENDING,
    archive_rows,
    cart_rows,
    lake_rows,
    open_lake,
    pg_rows,
    text_rows,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.lake]

TABLES = ("customer", "product", "product_variation", "cart")  # the order sync reports them


def with_lake(config, settings):
    config.write_text(
        config.read_text(encoding="utf-8") + f"lake:\n  warehouse: {settings.lake.warehouse}\n",
        encoding="utf-8",
    )
    return config


def snapshots(catalog) -> dict[str, int]:
    return {name: len(catalog.load_table(("spark_etl", name)).snapshots()) for name in TABLES}


def assert_lake_equals_postgresql(catalog, connection, settings):
    for name in TABLES:
        table = catalog.load_table(("spark_etl", name))
        assert lake_rows(table) == pg_rows(connection, settings, table, name), name


def test_sync_writes_again_only_what_postgresql_holds_otherwise(
    spark, lake_settings, connection, tmp_path, run_cli, capsys
):
    settings = lake_settings
    generate(tmp_path / "in", DataSpec(400, 30, 12, seed=5))
    run_job(spark, settings, connection, tmp_path / "in")
    config = with_lake(job_config(tmp_path, settings), settings)
    catalog = open_lake(connection, settings)
    rows = {
        name: query(connection, settings, f"SELECT count(*) FROM {name}")[0][0] for name in TABLES
    }

    # in step after the loads: nothing written
    assert run_cli("lake", ["sync", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-4:] == [f"{name}: in step with PostgreSQL ({rows[name]} rows)" for name in TABLES]
    assert snapshots(catalog) == dict.fromkeys(TABLES, 1)

    # by hand in PostgreSQL: a line of 2021-03 changed, the lines of 2022-07 deleted; the
    # customer table dropped from the lake's catalog
    change(
        connection,
        settings,
        "UPDATE cart SET quantity = quantity + 1, amount = (quantity + 1) * unit_price "
        "WHERE cart_id = (SELECT min(cart_id) FROM cart "
        "WHERE created_at >= '2021-03-01' AND created_at < '2021-04-01') RETURNING cart_id",
    )
    gone = change(
        connection,
        settings,
        "DELETE FROM cart WHERE created_at >= '2022-07-01' AND created_at < '2022-08-01' "
        "RETURNING cart_id",
    )
    assert gone
    catalog.drop_table(("spark_etl", "customer"))
    change(
        connection, settings, "UPDATE product SET name = name || ' (renamed)' WHERE product_id = 1"
    )
    rows["cart"] -= len(gone)
    in_2021_03 = query(
        connection,
        settings,
        "SELECT count(*) FROM cart WHERE created_at >= '2021-03-01' AND created_at < '2021-04-01'",
    )[0][0]

    assert run_cli("lake", ["sync", "--config", str(config)]) == 0

    out = capsys.readouterr().out.splitlines()
    cart = catalog.load_table(("spark_etl", "cart"))
    customer = catalog.load_table(("spark_etl", "customer"))
    product = catalog.load_table(("spark_etl", "product"))
    assert out[-4:] == [
        f"customer: not in the lake; created and written "
        f"(snapshot {customer.current_snapshot().snapshot_id}, {rows['customer']} rows)",
        f"product: the whole table differed; written again "
        f"(snapshot {product.current_snapshot().snapshot_id}, {rows['product']} rows)",
        f"product_variation: in step with PostgreSQL ({rows['product_variation']} rows)",
        f"cart: 2 ranges (2021-03-01, 2022-07-01) differed; written again "
        f"(snapshot {cart.current_snapshot().snapshot_id}, {in_2021_03} rows)",
    ]
    assert_lake_equals_postgresql(catalog, connection, settings)
    assert snapshots(catalog) == {"cart": 2, "customer": 1, "product": 2, "product_variation": 1}
    (run,) = query(
        connection,
        settings,
        "SELECT CAST(run_id AS text), status FROM etl_run WHERE job = 'lake_sync' "
        "ORDER BY started_at DESC LIMIT 1",
    )
    assert cart.current_snapshot().summary["etl_run"] == run[0] and run[1] == "succeeded"
    assert query(connection, settings, PENDING) == []

    # and again: in step, nothing written
    assert run_cli("lake", ["sync", "--config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines()[-4:] == [
        f"{name}: in step with PostgreSQL ({rows[name]} rows)" for name in TABLES
    ]
    assert snapshots(catalog) == {"cart": 2, "customer": 1, "product": 2, "product_variation": 1}


def test_retention_leaves_archived_months_in_the_lake_and_a_restore_does_not_duplicate_them(
    spark, lake_settings, connection, tmp_path, run_cli, capsys
):
    settings = lake_settings
    generate(tmp_path / "in", DataSpec(1500, 100, 30, seed=13, broken_fraction=0.02))
    run_job(spark, settings, connection, tmp_path / "in")  # cart lines of 2020-01 .. 2024-12
    config = with_lake(write_config(tmp_path, settings, cart_months=59), settings)
    catalog = open_lake(connection, settings)
    january = cart_rows(connection, settings, "created_at < '2020-02-01'")
    assert january
    before = snapshots(catalog)

    assert run_cli("retention", ["--config", str(config)]) == 0

    # 2020-01 left PostgreSQL; the lake keeps it, as the archive holds it
    assert cart_rows(connection, settings, "created_at < '2020-02-01'") == []
    cart = catalog.load_table(("spark_etl", "cart"))
    files = [task.file.file_path for task in cart.scan().plan_files()]
    in_lake = spark.read.parquet(*files).where(F.col("created_at") < "2020-02-01")
    assert text_rows(in_lake) == january == archive_rows(spark, tmp_path / "archive" / "cart")
    assert snapshots(catalog) == before

    # a sync leaves the archived month alone
    assert run_cli("lake", ["sync", "--config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines()[-1:] == [
        f"cart: in step with PostgreSQL ({len(cart_rows(connection, settings))} rows)"
    ]
    assert snapshots(catalog) == before

    # restored: online again, once in the lake
    assert run_cli("restore", ["--config", str(config), "--month", "2020-01"]) == 0
    assert cart_rows(connection, settings, "created_at < '2020-02-01'") == january
    assert snapshots(catalog) == before
    assert_lake_equals_postgresql(catalog, connection, settings)
    assert run_cli("lake", ["sync", "--config", str(config)]) == 0
    assert snapshots(catalog) == before


def test_months_archived_before_the_lake_was_set_up_are_added_from_their_archives(
    spark, db_settings, lake_settings, connection, tmp_path, run_cli, capsys
):
    generate(tmp_path / "in", DataSpec(1500, 100, 30, seed=13, broken_fraction=0.02))
    run_job(spark, db_settings, connection, tmp_path / "in")  # no lake yet
    config = write_config(tmp_path, db_settings, cart_months=58)
    assert run_cli("retention", ["--config", str(config)]) == 0  # 2020-01 and 2020-02 archived
    archived = archive_rows(spark, tmp_path / "archive" / "cart")
    assert archived
    assert cart_rows(connection, db_settings, "created_at < '2020-03-01'") == []
    catalog = open_lake(connection, lake_settings)

    def lake_cart(where):
        cart = catalog.load_table(("spark_etl", "cart"))
        files = [task.file.file_path for task in cart.scan().plan_files()]
        return text_rows(spark.read.parquet(*files).where(where))

    # the first load with the lake writes the archived months too: the lake is the full history
    run_job(spark, lake_settings, connection, tmp_path / "in")
    assert lake_cart("created_at < '2020-03-01'") == archived
    assert lake_cart("created_at >= '2020-03-01'") == cart_rows(connection, lake_settings)

    # a lake table lost: sync writes it again from PostgreSQL and the archives
    catalog.drop_table(("spark_etl", "cart"))
    config = with_lake(config, lake_settings)
    assert run_cli("lake", ["sync", "--config", str(config)]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith(
        "cart: not in the lake; created and written, with 2 archived months added from their "
        "archives (2020-01, 2020-02) (snapshot "
    ), line
    online = cart_rows(connection, lake_settings)
    assert line.endswith(f", {len(online) + len(archived)} rows)"), line
    assert lake_cart("created_at < '2020-03-01'") == archived
    assert lake_cart("created_at >= '2020-03-01'") == online
    assert run_cli("lake", ["sync", "--config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"cart: in step with PostgreSQL ({len(online)} rows)"
    )


def test_an_archive_that_does_not_hold_what_its_record_says_is_not_added_to_the_lake(
    spark, db_settings, lake_settings, connection, tmp_path, run_cli, capsys
):
    generate(tmp_path / "in", DataSpec(1500, 100, 30, seed=13, broken_fraction=0.02))
    run_job(spark, db_settings, connection, tmp_path / "in")
    config = write_config(tmp_path, db_settings, cart_months=59)
    assert run_cli("retention", ["--config", str(config)]) == 0  # 2020-01 archived
    change(connection, db_settings, "UPDATE etl_archive SET row_count = row_count + 1")
    config = with_lake(config, lake_settings)

    assert run_cli("lake", ["sync", "--config", str(config)]) == 2

    archive = tmp_path / "archive" / "cart" / "month=2020-01"
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: The archive {archive} holds 18 rows, checksum 11320804989682272582, not the 19 "
        "rows, checksum 11320804989682272582 recorded when it was written; it was not added to "
        "the lake."
    )
    catalog = open_lake(connection, lake_settings)
    assert catalog.load_table(("spark_etl", "cart")).current_snapshot() is None


def test_sync_before_any_load_says_there_is_nothing_to_compare(
    lake_settings, tmp_path, run_cli, capsys
):
    config = with_lake(job_config(tmp_path, lake_settings), lake_settings)

    assert run_cli("lake", ["sync", "--config", str(config)]) == 0

    assert capsys.readouterr().out.splitlines()[-1] == (
        "Nothing to compare: PostgreSQL holds no table of an entity the lake keeps yet."
    )


def test_expire_keeps_the_current_snapshot_and_removes_only_what_no_snapshot_uses(
    spark, lake_settings, connection, tmp_path, run_cli, capsys
):
    settings = lake_settings
    generate(tmp_path / "in", DataSpec(400, 30, 12, seed=5))
    run_job(spark, settings, connection, tmp_path / "in")
    config = with_lake(job_config(tmp_path, settings), settings)
    change(
        connection,
        settings,
        "UPDATE cart SET quantity = quantity + 1, amount = (quantity + 1) * unit_price "
        "WHERE cart_id = (SELECT min(cart_id) FROM cart)",
    )
    assert run_cli("lake", ["sync", "--config", str(config)]) == 0  # cart's second snapshot
    catalog = open_lake(connection, settings)
    folder = Path(settings.lake.warehouse) / "spark_etl" / "cart"
    # what a run killed after writing its files, before its commit, leaves behind
    stray = folder / "data" / "killed-run" / "part-00000.parquet"
    stray.parent.mkdir(parents=True)
    shutil.copy(next(folder.rglob("*.parquet")), stray)
    capsys.readouterr()

    # within the days kept (7 by default): no snapshot expires; what no snapshot uses goes
    assert run_cli("lake", ["expire", "--config", str(config)]) == 0
    assert (
        capsys.readouterr()
        .out.splitlines()[-1]
        .startswith("cart: 0 snapshots older than 7 days expired, 2 kept; ")
    )
    assert not stray.exists() and not stray.parent.exists()
    assert len(catalog.load_table(("spark_etl", "cart")).snapshots()) == 2

    # none kept back: every snapshot but the current one expires, with the files it alone used
    config.write_text(config.read_text(encoding="utf-8") + "  keep_snapshots_days: 0\n")
    assert run_cli("lake", ["expire", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()[-4:]
    assert [re.sub(r"\(.*\)$", "(...)", line) for line in lines] == [
        "customer: 0 snapshots older than 0 days expired, 1 kept; 0 unused files removed (...)",
        "product: 0 snapshots older than 0 days expired, 1 kept; 0 unused files removed (...)",
        "product_variation: 0 snapshots older than 0 days expired, 1 kept; 0 unused files "
        "removed (...)",
        "cart: 1 snapshot older than 0 days expired, 1 kept; 3 unused files removed (...)",
    ]
    cart = catalog.load_table(("spark_etl", "cart"))
    assert len(cart.snapshots()) == 1
    on_disk = {f"file://{path}" for path in (folder / "data").rglob("*") if path.is_file()}
    assert on_disk == {task.file.file_path for task in cart.scan().plan_files()}
    assert_lake_equals_postgresql(catalog, connection, settings)
    assert cart.properties["write.metadata.delete-after-commit.enabled"] == "true"
    assert query(
        connection,
        settings,
        "SELECT status, rows_read FROM etl_run WHERE job = 'lake_expire' ORDER BY 2",
    ) == [("succeeded", 0), ("succeeded", 1)]
