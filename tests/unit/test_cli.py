"""The command line: exit codes and the one-line messages users see."""

from __future__ import annotations

from datetime import date

import pytest

import spark_etl
from spark_etl.cli import command, logs
from spark_etl.cli import main as cli
from spark_etl.cli.printing import format_summary
from spark_etl.cli.tools import describe_expired, describe_sync
from spark_etl.lake.expire import Expired
from spark_etl.lake.sync import Compared
from spark_etl.lake.write import Written


@pytest.fixture(autouse=True)
def logs_in_tmp(tmp_path, monkeypatch, restore_logging):
    """Logs go to the test's folder."""
    monkeypatch.setenv(logs.LOG_DIR_ENV, str(tmp_path / "logs"))


@pytest.fixture
def no_spark(monkeypatch):
    """Fail the test if a command tries to start Spark."""

    def refuse(*args, **kwargs):
        raise AssertionError("Spark must not start")

    monkeypatch.setattr(cli, "spark_session", refuse)


def test_unknown_job_is_named_with_the_known_ones(capsys, no_spark):
    assert cli.main("cart_transform", []) == 2

    assert capsys.readouterr().err == (
        "error: Unknown job 'cart_transform'; choose one of: customer_data_transform, "
        "product_data_transform, cart_data_transform, all, analytics, plan, generate_data, "
        "retention, restore, lake.\n"
    )


def test_malformed_config_is_rejected_before_spark_starts(tmp_path, capsys, no_spark):
    config = tmp_path / "etl.yaml"
    config.write_text("spark:\n  masterr: local[1]\n", encoding="utf-8")

    code = cli.main("all", ["--input-dir", str(tmp_path), "--config", str(config)])

    assert code == 2
    assert (
        capsys.readouterr().err
        == f"error: Configuration {config} is invalid: unknown key 'spark.masterr'.\n"
    )


def test_missing_input_directory_is_rejected_before_spark_starts(tmp_path, capsys, no_spark):
    assert cli.main("all", ["--input-dir", str(tmp_path / "absent")]) == 2

    assert capsys.readouterr().err == (
        f"error: Input directory {tmp_path}/absent does not exist; pass --input-dir DIR.\n"
    )


def test_generate_data_writes_the_set_and_reports_rows(tmp_path, capsys):
    out = tmp_path / "data"

    assert (
        cli.main("generate_data", ["--output-dir", str(out), "--carts", "300", "--seed", "3"]) == 0
    )

    assert capsys.readouterr().out == (
        f"{out}/customers.csv: 15 rows\n{out}/products.csv: 10 rows\n{out}/carts.csv: 300 rows\n"
    )


def test_generate_data_refuses_a_fraction_above_one(tmp_path, capsys):
    code = cli.main("generate_data", ["--output-dir", str(tmp_path), "--broken-fraction", "1.5"])

    assert code == 2
    assert capsys.readouterr().err == (
        "error: --carts must be at least 1 and --broken-fraction between 0 and 1.\n"
    )


def test_generate_data_refuses_a_late_fraction_above_one(tmp_path, capsys):
    code = cli.main("generate_data", ["--output-dir", str(tmp_path), "--late-fraction", "2"])

    assert code == 2
    assert capsys.readouterr().err == "error: --late-fraction must be between 0 and 1.\n"


def test_as_of_accepts_iso_times_and_converts_offsets_to_utc():
    assert str(cli._as_of("2024-03-01T12:00:00+02:00")) == "2024-03-01 10:00:00"
    assert str(cli._as_of("2024-03-01")) == "2024-03-01 00:00:00"
    with pytest.raises(Exception, match="is not an ISO date"):
        cli._as_of("yesterday")


def test_summary_is_a_table_with_failures_spelled_out():
    rows = [
        {
            "job": "customer_data_transform",
            "status": "succeeded",
            "rows_read": 5,
            "rows_loaded": 4,
            "rows_rejected": 1,
            "rows_duplicate": 0,
            "rows_inserted": 4,
            "rows_updated": 0,
            "rows_flagged": 0,
            "error_message": None,
        },
        {
            "job": "cart_data_transform",
            "status": "failed",
            "rows_read": None,
            "rows_loaded": None,
            "rows_rejected": None,
            "rows_duplicate": None,
            "rows_inserted": None,
            "rows_updated": None,
            "rows_flagged": None,
            "error_message": "InputError: no carts.csv",
        },
    ]

    # the layout of the analytics tables (tabulate's): headers, a rule, the counts as given
    assert format_summary(rows).splitlines() == [
        "job                      status     read    loaded    set aside    duplicates    new    changed    flagged",
        "-----------------------  ---------  ------  --------  -----------  ------------  -----  ---------  ---------",
        "customer_data_transform  succeeded  5       4         1            0             4      0          0",
        "cart_data_transform      failed",
        "cart_data_transform: InputError: no carts.csv",
    ]


