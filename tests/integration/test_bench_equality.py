"""The harness's results-equality check finds rows that differ, repeats included."""

from __future__ import annotations

import shutil
import uuid

import pytest

from bench.equality import compare, differing, tree_of
from tests.helpers import open_connection

pytestmark = [pytest.mark.integration, pytest.mark.bench]


def test_equality_check_counts_rows_only_one_side_holds_and_relations_on_one_side(connection):
    old, new = (f"eq_{side}_{uuid.uuid4().hex[:8]}" for side in ("old", "new"))
    conn = open_connection(connection)
    with conn.cursor() as cur:
        for schema, rows in (
            (old, "(1, 'a'), (2, 'b'), (2, 'b')"),
            (new, "(1, 'a'), (2, 'b'), (3, 'c')"),
        ):
            cur.execute(f"CREATE SCHEMA {schema}")
            cur.execute(f"CREATE TABLE {schema}.etl_flag (record_id int, flag text, run_id uuid)")
            cur.execute(f"INSERT INTO {schema}.etl_flag (record_id, flag) VALUES {rows}")
            cur.execute(f"CREATE TABLE {schema}.stage_cart (id int)")  # staging: not compared
            cur.execute(f"CREATE TABLE {schema}.etl_run (run_id uuid, job text)")
            # each run's own timings differ between the two: those rows are not compared
            cur.execute(
                f"CREATE TABLE {schema}.etl_run_metric (run_id uuid, metric text, value numeric)"
            )
            seconds = 1.5 if schema == old else 2.5
            cur.execute(
                f"INSERT INTO {schema}.etl_run_metric VALUES (gen_random_uuid(), 'rows_read', 7), "
                f"(gen_random_uuid(), 'seconds', {seconds}), "
                f"(gen_random_uuid(), 'rows_per_second', {7 / seconds})"
            )
            cur.execute(f"CREATE TABLE {schema}.etl_migration (statement text)")
            cur.execute(f"INSERT INTO {schema}.etl_migration VALUES ('{schema}')")  # DDL: skipped
            names = f"SELECT DISTINCT flag FROM {schema}.etl_flag WHERE record_id < 3"
            if schema == old:
                cur.execute(f"CREATE MATERIALIZED VIEW {schema}.names AS {names}")
            else:  # stored twice, one twin empty, read through a view: compared as the view
                cur.execute(f"CREATE MATERIALIZED VIEW {schema}.names__a AS {names}")
                cur.execute(f"CREATE MATERIALIZED VIEW {schema}.names__b AS {names} WITH NO DATA")
                cur.execute(f"CREATE VIEW {schema}.names AS SELECT * FROM {schema}.names__a")
        cur.execute(f"CREATE TABLE {old}.etl_reject (reject_id uuid)")  # gone in the new code
        cur.execute(f"CREATE TABLE {new}.etl_flag_summary (flag text)")  # new in the new code
        # a run id differs on every run: left out of the comparison
        cur.execute(f"UPDATE {new}.etl_flag SET run_id = gen_random_uuid()")
    conn.commit()
    try:
        results = compare(connection, {"model": (old, new)})
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA {old} CASCADE; DROP SCHEMA {new} CASCADE")
        conn.commit()
        conn.close()

    # old holds (2, 'b') twice, new once; new alone holds (3, 'c')
    assert results == [
        {
            "relation": "model.etl_flag",
            "rows": 3,
            "columns": 2,
            "only_old": 1,
            "only_new": 1,
            "left_out": [],
        },
        {"relation": "model.etl_flag_summary", "only_in": "new"},
        {"relation": "model.etl_reject", "only_in": "old"},
        {
            "relation": "model.etl_run",
            "rows": 0,
            "columns": 1,
            "only_old": 0,
            "only_new": 0,
            "left_out": [],  # run_id names the run
        },
        {
            "relation": "model.etl_run_metric",
            "rows": 3,
            "columns": 2,
            "only_old": 0,
            "only_new": 0,
            "left_out": [],
        },
        {
            "relation": "model.names",
            "rows": 2,
            "columns": 1,
            "only_old": 0,
            "only_new": 0,
            "left_out": [],
        },
    ]
    # an added relation answers nothing the old code did: not a difference
    assert [r["relation"] for r in differing(results)] == ["model.etl_flag", "model.etl_reject"]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git (the Docker image has none)")
def test_a_base_that_is_not_a_revision_stops_with_one_line(tmp_path):
    with pytest.raises(SystemExit) as stopped:
        tree_of("no-such-revision", tmp_path / "base")

    message = str(stopped.value)
    assert message.startswith("--base no-such-revision: not a revision of ")
    assert "\n" not in message
