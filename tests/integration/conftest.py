"""Fixtures and helpers of the integration tests: the retention tests (test_retention,
test_retention_faults), the loads run through the command line on the shared session, and the
lake's (test_lake, test_lake_faults)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest
from pyiceberg.catalog import load_catalog
from pyiceberg.table import Table
from pyspark.sql import functions as F

from spark_etl.cli import main as cli
from spark_etl.config import LakeSettings, Settings
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
    return text_rows(spark.read.parquet(str(path)))


def text_rows(frame) -> list[tuple]:
    """Cart lines read by Spark (an archive, the lake's files), in the form of ``cart_rows``."""
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


# --- the lake -------------------------------------------------------------------------------

PENDING = "SELECT table_name, range_start, CAST(run_id AS text) FROM etl_lake_pending ORDER BY 1, 2"


@pytest.fixture
def lake_settings(db_settings, tmp_path):
    """The test's settings with a lake in a fresh warehouse folder."""
    lake = LakeSettings(warehouse=str(tmp_path / "lake"))
    return db_settings.model_copy(update={"lake": lake})


def open_lake(connection, settings):
    """The catalog as a reader opens it: pyiceberg's SQL catalog on the model's schema."""
    password = quote(connection.password or "", safe="")
    options = quote(f"-csearch_path={settings.database.db_schema}", safe="")
    uri = (
        f"postgresql+psycopg2://{connection.user}:{password}@{connection.host}:"
        f"{connection.port}/{connection.database}?options={options}"
    )
    return load_catalog("spark_etl", type="sql", uri=uri, warehouse=settings.lake.warehouse)


def lake_rows(table: Table) -> list[tuple]:
    frame = table.scan().to_arrow()
    return sorted(tuple(row.values()) for row in frame.to_pylist())


def pg_rows(connection, settings, table: Table, name: str) -> list[tuple]:
    columns = ", ".join(f'"{field.name}"' for field in table.schema().fields)
    return sorted(query(connection, settings, f"SELECT {columns} FROM {name}"))
