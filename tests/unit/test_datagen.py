"""The synthetic input set: deterministic, sized as asked, and as messy as promised."""

from __future__ import annotations

import csv
import re

from spark_etl.local.datagen import DataSpec, generate


def read(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path):
    spec = DataSpec.scaled(2000, seed=7)

    generate(tmp_path / "a", spec)
    generate(tmp_path / "b", spec)
    generate(tmp_path / "c", DataSpec.scaled(2000, seed=8))

    for name in ("customers.csv", "products.csv", "carts.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()


def test_sizes_scale_from_cart_lines_and_can_be_overridden(tmp_path):
    assert generate(tmp_path / "scaled", DataSpec.scaled(4000)) == {
        "customers.csv": 200,
        "products.csv": 40,
        "carts.csv": 4000,
    }
    assert generate(tmp_path / "explicit", DataSpec(50, 7, 11)) == {
        "customers.csv": 7,
        "products.csv": 11,
        "carts.csv": 50,
    }


def test_clean_set_holds_the_messy_but_valid_cases(tmp_path):
    generate(tmp_path, DataSpec.scaled(20000, broken_fraction=0.0))
    customers = read(tmp_path / "customers.csv")[1:]
    products = read(tmp_path / "products.csv")[1:]
    carts = read(tmp_path / "carts.csv")[1:]

    names = [row[1] for row in customers + products]
    assert any("," in name for name in names)
    assert any("&" in name for name in names)
    assert any(re.search("[äöüß]", name) for name in names)
    assert all(re.fullmatch(r"[A-Z]{3,4}-\d{3}", row[3]) for row in products)
    assert any(re.fullmatch(r"\d+\.\d", row[2]) for row in products)  # one decimal digit
    full_skus = [row[3] for row in products]
    assert len(set(full_skus)) < len(full_skus)  # a full SKU on two product ids
    assert any(row[5] and row[5] < row[4] for row in carts)  # removed before created
    assert {len(row[2]) for row in customers} == {10, 19}  # both date formats
    assert all(row[0].isdigit() for row in customers + products + carts)


def test_broken_fraction_breaks_about_that_share_of_rows(tmp_path):
    generate(tmp_path, DataSpec.scaled(20000, broken_fraction=0.05))
    carts = read(tmp_path / "carts.csv")[1:]

    broken = [
        row
        for row in carts
        if not row[0].isdigit()
        or row[3] in ("0", "-2")
        or row[4].startswith("2022-13")
        or int(row[1]) > 200
        or int(row[2]) > 1000
    ]
    # five of the six kinds are visible in the row itself (the sixth is a repeated id)
    assert 0.03 < len(broken) / len(carts) < 0.05


def lines_before_creation(folder):
    """The share of cart lines created before their customer or product (what the load flags)."""
    created = {
        name: {row[0]: row[-1][:19] for row in read(folder / f"{name}s.csv")[1:]}
        for name in ("customer", "product")
    }
    carts = read(folder / "carts.csv")[1:]
    early = [
        row
        for row in carts
        if row[4] < created["customer"][row[2]] or row[4] < created["product"][row[1]]
    ]
    return len(early) / len(carts)


def test_late_fraction_sets_how_many_lines_predate_their_customer_or_product(tmp_path):
    generate(tmp_path / "usual", DataSpec.scaled(20000, seed=1, broken_fraction=0.0))
    generate(
        tmp_path / "late",
        DataSpec.scaled(20000, seed=1, broken_fraction=0.0, late_fraction=1.0),
    )

    assert 0.01 < lines_before_creation(tmp_path / "usual") < 0.1
    assert 0.5 < lines_before_creation(tmp_path / "late") < 0.75
