"""Data retention against a real PostgreSQL: months archived to Parquet, verified and dropped;
restored; late lines set aside; audit rows of old runs archived; the checksum both ways."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from spark_etl.db import archives, checksums
from spark_etl.definitions import load_entities
from spark_etl.io.archives import read_rows
from spark_etl.io.checksums import spark_checksum
from spark_etl.runs import pipeline
from spark_etl.runs.run_context import RunContext
from tests.helpers import REPO, open_connection, query, run_job, write_csv
from tests.integration.conftest import (
    PARTITIONS,
    archive_rows,
    cart_rows,
    month_names,
    write_config,
)

pytestmark = pytest.mark.integration


def test_months_out_of_the_window_leave_postgresql_for_verified_parquet_and_come_back(
    spark, loaded, db_settings, connection, tmp_path, run_cli, capsys
):
    config = write_config(tmp_path, db_settings, cart_months=12)
    before = cart_rows(connection, db_settings)
    old = cart_rows(connection, db_settings, "created_at < '2024-01-01'")
    assert query(connection, db_settings, PARTITIONS)[0] == ("cart_2020_01",)

    assert run_cli("retention", ["--config", str(config)]) == 0

    # the twelve months counted back from the newest (2024-12) stay; the 48 before leave
    online = [name for (name,) in query(connection, db_settings, PARTITIONS)]
    assert online == month_names(date(2024, 1, 1), date(2024, 12, 1))
    assert cart_rows(connection, db_settings) == [row for row in before if row not in old]
    archives = query(
        connection,
        db_settings,
        "SELECT period, path, row_count FROM etl_archive WHERE table_name = 'cart' "
        "AND restored_at IS NULL ORDER BY period",
    )
    assert [period for period, _, _ in archives] == [
        date(2020 + i // 12, i % 12 + 1, 1) for i in range(48)
    ]
    assert archives[0][1] == str(tmp_path / "archive" / "cart" / "month=2020-01")
    assert sum(count for _, _, count in archives) == len(old)
    # the Parquet files hold exactly those rows, value for value (decimals and UTC times)
    assert archive_rows(spark, tmp_path / "archive" / "cart") == old
    parquet = spark.read.parquet(archives[0][1])
    assert dict(parquet.dtypes) == {
        "cart_id": "bigint",
        "product_variation_id": "bigint",
        "product_id": "bigint",
        "customer_id": "bigint",
        "quantity": "int",
        "unit_price": "decimal(12,2)",
        "amount": "decimal(14,2)",
        "created_at": "timestamp",
        "deleted_at": "timestamp",
    }
    assert query(
        connection,
        db_settings,
        "SELECT status, rows_read, rows_loaded FROM etl_run WHERE job = 'retention'",
    ) == [("succeeded", len(old), len(old))]
    out = capsys.readouterr().out
    assert f"retention  succeeded  {len(old)}" in out
    assert (
        f"archived cart 2020-01: {archives[0][2]} rows (" in out
        and f"to {archives[0][1]}; partition dropped" in out
    )
    # the analytics views cover what is online, and say what is archived
    assert query(
        connection,
        db_settings,
        f"SELECT first_month, archived_months, first_archived_month, last_archived_month "
        f"FROM {db_settings.database.analytics_schema}.data_period",
    ) == [(date(2024, 1, 1), 48, date(2020, 1, 1), date(2023, 12, 1))]

    # restore brings back identical rows, in a partition with its hash leaves and indexes
    assert run_cli("restore", ["--config", str(config), "--month", "2021-03"]) == 0
    march = "created_at >= '2021-03-01' AND created_at < '2021-04-01'"
    assert cart_rows(connection, db_settings, march) == [
        row for row in old if "2021-03-01" <= row[7] < "2021-04-01"
    ]
    assert query(
        connection,
        db_settings,
        "SELECT count(*) FILTER (WHERE isleaf), count(*) FILTER (WHERE NOT isleaf) "
        "FROM pg_partition_tree('cart_2021_03')",
    ) == [(4, 1)]
    assert query(
        connection,
        db_settings,
        "SELECT count(*) FROM pg_indexes WHERE tablename = 'cart_2021_03_h0'",
    ) == [(4,)]  # the key and the three declared indexes
    assert "restored cart 2021-03: " in capsys.readouterr().out
    # the views cover 2021-03 and 2024: the months archived between are absent, not zeros
    assert [
        month
        for (month,) in query(
            connection,
            db_settings,
            f"SELECT month FROM {db_settings.database.analytics_schema}.monthly_kpi ORDER BY 1",
        )
    ] == [date(2021, 3, 1)] + [date(2024, m, 1) for m in range(1, 13)]
    assert query(  # 2023-12 is archived: 2024-01 has no month before to compare with
        connection,
        db_settings,
        f"SELECT revenue_change_mom FROM {db_settings.database.analytics_schema}.monthly_kpi "
        "WHERE month = '2024-01-01'",
    ) == [(None,)]
    assert run_cli("restore", ["--config", str(config), "--month", "2021-03"]) == 2
    assert run_cli("restore", ["--config", str(config), "--month", "2019-06"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: Month 2021-03 of cart is online; nothing to restore.",
        "error: Month 2019-06 of cart is not archived; archived: 2020-01 .. 2023-12 (47 months).",
    ]

    # a restored month stays online while the window has not moved
    assert run_cli("retention", ["--config", str(config), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "Nothing to archive."

    # late lines: one in an archived month is set aside; one in the restored month loads
    customer, product = query(
        connection, db_settings, "SELECT customer_id, product_id FROM cart LIMIT 1"
    )[0]
    write_csv(
        tmp_path / "late",
        "carts",
        [
            ("900001", str(product), str(customer), "1", "2020-05-03 10:00:00", ""),
            ("900002", str(product), str(customer), "2", "2021-03-04 11:00:00", ""),
            ("900003", str(product), str(customer), "3", "2025-01-05 12:00:00", ""),
        ],
    )
    run_job(spark, db_settings, connection, tmp_path / "late", "cart_data_transform")
    assert query(
        connection,
        db_settings,
        "SELECT record_number, reasons FROM etl_reject r JOIN etl_run USING (run_id) "
        "WHERE etl_run.job = 'cart_data_transform' AND r.run_id = ("
        " SELECT run_id FROM etl_run ORDER BY started_at DESC LIMIT 1)",
    ) == [(1, ["month 2020-05 is archived"])]
    assert query(
        connection, db_settings, "SELECT cart_id FROM cart WHERE cart_id > 900000 ORDER BY 1"
    ) == [(900002,), (900003,)]
    assert query(
        connection,
        db_settings,
        "SELECT rows_read, rows_loaded, rows_rejected FROM etl_run "
        "ORDER BY started_at DESC LIMIT 1",
    ) == [(3, 2, 1)]

    # the newest month is 2025-01 now: the window moved, 2021-03 and 2024-01 leave
    assert run_cli("retention", ["--config", str(config)]) == 0
    online = [name for (name,) in query(connection, db_settings, PARTITIONS)]
    assert online == month_names(date(2024, 2, 1), date(2025, 1, 1))
    assert query(
        connection,
        db_settings,
        "SELECT period, restored_at IS NOT NULL FROM etl_archive WHERE period IN "
        "('2021-03-01', '2024-01-01') ORDER BY period, archive_id",
    ) == [(date(2021, 3, 1), True), (date(2021, 3, 1), False), (date(2024, 1, 1), False)]
    # the re-archived March holds its old lines and the late one
    march_archive = archive_rows(spark, tmp_path / "archive" / "cart" / "month=2021-03")
    assert [row[0] for row in march_archive] == sorted(
        [row[0] for row in old if "2021-03-01" <= row[7] < "2021-04-01"] + [900002]
    )


def test_rejects_and_flags_of_old_runs_are_archived_and_their_runs_stay(
    spark, loaded, db_settings, connection, tmp_path, run_cli
):
    config = write_config(tmp_path, db_settings, audit_days=30)
    conn = open_connection(connection, db_settings.database.db_schema)
    with conn.cursor() as cur:  # the load ran 100 days ago
        cur.execute("UPDATE etl_run SET started_at = started_at - interval '100 days'")
    conn.commit()
    conn.close()
    rejects = query(
        connection,
        db_settings,
        "SELECT reject_id, CAST(run_id AS text), job, source_file, record_number, "
        "CAST(raw_record AS text), reasons FROM etl_reject ORDER BY 1",
    )
    flags = query(
        connection,
        db_settings,
        "SELECT CAST(run_id AS text), job, record_id, flag FROM etl_flag ORDER BY 1, 2, 3, 4",
    )
    runs = query(connection, db_settings, "SELECT run_id FROM etl_run ORDER BY 1")
    metrics = query(
        connection,
        db_settings,
        "SELECT CAST(run_id AS text), metric, detail, value FROM etl_run_metric ORDER BY 1, 2, 3",
    )
    assert len(rejects) > 10 and len(flags) > 10 and len(metrics) > 10

    assert run_cli("retention", ["--config", str(config)]) == 0

    assert query(connection, db_settings, "SELECT count(*) FROM etl_reject") == [(0,)]
    assert query(connection, db_settings, "SELECT count(*) FROM etl_flag") == [(0,)]
    assert query(connection, db_settings, "SELECT count(*) FROM etl_run_metric") == [(0,)]
    assert (
        query(
            connection,
            db_settings,
            "SELECT run_id FROM etl_run WHERE job <> 'retention' ORDER BY 1",
        )
        == runs
    )
    before = (datetime.now(timezone.utc) - timedelta(days=30)).date()
    folder = tmp_path / "archive" / "etl_reject" / f"before={before:%Y-%m-%d}"
    archived = spark.read.parquet(str(folder))
    assert sorted(tuple(row) for row in archived.collect()) == rejects
    archived_flags = spark.read.parquet(
        str(tmp_path / "archive" / "etl_flag" / f"before={before:%Y-%m-%d}")
    )
    assert sorted(tuple(row) for row in archived_flags.collect()) == flags
    assert query(
        connection,
        db_settings,
        "SELECT table_name, period, row_count FROM etl_archive ORDER BY 1",
    ) == [
        ("etl_flag", before, len(flags)),
        ("etl_reject", before, len(rejects)),
        ("etl_run_metric", before, len(metrics)),
    ]
    archived_metrics = spark.read.parquet(
        str(tmp_path / "archive" / "etl_run_metric" / f"before={before:%Y-%m-%d}")
    )
    assert (
        sorted((r.run_id, r.metric, r.detail, r.value) for r in archived_metrics.collect())
        == metrics
    )


def test_checksum_is_the_same_in_postgresql_and_in_spark_for_every_type(
    spark, db_settings, connection, tmp_path
):
    conn = open_connection(connection, db_settings.database.db_schema)
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {db_settings.database.db_schema}")
        cur.execute(
            "CREATE TABLE tricky (id bigint, small smallint, n integer, tiny numeric(20,10), "
            "money numeric(12,2), whole numeric(10,0), label text, flag boolean, day date, "
            "at timestamp, run uuid, doc jsonb, words text[])"
        )
        cur.execute(
            "INSERT INTO tricky VALUES "
            "(1, -3, 7, 0.0000000001, -1234567.50, 42, 'Grüße | ok', true, '2024-02-29', "
            " '2024-03-31 23:59:59.123456', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
            " '{\"b\": [1, 2.50], \"a\": \"x\"}', ARRAY['a', NULL, 'c']), "
            "(2, NULL, NULL, NULL, 0, NULL, '', false, NULL, NULL, NULL, NULL, NULL), "
            "(3, 0, 0, 123.4500000000, 9999999999.99, -7, NULL, NULL, '1999-12-31', "
            " '2000-01-01 00:00:00', NULL, 'null', ARRAY[]::text[])"
        )
        columns = archives.table_columns(cur, "tricky")
        cur.execute(checksums.pg_checksum_query(columns, checksums.sql.Identifier("tricky")))
        row = cur.fetchone()
    conn.commit()
    conn.close()
    in_postgresql = checksums.Checksum(int(row["rows"]), row["total"])
    assert in_postgresql.rows == 3 and in_postgresql.total > Decimal(0)

    frame = read_rows(spark, connection, db_settings.database, columns, ["tricky"], None, None)
    frame.write.parquet(str(tmp_path / "tricky"))
    read_back = spark.read.parquet(str(tmp_path / "tricky"))

    assert spark_checksum(read_back, columns) == in_postgresql
    changed = read_back.withColumn("tiny", F.col("tiny") + F.lit(Decimal("0.0000000001")))
    assert spark_checksum(changed, columns) != in_postgresql


REVIEWS = REPO / "examples" / "entities"
REVIEW_HEADER = ("id", "product_id", "customer_id", "rating", "comment", "created_at")
REVIEW_PARTITIONS = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = 'review'::regclass AND c.relname <> 'review_default' ORDER BY 1"
)


def test_any_entity_partitioned_by_month_keeps_the_months_its_setting_gives(
    spark, db_settings, connection, tmp_path, run_cli, capsys
):
    folder = tmp_path / "in"
    write_csv(folder, "customers", [("1", "Ada", "2020-01-01")])
    write_csv(folder, "products", [("10", "Teapot", "19.99", "TEA-01", "2020-01-01")])
    write_csv(folder, "carts", [("100", "10", "1", "1", "2024-03-12", "")])
    reviews = [
        ("1", "10", "1", "5", "", "2023-01-15"),
        ("2", "10", "1", "4", "", "2023-02-15"),
        ("3", "10", "1", "3", "", "2024-02-01"),
        ("4", "10", "1", "2", "", "2024-03-01"),
    ]
    write_csv(folder, "reviews", reviews, REVIEW_HEADER)
    ctx = RunContext(
        db_settings, connection, str(folder), datetime(2030, 1, 1), load_entities(REVIEWS)
    )
    pipeline.run(spark, ctx, "all", [])
    config = write_config(tmp_path, db_settings, months="{review: 2}")
    options = ["--config", str(config), "--entities", str(REVIEWS)]

    assert run_cli("retention", [*options, "--dry-run"]) == 0
    dry_run = capsys.readouterr().out.splitlines()
    assert dry_run[:3] == [
        "Retention plan (dry run: nothing is archived or dropped).",
        "retention.cart_months is not set: every month of cart lines stays online.",
        "Review rows from 2024-02 to 2024-03 stay online (2 months counted back from the "
        "newest month holding rows).",
    ]
    assert [line.split()[:4] for line in dry_run[5:7]] == [
        ["review", "2023-01", "review_2023_01", "1"],
        ["review", "2023-02", "review_2023_02", "1"],
    ]

    assert run_cli("retention", options) == 0

    assert query(connection, db_settings, REVIEW_PARTITIONS) == [
        ("review_2024_02",),
        ("review_2024_03",),
    ]
    assert query(
        connection,
        db_settings,
        "SELECT table_name, period, path, row_count FROM etl_archive ORDER BY period",
    ) == [
        ("review", date(2023, 1, 1), str(tmp_path / "archive" / "review" / "month=2023-01"), 1),
        ("review", date(2023, 2, 1), str(tmp_path / "archive" / "review" / "month=2023-02"), 1),
    ]
    archived = spark.read.parquet(str(tmp_path / "archive" / "review")).drop("month")
    assert sorted(tuple(row) for row in archived.collect()) == [
        (1, 10, 1, 5, None, datetime(2023, 1, 15)),
        (2, 10, 1, 4, None, datetime(2023, 2, 15)),
    ]

    assert run_cli("restore", [*options, "--month", "2023-01", "--entity", "review"]) == 0

    assert "restored review 2023-01: 1 rows, checksum" in capsys.readouterr().out
    assert query(connection, db_settings, "SELECT review_id FROM review ORDER BY 1") == [
        (1,),
        (3,),
        (4,),
    ]
