"""Retention's pure parts: the window's months, archive paths, what it refuses, the dry run."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from spark_etl import definitions
from spark_etl.cli.printing import render_retention_plan
from spark_etl.db import archives
from spark_etl.definitions import load_entities
from spark_etl.errors import ConfigError
from spark_etl.io.archives import archive_path
from spark_etl.runs import retention


@pytest.mark.parametrize(
    ("month", "count", "expected"),
    [
        (date(2024, 12, 1), 11, date(2024, 1, 1)),
        (date(2024, 3, 1), 3, date(2023, 12, 1)),
        (date(2024, 1, 1), 0, date(2024, 1, 1)),
        (date(2024, 1, 1), 25, date(2021, 12, 1)),
    ],
)
def test_months_before_counts_whole_months_back(month, count, expected):
    assert archives.months_before(month, count) == expected


def test_archives_are_laid_out_by_table_and_month_or_cut_off_day():
    assert (
        archive_path("/data/archive/", "cart", date(2021, 3, 1))
        == "/data/archive/cart/month=2021-03"
    )
    assert (
        archive_path("s3a://b/a", "etl_reject", date(2026, 8, 28))
        == "s3a://b/a/etl_reject/before=2026-08-28"
    )


def test_many_archived_months_are_described_by_their_range():
    months = [date(2020, m, 1) for m in range(1, 13)]

    assert archives.describe_months([]) == "none"
    assert archives.describe_months(months[:2]) == "2020-01, 2020-02"
    assert archives.describe_months(months) == "2020-01 .. 2020-12 (12 months)"


def _cart_with(tmp_path, change):
    definition = yaml.safe_load(
        (Path(definitions.__file__).parent / "entities" / "cart.yaml").read_text()
    )
    change(definition)
    (tmp_path / "cart.yaml").write_text(yaml.safe_dump(definition), encoding="utf-8")
    return load_entities(tmp_path).entity("cart")


def test_retention_needs_monthly_partitions_and_no_floating_point(tmp_path):
    retention.check_entity(load_entities().entity("cart"))  # the built-in cart is fine

    yearly = _cart_with(tmp_path, lambda d: d["table"]["partitioning"].update(interval="year"))
    with pytest.raises(ConfigError) as error:
        retention.check_entity(yearly)
    assert str(error.value) == (
        "Retention keeps whole months: the cart table must be range-partitioned by month "
        "(table.partitioning.interval: month in its definition)."
    )

    def add_float(definition):
        definition["columns"]["weight"] = {"type": "double precision"}
        definition["source"]["columns"]["weight"] = {"rule": "text", "required": False}

    with pytest.raises(ConfigError) as error:
        retention.check_entity(_cart_with(tmp_path, add_float))
    assert "cannot verify floating-point columns (weight) of cart" in str(error.value)


def test_dry_run_lists_each_month_with_its_rows_and_size():
    plan = archives.Plan(
        date(2024, 12, 1),
        date(2024, 1, 1),
        (
            archives.Batch("cart", date(2020, 1, 1), "cart_2020_01", 132, 360_448),
            archives.Batch("etl_reject", date(2026, 8, 28), "etl_reject", 7, 2_100),
        ),
    )

    assert render_retention_plan(plan, 12, "/data/archive").splitlines() == [
        "Retention plan (dry run: nothing is archived or dropped).",
        "Cart lines from 2024-01 to 2024-12 stay online (12 months counted back from the "
        "newest month holding lines).",
        "would archive                         from          rows    size",
        "------------------------------------  ------------  ------  --------",
        "cart 2020-01                          cart_2020_01  132     352.0 kB",
        "etl_reject of runs before 2026-08-28  etl_reject    7       2.1 kB",
        "Total: 139 rows, 354.1 kB in PostgreSQL, to /data/archive.",
    ]
