"""The quality gates' verdicts and their settings, without Spark or a database."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from spark_etl.config import EntityGates, QualitySettings, load_settings
from spark_etl.definitions import load_entities
from spark_etl.definitions.loader import check_quality
from spark_etl.errors import ConfigError
from spark_etl.quality.gates import (
    FAIL,
    PASS,
    UNCHECKED,
    WARN,
    Check,
    LoadFigures,
    check_flags,
    check_load,
    median,
    percent,
    reasons_counted,
    verdict,
)
from tests.helpers import REPO

QUANTITY = "quantity is not a whole number"
PRICE = "price is not a decimal"


def figures(read=1000, set_aside=0, reasons=None, extract="snapshot", history=()):
    return LoadFigures("cart", "lines", read, set_aside, reasons or {}, extract, history)


@pytest.mark.parametrize(
    ("share", "text"),
    [(0.314, "31.4%"), (0.05, "5%"), (0.0004, "0.04%"), (0.0, "0%"), (9.0, "900%")],
)
def test_percent(share, text):
    assert percent(share) == text


def test_no_gate_no_check():
    assert check_load(figures(set_aside=900), EntityGates()) == []
    assert verdict([]) == PASS


def test_set_aside_share_fails_above_fail_and_warns_above_warn():
    gates = EntityGates(fail_set_aside_share=0.1, warn_set_aside_share=0.05)

    assert check_load(figures(set_aside=314), gates) == [
        Check(
            "set_aside_share",
            "",
            0.314,
            0.05,
            0.1,
            FAIL,
            "cart: 31.4% of lines set aside, above quality.cart.fail_set_aside_share 10%",
        )
    ]
    assert [c.verdict for c in check_load(figures(set_aside=60), gates)] == [WARN]
    assert check_load(figures(set_aside=50), gates)[0].verdict == PASS  # at the line: passes
    assert check_load(figures(read=0), gates)[0].figure == 0.0  # an empty extract sets none aside


def test_a_reason_pattern_counts_each_row_once_whatever_reasons_it_matches():
    reasons = {(QUANTITY,): 30, (QUANTITY, PRICE): 20, (PRICE,): 5}
    gates = EntityGates(fail_reason_share={"quantity|price": 0.06}, warn_reason_share={PRICE: 0.02})

    checks = check_load(figures(set_aside=55, reasons=reasons), gates)

    assert [(c.detail, c.figure, c.verdict) for c in checks] == [
        ("quantity|price", 0.055, PASS),
        (PRICE, 0.025, WARN),
    ]
    assert checks[1].message == (
        "cart: 2.5% of lines set aside for a reason matching 'price is not a decimal', above "
        "quality.cart.warn_reason_share['price is not a decimal'] 2%"
    )
    assert reasons_counted(reasons) == {QUANTITY: 50, PRICE: 25}


def test_row_count_change_against_the_median_needs_four_runs():
    gates = EntityGates(fail_row_count_change=0.5)

    few = check_load(figures(read=100, history=(1000, 1000, 1000)), gates)[0]
    cut = check_load(figures(read=100, history=(1000, 1200, 900, 1000, 10)), gates)[0]
    grown = check_load(figures(read=1600, extract="delta", history=(1000,) * 4), gates)[0]

    assert (few.verdict, few.figure) == (UNCHECKED, None)
    assert few.message == (
        "cart: row count not checked: 3 earlier successful snapshot runs to compare with, 4 needed"
    )
    assert (cut.verdict, cut.figure) == (FAIL, 0.9)
    assert cut.message == (
        "cart: 100 lines read, 90% below the median 1,000 of the last 5 snapshot runs, above "
        "quality.cart.fail_row_count_change 50%"
    )
    assert grown.verdict == FAIL and "60% above the median 1,000 of the last 4 delta runs" in (
        grown.message
    )
    backfill = LoadFigures("cart", "lines", 100, 0, {}, "snapshot", (1000,) * 4, backfill=True)
    assert check_load(backfill, gates)[0].verdict == UNCHECKED
    assert median((3, 1, 2)) is None
    assert median((4, 1, 2, 3)) == 2.5
    assert verdict([few]) == PASS  # not judged is not a failure


def test_flag_gates_share_of_rows_read():
    gates = EntityGates(warn_flag_share={"before its": 0.5}, fail_flag_share={"deleted": 0.01})
    flags = {"created before its product": 400, "created before its customer": 200}

    checks = check_flags("cart", "lines", 1000, flags, gates)

    assert [(c.detail, c.figure, c.verdict) for c in checks] == [
        ("deleted", 0.0, PASS),
        ("before its", 0.6, WARN),
    ]
    assert verdict(checks) == WARN


def test_gates_validate_shares_patterns_and_order():
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        EntityGates(fail_set_aside_share=1.5)
    with pytest.raises(ValidationError, match="'a\\(' is not a valid regular expression"):
        EntityGates(warn_flag_share={"a(": 0.1})
    with pytest.raises(ValidationError, match=r"fail_reason_share\['x'\] 0.1 is below"):
        EntityGates(fail_reason_share={"x": 0.1}, warn_reason_share={"x": 0.2})
    with pytest.raises(ValidationError, match="'Cart' is not an entity name"):
        QualitySettings.model_validate({"Cart": {}})
    with pytest.raises(ValidationError, match="greater than or equal to 4"):
        QualitySettings(history_runs=3)


def test_settings_gates_win_over_the_definitions_key_by_key():
    definition = EntityGates(
        extract="delta", fail_set_aside_share=0.2, warn_reason_share={"a": 0.1, "b": 0.2}
    )
    settings = EntityGates(fail_set_aside_share=0.1, warn_reason_share={"b": 0.3})

    merged = settings.over(definition)

    assert merged.extract == "delta"
    assert merged.fail_set_aside_share == 0.1
    assert merged.warn_reason_share == {"a": 0.1, "b": 0.3}
    assert EntityGates(warn_set_aside_share=0.5).over(definition).misordered() == (
        "fail_set_aside_share 0.2 is below warn_set_aside_share 0.5"
    )


def test_the_sample_production_settings_are_valid_for_the_built_in_entities():
    settings = load_settings(REPO / "examples" / "settings" / "production.yaml")
    check_quality(load_entities(), settings.quality)

    cart = load_entities().entity("cart").gates(settings.quality)
    assert (cart.extract, cart.fail_set_aside_share) == ("delta", 0.05)


def test_a_definition_sets_its_own_gates_and_the_settings_win_key_by_key(tmp_path):
    cart = (REPO / "spark_etl" / "definitions" / "entities" / "cart.yaml").read_text("utf-8")
    folder = tmp_path / "entities"
    folder.mkdir()
    (folder / "cart.yaml").write_text(
        cart + "quality: {extract: delta, fail_set_aside_share: 0.2, warn_set_aside_share: 0.1}\n",
        encoding="utf-8",
    )
    settings = tmp_path / "settings.yaml"
    settings.write_text("quality:\n  cart: {fail_set_aside_share: 0.15}\n", encoding="utf-8")
    model = load_entities(folder)

    gates = model.entity("cart").gates(load_settings(settings).quality)

    assert (gates.extract, gates.warn_set_aside_share, gates.fail_set_aside_share) == (
        "delta",
        0.1,
        0.15,
    )
    settings.write_text("quality:\n  cart: {fail_set_aside_share: 0.05}\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"fail_set_aside_share 0.05 is below warn_set_aside_share 0.1"
    ):
        check_quality(model, load_settings(settings).quality)
