"""The log file of a real load: in logging.dir whatever the current folder, every line with
its job and run id, rotated by size; --log-level sets what stderr shows."""

from __future__ import annotations

import logging
import re

import pytest

from spark_etl.cli import logs
from spark_etl.cli import main as cli
from spark_etl.config import LoggingSettings
from spark_etl.local.datagen import DataSpec, generate
from tests.helpers import query

pytestmark = pytest.mark.integration
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ (\S+) run=(\S+) (\S+): (.*)$")


def test_every_line_names_its_job_and_run(
    shared, cli_env, tmp_path, monkeypatch, capsys, db_settings, connection
):
    generate(tmp_path / "in", DataSpec(30, 10, 5, seed=9, broken_fraction=0.0))
    config = cli_env.with_name("logs.yaml")
    config.write_text(
        cli_env.read_text(encoding="utf-8") + f"logging: {{dir: {tmp_path / 'mylogs'}}}\n",
        encoding="utf-8",
    )
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")

    code = cli.main(
        "customer",
        [
            "--input-dir",
            str(tmp_path / "in"),
            "--config",
            str(config),
            "--log-level",
            "WARNING",
            "--no-refresh",
        ],
    )

    assert code == 0
    assert [line for line in capsys.readouterr().err.splitlines() if re.match(r"\d\d:", line)] == []
    ((run_id,),) = query(connection, db_settings, "SELECT run_id::text FROM etl_run")
    lines = (tmp_path / "mylogs" / "spark-etl.log").read_text(encoding="utf-8").splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), [line for line, match in zip(lines, parsed, strict=True) if not match]
    fields = [(m.group(1), m.group(2), m.group(4)) for m in parsed if m]
    assert fields[0][:2] == ("customer", "-")  # before the run: the invocation's job
    reading = [f for f in fields if f[2].startswith("Reading ")]
    assert reading == [
        ("customer_data_transform", run_id, f"Reading {tmp_path}/in/customers.csv as csv")
    ]
    merged = [f for f in fields if "merged {" in f[2]]
    assert [f[:2] for f in merged] == [("customer_data_transform", run_id)]
    assert list((tmp_path / "elsewhere").iterdir()) == []
    # --no-refresh: the analytics views were left for a later analytics job
    assert ("customer", "-", "The analytics views were left as they were (--no-refresh)") in fields
    assert not [f for f in fields if f[2].startswith("Refreshed ")]


def test_the_file_is_rotated_by_size(tmp_path, restore_logging):
    settings = LoggingSettings(dir=str(tmp_path), max_mb=1, backups=2)
    log_file = logs.configure_logging(settings, "ERROR")
    line = "x" * 1000

    for _ in range(3500):  # 3.5 MB: three rotations, two backups kept
        logging.getLogger("spark_etl.test").info(line)

    assert log_file == tmp_path / "spark-etl.log"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "spark-etl.log",
        "spark-etl.log.1",
        "spark-etl.log.2",
    ]
    assert all(p.stat().st_size <= 1024 * 1024 for p in tmp_path.iterdir())


def test_the_default_folder_does_not_depend_on_the_current_one(monkeypatch, tmp_path):
    monkeypatch.delenv(logs.LOG_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)

    assert logs.log_dir(LoggingSettings()) == tmp_path / "state" / "spark-etl" / "logs"
    monkeypatch.setenv(logs.LOG_DIR_ENV, str(tmp_path / "scripts"))
    assert logs.log_dir(LoggingSettings()) == tmp_path / "scripts"
    assert logs.log_dir(LoggingSettings(dir=str(tmp_path / "set"))) == tmp_path / "set"