def test_unwritable_output_folder_is_named(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")

    code = cli.main("generate_data", ["--output-dir", str(blocker / "data")])

    assert code == 2
    assert capsys.readouterr().err == (
        f"error: Output folder {blocker}/data is not writable (Not a directory); choose another --output-dir.\n"
    )


def test_unwritable_log_folder_is_named(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv(logs.LOG_DIR_ENV, str(blocker / "logs"))

    assert cli.main("all", ["--input-dir", str(tmp_path)]) == 2

    assert capsys.readouterr().err == (
        f"error: Log folder {blocker}/logs is not writable (Not a directory); "
        "set logging.dir or SPARK_ETL_LOG_DIR to a folder you can write to.\n"
    )


def test_retention_without_settings_says_everything_stays(capsys, no_spark):
    assert cli.main("retention", []) == 0

    assert capsys.readouterr().out == (
        "Retention is not set (retention.cart_months and retention.audit_days are null): "
        "everything stays in PostgreSQL.\n"
    )


def test_restore_needs_a_month_like_2024_01(capsys, no_spark):
    with pytest.raises(SystemExit) as stopped:
        cli.main("restore", ["--month", "2024-13"])

    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "restore: error: argument --month: '2024-13' is not a month like 2024-01"
    )


def test_lake_sync_without_a_lake_says_what_to_set(capsys, no_spark):
    assert cli.main("lake", ["sync"]) == 2

    assert capsys.readouterr().err.strip() == (
        "error: There is no lake to sync: set lake.warehouse (or SPARK_ETL_LAKE_WAREHOUSE) to "
        "its folder."
    )


def test_lake_takes_only_sync_and_expire(capsys, no_spark):
    with pytest.raises(SystemExit) as stopped:
        cli.main("lake", ["compact"])

    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "lake: error: argument action: invalid choice: 'compact' (choose from 'sync', 'expire')"
    )


def test_spark_etl_version_and_help_start_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(logs.LOG_DIR_ENV)  # the log file would go to ./logs

    assert command.main(["--version"]) == 0
    assert capsys.readouterr().out == f"spark-etl {spark_etl.__version__}\n"
    assert command.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: spark-etl [--version] [--help] COMMAND [ARGS]\n")
    assert "  load           load extracts: JOB is all, an entity (cart) or its job" in out
    assert "  2  your mistake: an option, a setting, a definition or the input" in out
    assert command.main(["load", "--help"]) == 0
    assert capsys.readouterr().out.startswith(
        "usage: spark-etl load JOB [-h] --input-dir INPUT_DIR"
    )
    assert list(tmp_path.iterdir()) == []  # no log folder, no log file


def test_spark_etl_names_an_unknown_command_and_a_missing_job(capsys):
    assert command.main(["lod"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "spark-etl: error: unknown command 'lod'; choose one of: load, analytics, quality, plan, "
        "retention, restore, lake, generate-data"
    )
    assert command.main(["load"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "spark-etl load: error: name the JOB to run (all, or an entity)"
    )
    assert command.main([]) == 2


def test_spark_etl_load_takes_an_entity_and_lists_only_load_jobs(tmp_path, capsys, no_spark):
    assert command.main(["load", "analytics", "--input-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "error: Unknown job 'analytics'; choose one of: customer_data_transform, "
        "product_data_transform, cart_data_transform, all.\n"
    )
    assert command.main(["load", "cart", "--input-dir", str(tmp_path / "absent")]) == 2
    assert capsys.readouterr().err == (
        f"error: Input directory {tmp_path}/absent does not exist; pass --input-dir DIR.\n"
    )


def test_spark_etl_subcommands_run_the_jobs(tmp_path, capsys):
    out = tmp_path / "data"

    assert command.main(["generate-data", "--output-dir", str(out), "--carts", "300"]) == 0

    assert capsys.readouterr().out.splitlines()[-1] == f"{out}/carts.csv: 300 rows"


def test_restore_names_an_entity_that_is_not_defined(capsys, no_spark):
    assert cli.main("restore", ["--month", "2024-01", "--entity", "reviews"]) == 2

    assert capsys.readouterr().err == (
        "error: No entity 'reviews' is defined; choose one of: customer, product, cart.\n"
    )


def test_a_transform_module_that_does_not_import_is_named(tmp_path, capsys, no_spark):
    config = tmp_path / "etl.yaml"
    config.write_text("entities:\n  transform_modules: [no_such_module]\n", encoding="utf-8")

    assert cli.main("plan", ["--config", str(config)]) == 2

    assert capsys.readouterr().err == (
        "error: Cannot import transform module 'no_such_module' (No module named "
        "'no_such_module'); check entities.transform_modules and that the module is on the "
        "Python path.\n"
    )


def test_lake_lines_say_what_was_written_expired_and_removed():
    written = Written("cart", 42, added=2, deleted=1, rows=130)
    assert describe_sync(Compared("cart", 120, (), written, from_archives=(date(2020, 1, 1),))) == (
        "cart: 1 archived month added from their archives (2020-01) (snapshot 42, 130 rows)"
    )
    both = Compared("cart", 120, (date(2021, 3, 1),), written, False, (date(2020, 1, 1),))
    assert describe_sync(both) == (
        "cart: 1 range (2021-03-01) differed; written again; 1 archived month added from their "
        "archives (2020-01) (snapshot 42, 130 rows)"
    )
    assert describe_sync(Compared("cart", 120, ())) == "cart: in step with PostgreSQL (120 rows)"
    assert describe_expired(Expired("cart", 1, 1, 3, 2048), 1) == (
        "cart: 1 snapshot older than 1 day expired, 1 kept; 3 unused files removed (2.0 kB)"
    )
    assert describe_expired(Expired("product", 0, 2, 1, 100), 7) == (
        "product: 0 snapshots older than 7 days expired, 2 kept; 1 unused file removed (100 bytes)"
    )
