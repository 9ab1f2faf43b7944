"""bench/flags.py: the bitmask it times against etl_flag rows, and its table."""

from __future__ import annotations

import pytest
from psycopg2 import sql

from bench.flags import bitmask, main, markdown
from spark_etl.definitions import load_entities


def rendered(composable) -> str:
    """psycopg2's composed SQL as text, without a connection (identifiers and literals only)."""

    def walk(part) -> str:
        if isinstance(part, sql.Composed):
            return "".join(walk(p) for p in part.seq)
        if isinstance(part, sql.SQL):
            return part.string
        if isinstance(part, sql.Identifier):
            return ".".join(f'"{s}"' for s in part.strings)
        if isinstance(part, sql.Literal):
            return repr(part.wrapped)
        raise AssertionError(type(part))

    return walk(composable)


def test_the_bitmask_gives_each_flag_of_cart_its_own_bit_and_joins_what_it_compares_with():
    model = load_entities()
    flags, joins = bitmask(model, model.entity("cart"))

    assert rendered(flags) == (
        'CAST(CASE WHEN s."deleted_at" < s."created_at" THEN 1 ELSE 0 END'
        ' | CASE WHEN s."created_at" < "r0"."created_at" THEN 2 ELSE 0 END'
        ' | CASE WHEN s."created_at" < "r1"."created_at" THEN 4 ELSE 0 END AS smallint)'
    )
    assert rendered(joins) == (
        'LEFT JOIN "product" "r0" ON "r0"."product_id" = "s"."product_id" '
        'LEFT JOIN "customer" "r1" ON "r1"."customer_id" = "s"."customer_id"'
    )


def test_the_table_shows_each_variant_and_what_the_bitmask_itself_cost():
    result = {
        "seconds": {"flags": 31.11, "rows": 2.6, "rows + bitmask": 13.36},
        "flagged": {"deleted before created": 3, "created before its customer": 5, "": 7},
        "rows": 10,
        "round_count": 2,
        "machine": "vm",
        "when": "2026-12-04 16:38 UTC",
    }

    assert markdown(result).splitlines()[0] == (
        "What the cart merge's flags cost: 10 staged rows, 7 of them flagged; the mean of 2 "
        "round(s), vm, 2026-12-04 16:38 UTC."
    )
    assert markdown(result).splitlines()[4] == (
        "| 31.11 | 2.60 | 13.36 | 10.76 | deleted before created: 3, created before its "
        "customer: 5 |"
    )


def test_the_flags_bench_refuses_rounds_below_one_before_reaching_a_database(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--rounds", "0"])

    assert stopped.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith("argument --rounds: '0' is not a whole number of at least 1")
    )
