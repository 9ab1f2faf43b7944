"""Fixtures and helpers of the integration tests: the retention tests (test_retention,
test_retention_faults) and the loads run through the command line on the shared session."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from spark_etl.cli import main as cli
from spark_etl.config import Settings
from spark_etl.local.datagen import DataSpec, generate
from spark_etl.runs import maintenance
from tests.helpers import query, run_job

CART = (
    "cart_id, product_variation_id, product_id, customer_id, quantity, unit_price, amount, "
    "to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.US'), "
    "to_char(deleted_at, 'YYYY-MM-DD HH24:MI:SS.US')"
)
PARTITIONS = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = 'cart'::regclass AND c.relname <> 'cart_default' ORDER BY 1"
)


def month_names(first: date, last: date) -> list[str]:
    names, month = [], first
    while month <= last:
        names.append(f"cart_{month:%Y_%m}")
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return names


def write_config(folder: Path, settings: Settings, **retention_settings: object) -> Path:
    db = settings.database
    lines = [
        f"database: {{schema: {db.db_schema}, analytics_schema: {db.analytics_schema}}}",
        "spark: {ui_enabled: false}",
        "retention:",
        f"  archive_dir: {folder / 'archive'}",
        *(f"  {key}: {value}" for key, value in retention_settings.items()),
    ]
    path = folder / "retention.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def run_cli(spark, cli_env, monkeypatch):
    """``cli.main`` of a job on the shared Spark session (left running for the other tests)."""

    @contextmanager
    def shared(*args, **kwargs):
        yield lambda: spark

    monkeypatch.setattr(maintenance, "lazy_session", shared)
    return cli.main


@pytest.fixture
def shared(spark, monkeypatch):
    """The loads run on the test session (left running for the other tests)."""

    @contextmanager
    def shared_session(*args, **kwargs):
        yield spark

    monkeypatch.setattr(cli, "spark_session", shared_session)


@pytest.fixture
def loaded(spark, db_settings, connection, tmp_path) -> Path:
    """Generated extracts (cart lines from 2020-01 to 2024-12: 60 months) loaded."""
    generate(tmp_path / "in", DataSpec(1500, 100, 30, seed=13, broken_fraction=0.02))
    run_job(spark, db_settings, connection, tmp_path / "in")
    return tmp_path / "in"


def cart_rows(connection, settings, where: str = "true", *params) -> list[tuple]:
    return query(connection, settings, f"SELECT {CART} FROM cart WHERE {where} ORDER BY 1", *params)


def archive_rows(spark, path: Path) -> list[tuple]:
    """The cart lines of the Parquet archive, in the same text form as ``cart_rows``."""
    frame = spark.read.parquet(str(path))
    stamp = "yyyy-MM-dd HH:mm:ss.SSSSSS"
    return sorted(
        tuple(row)
        for row in frame.select(
            "cart_id",
            "product_variation_id",
            "product_id",
            "customer_id",
            "quantity",
            "unit_price",
            "amount",
            F.date_format("created_at", stamp),
            F.date_format("deleted_at", stamp),
        ).collect()
    )
