"""Quality gates on real PostgreSQL: a load above a fail gate is rolled back whole (its rejects
kept), one above a warn gate commits and says so, the row-count check reads the history of
the same kind of extract, and the quality command reports what the gates said. And the exit
codes a scheduler acts on: 4 for a gate, 75 (retry later) for a held lock or a silent server."""

from __future__ import annotations

import csv
import socket
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from psycopg2 import sql

from spark_etl.cli import command
from spark_etl.cli import main as cli
from spark_etl.db import postgres
from spark_etl.local.datagen import DataSpec, generate
from spark_etl.runs import pipeline
from spark_etl.runs.run_context import RunContext
from tests.helpers import open_connection, query, write_csv

pytestmark = pytest.mark.integration

CART_JOB = "cart_data_transform"


def gated(config: Path, quality: str) -> Path:
    """The test's --config with a ``quality`` section added."""
    text = config.read_text(encoding="utf-8") + "quality:\n" + quality
    path = config.with_name("gated.yaml")
    path.write_text(text, encoding="utf-8")
    return path


def carts(folder: Path) -> list[list[str]]:
    with (folder / "carts.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))[1:]


def cart_extract(folder: Path, rows: list[list[str]]) -> Path:
    write_csv(folder, "carts", [tuple(row) for row in rows])
    return folder


def broken(rows: list[list[str]], every: int, of: int) -> list[list[str]]:
    """``of`` in ``every`` lines with a quantity that is not a number, the others one more."""
    return [
        [*row[:3], "many" if i % every < of else str(int(row[3]) + 1), *row[4:]]
        for i, row in enumerate(rows)
    ]


def load(config: Path, folder: Path, *options: str, job: str = CART_JOB) -> int:
    return cli.main(job, ["--input-dir", str(folder), "--config", str(config), *options])


def state(connection, settings) -> dict[str, list[str]]:
    """Every row of the model's entity tables and of every analytics relation (but the data
    quality views, which show the runs), as text."""
    db = settings.database
    relations = query(
        connection,
        settings,
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE ((n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
        "AND c.relname NOT LIKE 'etl\\_%%' AND c.relname NOT LIKE 'stage\\_%%') "
        "OR (n.nspname = %s AND c.relkind IN ('r', 'p', 'm', 'v') AND NOT c.relispartition "
        # each view stored twice is read through its name; the quality views read the audit;
        # refresh_step holds the last refresh's timings
        "AND c.relname !~ '__[ab]$' AND c.relname NOT LIKE 'data\\_quality\\_%%' "
        "AND c.relname <> 'refresh_step')) "
        "ORDER BY 1, 2",
        db.db_schema,
        db.analytics_schema,
    )
    conn = open_connection(connection, db.db_schema)
    try:
        rows = {}
        with conn.cursor() as cur:
            for schema, name in relations:
                cur.execute(
                    sql.SQL("SELECT CAST(to_jsonb(t) AS text) AS row FROM {} t").format(
                        sql.Identifier(schema, name)
                    )
                )
                rows[f"{schema}.{name}"] = sorted(row["row"] for row in cur.fetchall())
        return rows
    finally:
        conn.close()


def refresh(settings, connection) -> None:
    pipeline.refresh_analytics(RunContext(settings, connection, "", datetime(2030, 1, 1)))


def test_a_load_above_a_fail_gate_is_rolled_back_whole_and_exits_4(
    shared, cli_env, db_settings, connection, tmp_path, capsys
):
    generate(tmp_path / "in", DataSpec(300, 30, 10, seed=5, broken_fraction=0.0))
    assert load(cli_env, tmp_path / "in", job="all") == 0
    before = state(connection, db_settings)
    assert len(before[f"{db_settings.database.db_schema}.cart"]) == 300
    config = gated(cli_env, "  cart: {fail_set_aside_share: 0.05}\n")
    capsys.readouterr()

    code = load(config, cart_extract(tmp_path / "bad", broken(carts(tmp_path / "in"), 10, 3)))

    out, err = capsys.readouterr()
    assert code == 4
    said = "cart: 30% of lines set aside, above quality.cart.fail_set_aside_share 5%"
    assert err.splitlines()[-1] == (
        f"error: {said}: the load was rolled back, its rejects are kept in etl_reject."
    )
    assert out.splitlines()[2].split() == [
        CART_JOB, "failed", "300", "0", "90", "0", "fail"
    ]  # fmt: skip
    assert out.splitlines()[3:] == [f"quality gate failed: {said}"]
    refresh(db_settings, connection)  # nothing pending either: the views refresh to the same
    assert state(connection, db_settings) == before
    run = query(
        connection,
        db_settings,
        "SELECT run_id, status, quality, rows_read, rows_rejected, error_message FROM etl_run "
        "WHERE job = %s ORDER BY started_at DESC LIMIT 1",
        CART_JOB,
    )[0]
    assert run[1:] == (
        "failed",
        "fail",
        300,
        90,
        f"QualityGateError: {said}: the load was rolled back, its rejects are kept in etl_reject.",
    )
    assert query(
        connection,
        db_settings,
        "SELECT count(*), array_agg(DISTINCT r) FROM etl_reject, unnest(reasons) r "
        "WHERE run_id = %s",
        run[0],
    ) == [(90, ["quantity is not a whole number from 1 to 100000"])]
    assert query(
        connection,
        db_settings,
        "SELECT metric, detail, value, warn_at, fail_at, verdict FROM etl_run_metric "
        "WHERE run_id = %s AND metric IN ('gate', 'rows_read', 'rows_set_aside', 'reason_rows') "
        "ORDER BY metric, detail",
        run[0],
    ) == [
        ("gate", "set_aside_share", Decimal("0.3"), None, Decimal("0.05"), "fail"),
        ("reason_rows", "quantity is not a whole number from 1 to 100000", 90, None, None, None),
        ("rows_read", "", 300, None, None, None),
        ("rows_set_aside", "", 90, None, None, None),
    ]

    # the report's views say so too
    analytics = db_settings.database.analytics_schema
    assert query(
        connection,
        db_settings,
        f"SELECT job, status, quality, rows_read, rows_set_aside, set_aside_share, gate_messages "
        f"FROM {analytics}.data_quality_latest ORDER BY job",
    ) == [
        (CART_JOB, "failed", "fail", 300, 90, Decimal("0.3"), said),
        ("customer_data_transform", "succeeded", None, 30, 0, Decimal("0"), None),
        ("product_data_transform", "succeeded", None, 10, 0, Decimal("0"), None),
    ]
    assert query(
        connection,
        db_settings,
        f"SELECT job, reason, rows_set_aside, share_of_rows_read, reason_rank "
        f"FROM {analytics}.data_quality_reasons",
    ) == [(CART_JOB, "quantity is not a whole number from 1 to 100000", 90, Decimal("0.3"), 1)]
    assert query(
        connection,
        db_settings,
        f"SELECT set_aside_share, warn_set_aside_share, fail_set_aside_share "
        f"FROM {analytics}.data_quality_runs WHERE job = %s ORDER BY started_at",
        CART_JOB,
    ) == [(Decimal("0"), None, None), (Decimal("0.3"), None, Decimal("0.05"))]

    # the quality command says so, and exits 4 for monitoring
    capsys.readouterr()
    code = command.main(["quality", "--job", "cart", "--config", str(config)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 4
    assert lines[0] == CART_JOB
    assert lines[3].split()[2:] == ["snapshot", "failed", "300", "0", "90", "(30%)", "0", "fail"]
    assert lines[4] == f"    quality gate failed: {said}"
    assert lines[5].split()[2:] == [
        "snapshot",
        "succeeded",
        "300",
        "300",
        "0",
        "0",
        "300",
        "0",
        "10",
    ]
    assert lines[-1] == f"The latest run of {CART_JOB} failed a quality gate."


def test_a_load_above_a_warn_gate_commits_and_says_so(
    shared, cli_env, db_settings, connection, tmp_path, capsys
):
    generate(tmp_path / "in", DataSpec(300, 30, 10, seed=5, broken_fraction=0.0))
    assert load(cli_env, tmp_path / "in", job="all") == 0
    config = gated(
        cli_env,
        "  cart:\n    warn_set_aside_share: 0.05\n    fail_set_aside_share: 0.5\n"
        "    warn_reason_share: {'whole number': 0.2}\n"
        "    warn_flag_share: {'before its (customer|product)': 0.01}\n",
    )
    capsys.readouterr()

    code = load(config, cart_extract(tmp_path / "bad", broken(carts(tmp_path / "in"), 10, 3)))

    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[2].split()[:3] == [CART_JOB, "succeeded", "300"]
    assert out[2].split()[-1] == "warn"
    flagged = query(
        connection,
        db_settings,
        "SELECT count(*) FROM etl_flag f JOIN etl_run r USING (run_id) WHERE r.job = %s "
        "AND r.quality = 'warn' AND f.flag ~ 'before its (customer|product)'",
        CART_JOB,
    )[0][0]
    assert flagged > 3
    share = f"{flagged / 300 * 100:.1f}".rstrip("0").rstrip(".")
    assert out[3:] == [
        "quality warning: cart: 30% of lines set aside, above quality.cart.warn_set_aside_share 5%",
        "quality warning: cart: 30% of lines set aside for a reason matching 'whole number', "
        "above quality.cart.warn_reason_share['whole number'] 20%",
        f"quality warning: cart: {share}% of lines flagged 'before its (customer|product)', "
        "above quality.cart.warn_flag_share['before its (customer|product)'] 1%",
    ]
    # committed: the 210 good lines carry their new quantity
    assert query(
        connection,
        db_settings,
        "SELECT rows_updated FROM etl_run WHERE job = %s AND quality = 'warn'",
        CART_JOB,
    ) == [(210,)]


def test_the_row_count_is_compared_with_the_history_of_the_same_kind_of_extract(
    shared, cli_env, db_settings, connection, tmp_path, capsys
):
    generate(tmp_path / "in", DataSpec(200, 20, 10, seed=3, broken_fraction=0.0))
    assert load(cli_env, tmp_path / "in", job="all") == 0  # 1 normal run of the cart job
    config = gated(cli_env, "  cart: {fail_row_count_change: 0.5}\n")
    lines = carts(tmp_path / "in")
    full = cart_extract(tmp_path / "full", lines)
    cut = cart_extract(tmp_path / "cut", lines[:20])  # 10% of the usual lines
    assert load(config, full) == 0
    capsys.readouterr()

    # after 2 runs: too little history, said so, and the cut extract loads
    assert load(config, cut) == 0
    assert capsys.readouterr().out.splitlines()[3:] == [
        "quality note: cart: row count not checked: 2 earlier successful snapshot runs to "
        "compare with, 4 needed"
    ]
    for _ in range(3):
        assert load(config, full) == 0
    # backfills are neither judged nor history: these would make the median 20
    capsys.readouterr()
    for _ in range(3):
        assert load(config, cut, "--as-of", "2020-01-01") == 0
        assert capsys.readouterr().out.splitlines()[3:] == [
            "quality note: cart: row count not checked: a backfill (--as-of in the past) is not "
            "compared with the regular runs"
        ]

    # after 5 normal runs (and the cut one): the median is 200, the cut extract fails
    assert load(config, cut) == 4
    assert capsys.readouterr().out.splitlines()[3:] == [
        "quality gate failed: cart: 20 lines read, 90% below the median 200 of the last 6 "
        "snapshot runs, above quality.cart.fail_row_count_change 50%"
    ]

    # an increment is compared with increments only: against the snapshots it would fail
    increment = cart_extract(tmp_path / "delta", lines[:20])
    assert load(config, increment, "--extract", "delta") == 0
    assert capsys.readouterr().out.splitlines()[3:] == [
        "quality note: cart: row count not checked: 0 earlier successful delta runs to "
        "compare with, 4 needed"
    ]
    for _ in range(3):
        assert load(config, increment, "--extract", "delta") == 0
    capsys.readouterr()
    assert load(config, full, "--extract", "delta") == 4
    assert capsys.readouterr().out.splitlines()[3:] == [
        "quality gate failed: cart: 200 lines read, 900% above the median 20 of the last 4 "
        "delta runs, above quality.cart.fail_row_count_change 50%"
    ]
    assert query(
        connection,
        db_settings,
        "SELECT extract, backfill, status, coalesce(quality, '-'), rows_read FROM etl_run "
        "WHERE job = %s ORDER BY started_at",
        CART_JOB,
    ) == [
        ("snapshot", False, "succeeded", "-", 200),
        ("snapshot", False, "succeeded", "pass", 200),  # the unchecked row count passes
        ("snapshot", False, "succeeded", "pass", 20),
        ("snapshot", False, "succeeded", "pass", 200),
        ("snapshot", False, "succeeded", "pass", 200),
        ("snapshot", False, "succeeded", "pass", 200),
        *[("snapshot", True, "succeeded", "pass", 20)] * 3,
        ("snapshot", False, "failed", "fail", 20),
        ("delta", False, "succeeded", "pass", 20),
        ("delta", False, "succeeded", "pass", 20),
        ("delta", False, "succeeded", "pass", 20),
        ("delta", False, "succeeded", "pass", 20),
        ("delta", False, "failed", "fail", 200),
    ]


@pytest.mark.parametrize(
    ("quality", "message"),
    [
        (
            "  review: {fail_set_aside_share: 0.1}\n",
            "Setting quality.review: no entity 'review' is defined; known: cart, customer, "
            "product.",
        ),
        (
            "  cart: {fail_set_aside_share: 1.5}\n",
            "'quality.cart.fail_set_aside_share': Input should be less than or equal to 1.",
        ),
        (
            "  cart: {fail_reason_share: {'quantity (': 0.1}}\n",
            "'quality.cart.fail_reason_share': Value error, 'quantity (' is not a valid regular "
            "expression (missing ), unterminated subpattern at position 9).",
        ),
        (
            "  cart: {fail_set_aside_share: 0.01, warn_set_aside_share: 0.05}\n",
            "'quality.cart': Value error, fail_set_aside_share 0.01 is below "
            "warn_set_aside_share 0.05.",
        ),
    ],
)
def test_a_bad_gate_is_one_line_and_exit_2_before_spark_starts(
    quality, message, cli_env, tmp_path, monkeypatch, capsys
):
    def no_spark(*args, **kwargs):
        raise AssertionError("Spark started")

    monkeypatch.setattr(cli, "spark_session", no_spark)
    (tmp_path / "in").mkdir()
    config = gated(cli_env, quality)

    code = load(config, tmp_path / "in")

    err = capsys.readouterr().err.splitlines()[-1]
    assert code == 2
    prefix = (
        "error: "
        if message.startswith("Setting")
        else f"error: Configuration {config} is invalid: "
    )
    assert err == f"{prefix}{message}"


def test_the_quality_command_with_no_load_yet(cli_env, capsys):
    assert command.main(["quality", "--config", str(cli_env)]) == 0
    assert capsys.readouterr().out == "No load has run yet.\n"


def test_exit_75_while_another_load_holds_the_lock_then_0_after_it_ends(
    shared, cli_env, db_settings, connection, tmp_path, capsys
):
    generate(tmp_path / "in", DataSpec(40, 5, 10, broken_fraction=0.0))
    holder = open_connection(connection, db_settings.database.db_schema)
    try:
        with postgres.load_lock(holder):  # what a running load holds
            assert load(cli_env, tmp_path / "in", job="customer_data_transform") == 75
    finally:
        holder.close()
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: Another load is running against this database; wait for it to finish and run "
        "again. (temporary: exit 75, retry later)"
    )

    assert load(cli_env, tmp_path / "in", job="customer_data_transform") == 0


def test_exit_75_when_postgresql_does_not_answer_and_2_for_a_wrong_password(
    cli_env, connection, tmp_path, monkeypatch, capsys
):
    (tmp_path / "in").mkdir()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("PGPORT", str(closed))

    assert load(cli_env, tmp_path / "in") == 75
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(
            "it may be down, starting or in recovery: run again later, or check the PG* variables. "
            "(temporary: exit 75, retry later)"
        )
    )

    monkeypatch.setenv("PGPORT", str(connection.port))
    monkeypatch.setenv("PGPASSWORD", "Wr0ng-pw")
    assert load(cli_env, tmp_path / "in") == 2
    assert "password authentication failed" in capsys.readouterr().err
