"""Retention faults: whatever stops a run, every row is in PostgreSQL or in a verified archive.

The kills are real: the job runs in a process of its own, killed (with its JVM) at a step."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from spark_etl.db import postgres
from spark_etl.runs import retention
from tests.helpers import kill_at, open_connection, query
from tests.integration.conftest import archive_rows, cart_rows, write_config

pytestmark = pytest.mark.integration

ARCHIVED = (
    "SELECT period FROM etl_archive WHERE table_name = 'cart' AND restored_at IS NULL "
    "ORDER BY period"
)
# Runs the job, killing its whole process group (Python and Spark's JVM) at a step.
KILLER = """
import os, signal, sys
from spark_etl.cli import main as cli
from spark_etl.runs import retention

def kill(*args, **kwargs):
    os.killpg(os.getpgid(0), signal.SIGKILL)

def after(name):
    original = getattr(retention, name)
    def wrapped(*args, **kwargs):
        original(*args, **kwargs)
        kill()
    setattr(retention, name, wrapped)

step = sys.argv[1]
if step == "written":  # the Parquet files are written, not read back yet
    after("write_parquet")
elif step == "recorded":  # verified and recorded in etl_archive, not dropped yet
    retention.remove_batch = kill
elif step == "dropped":  # partition detached and dropped, not committed yet
    after("remove_batch")
elif step == "restore-loaded":  # the month's rows copied back, the partition not attached
    retention.attach_range = kill
sys.exit(cli.main(sys.argv[2], sys.argv[3:]))
"""


def test_retention_killed_at_each_step_loses_nothing_and_the_next_run_completes(
    loaded, spark, db_settings, connection, tmp_path, run_cli
):
    config = write_config(tmp_path, db_settings, cart_months=59)  # 2020-01 leaves
    before = cart_rows(connection, db_settings)
    january = [row for row in before if row[7] < "2020-02-01"]
    assert january

    for step in ("written", "recorded", "dropped"):
        kill_at(
            KILLER, step, ["retention", "--config", str(config)], connection, db_settings, tmp_path
        )

        # the transaction died with the process: every row in PostgreSQL, nothing recorded
        assert cart_rows(connection, db_settings) == before, step
        assert query(connection, db_settings, ARCHIVED) == [], step

    assert run_cli("retention", ["--config", str(config)]) == 0

    assert cart_rows(connection, db_settings) == [row for row in before if row not in january]
    assert archive_rows(spark, tmp_path / "archive" / "cart") == january
    interrupted = ("failed", "interrupted: the process ended before the run finished")
    assert query(
        connection,
        db_settings,
        "SELECT status, error_message FROM etl_run WHERE job = 'retention' ORDER BY started_at",
    ) == [interrupted, interrupted, interrupted, ("succeeded", None)]


def test_restore_killed_before_the_month_is_attached_leaves_it_archived(
    loaded, spark, db_settings, connection, tmp_path, run_cli
):
    config = write_config(tmp_path, db_settings, cart_months=59)
    january = cart_rows(connection, db_settings, "created_at < '2020-02-01'")
    assert run_cli("retention", ["--config", str(config)]) == 0

    restore = ["restore", "--config", str(config), "--month", "2020-01"]
    kill_at(KILLER, "restore-loaded", restore, connection, db_settings, tmp_path)

    # still archived, not online (a table the restore left unattached is not part of cart)
    assert query(connection, db_settings, ARCHIVED) == [(date(2020, 1, 1),)]
    assert cart_rows(connection, db_settings, "created_at < '2020-02-01'") == []

    assert run_cli("restore", ["--config", str(config), "--month", "2020-01"]) == 0

    assert cart_rows(connection, db_settings, "created_at < '2020-02-01'") == january
    assert query(connection, db_settings, ARCHIVED) == []


def test_failed_read_back_check_drops_nothing(
    loaded, db_settings, connection, tmp_path, run_cli, monkeypatch, capsys
):
    config = write_config(tmp_path, db_settings, cart_months=59)
    before = cart_rows(connection, db_settings)
    write = retention.write_parquet

    def write_then_lose_a_file(frame, path):
        write(frame, path)
        parts = sorted(Path(path).glob("part-*.parquet"))
        parts[0].unlink()  # what the storage gives back is not what was written

    monkeypatch.setattr(retention, "write_parquet", write_then_lose_a_file)

    assert run_cli("retention", ["--config", str(config)]) == 2

    error = capsys.readouterr().err.strip()
    path = tmp_path / "archive" / "cart" / "month=2020-01"
    assert error.startswith(
        f"error: The archive of cart 2020-01 read back from {path} does not match PostgreSQL ("
    )
    assert error.endswith("); nothing was dropped.")
    assert len(error.splitlines()) == 1
    assert cart_rows(connection, db_settings) == before
    assert query(connection, db_settings, ARCHIVED) == []
    assert query(connection, db_settings, "SELECT status FROM etl_run WHERE job = 'retention'") == [
        ("failed",)
    ]


def test_archive_folder_that_cannot_be_made_stops_the_run_before_anything(
    loaded, db_settings, connection, tmp_path, run_cli, capsys
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be", encoding="utf-8")
    config = write_config(tmp_path, db_settings, cart_months=59)
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            str(tmp_path / "archive"), str(blocker / "archive")
        ),
        encoding="utf-8",
    )
    before = cart_rows(connection, db_settings)

    assert run_cli("retention", ["--config", str(config)]) == 2

    assert capsys.readouterr().err == (
        f"error: Archive folder {blocker / 'archive'} cannot be created (Not a directory); set "
        "retention.archive_dir to a folder Spark can write.\n"
    )
    assert cart_rows(connection, db_settings) == before
    assert query(
        connection, db_settings, "SELECT count(*) FROM etl_run WHERE job = 'retention'"
    ) == [(0,)]


def test_retention_while_a_load_runs_is_refused(
    loaded, db_settings, connection, tmp_path, run_cli, capsys
):
    config = write_config(tmp_path, db_settings, cart_months=59)
    before = cart_rows(connection, db_settings)
    holder = open_connection(connection, db_settings.database.db_schema)
    try:
        with postgres.load_lock(holder):  # what a running load holds
            assert run_cli("retention", ["--config", str(config)]) == 75  # retry later
    finally:
        holder.close()

    assert capsys.readouterr().err == (
        "error: Another load is running against this database; wait for it to finish and run "
        "again. (temporary: exit 75, retry later)\n"
    )
    assert cart_rows(connection, db_settings) == before
    assert query(connection, db_settings, ARCHIVED) == []
