"""The cron example (examples/cron/nightly.sh) under dash, a strict POSIX shell, against a
stand-in for spark-etl whose exit codes each test chooses: what is retried, what stops the night,
what goes on. No Spark, no database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO

NIGHTLY = REPO / "examples" / "cron" / "nightly.sh"
NIGHT = "2025-01-15"
LOADS = [
    "load customer_data_transform --input-dir /in/2025-01-15 --extract snapshot --no-refresh --summary-json -",
    "load product_data_transform --input-dir /in/2025-01-15 --extract snapshot --no-refresh --summary-json -",
    "load cart_data_transform --input-dir /in/2025-01-15 --extract delta --no-refresh --summary-json -",
]

# Records its arguments; exits with the next code of the file named after the job (or the
# subcommand), else 0; prints a summary when asked for one.
STAND_IN = """#!/bin/sh
echo "$*" >>"$FAKE_DIR/calls"
key="$1"
[ "$1" != load ] || key="$2"
code=0
if [ -s "$FAKE_DIR/$key" ]; then
  code="$(head -n 1 "$FAKE_DIR/$key")"
  sed -i 1d "$FAKE_DIR/$key"
fi
case " $* " in
  *" --summary-json - "*) printf '{"exit_code": %s}\\n' "$code" ;;
esac
exit "$code"
"""


def night(tmp_path: Path, **codes: list[int]) -> tuple[int, list[str], str]:
    """Run nightly.sh with the stand-in exiting ``codes[job]`` in turn; return its exit code,
    the stand-in's calls and the script's log."""
    stand_in = tmp_path / "spark-etl"
    stand_in.write_text(STAND_IN, encoding="utf-8")
    stand_in.chmod(0o755)
    for key, sequence in codes.items():
        (tmp_path / key).write_text("".join(f"{code}\n" for code in sequence), encoding="utf-8")
    env = {
        **os.environ,
        "FAKE_DIR": str(tmp_path),
        "NIGHTLY_HOME": str(tmp_path),
        "NIGHTLY_COMMAND": str(stand_in),
        "NIGHTLY_INPUT_ROOT": "/in",
        "NIGHTLY_SUMMARY_DIR": str(tmp_path / "summaries"),
        "NIGHTLY_RETRY_PAUSE": "0",
    }
    done = subprocess.run(
        [shutil.which("dash") or "sh", str(NIGHTLY), NIGHT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    calls = (tmp_path / "calls").read_text(encoding="utf-8").splitlines()
    return done.returncode, calls, done.stderr


def test_a_quiet_night_runs_every_step_and_keeps_the_summaries(tmp_path):
    code, calls, log = night(tmp_path)

    assert code == 0, log
    assert calls == [*LOADS, "quality", "analytics"]
    for task in ("load_customers", "load_products", "load_carts"):
        summary = tmp_path / "summaries" / NIGHT / f"{task}.json"
        assert json.loads(summary.read_text(encoding="utf-8")) == {"exit_code": 0}
    assert f"nightly {NIGHT}: done; summaries in" in log


def test_a_temporary_failure_is_retried_until_it_passes(tmp_path):
    code, calls, log = night(tmp_path, cart_data_transform=[75, 75, 0])

    assert code == 0, log
    assert calls == [*LOADS, LOADS[2], LOADS[2], "quality", "analytics"]
    assert log.count("temporary failure (exit 75)") == 2


def test_a_temporary_failure_that_lasts_stops_the_night_with_75(tmp_path):
    code, calls, log = night(tmp_path, cart_data_transform=[75, 75, 75, 75])

    assert code == 75
    assert calls == [*LOADS, LOADS[2], LOADS[2], LOADS[2]]  # 3 retries, then no more
    assert "stopped at load_carts: still temporary after 3 retries" in log


@pytest.mark.parametrize("failure", [2, 4, 1])
def test_a_mistake_a_gate_or_a_surprise_stops_the_night_without_retry(tmp_path, failure):
    code, calls, log = night(tmp_path, product_data_transform=[failure])

    assert code == failure
    assert calls == LOADS[:2]
    assert json.loads((tmp_path / "summaries" / NIGHT / "load_products.json").read_text()) == {
        "exit_code": failure
    }
    assert "stopped at load_products" in log


def test_a_failed_refresh_after_a_load_is_left_to_the_analytics_step(tmp_path):
    code, calls, log = night(tmp_path, customer_data_transform=[3])

    assert code == 0, log
    assert calls == [*LOADS, "quality", "analytics"]
    assert "load_customers: loaded, but the analytics refresh failed" in log


def test_a_failed_quality_gate_keeps_the_report_from_refreshing(tmp_path):
    code, calls, _ = night(tmp_path, quality=[4])

    assert code == 4
    assert calls == [*LOADS, "quality"]


def test_submit_sh_and_a_settings_file(tmp_path):
    submit = tmp_path / "submit.sh"
    submit.write_text(STAND_IN, encoding="utf-8")
    submit.chmod(0o755)
    env = {
        **os.environ,
        "FAKE_DIR": str(tmp_path),
        "NIGHTLY_HOME": str(tmp_path),
        "NIGHTLY_COMMAND": "./submit.sh --local",
        "NIGHTLY_INPUT_ROOT": "/in",
        "NIGHTLY_SUMMARY_DIR": str(tmp_path / "summaries"),
        "NIGHTLY_CONFIG": "prod.yaml",
    }

    done = subprocess.run(["sh", str(NIGHTLY), NIGHT], env=env, capture_output=True, check=False)

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "calls").read_text(encoding="utf-8").splitlines() == [
        "--local customer_data_transform --input-dir /in/2025-01-15 --extract snapshot "
        "--no-refresh --summary-json - --config prod.yaml",
        "--local product_data_transform --input-dir /in/2025-01-15 --extract snapshot "
        "--no-refresh --summary-json - --config prod.yaml",
        "--local cart_data_transform --input-dir /in/2025-01-15 --extract delta "
        "--no-refresh --summary-json - --config prod.yaml",
        "--local quality --config prod.yaml",
        "--local analytics --config prod.yaml",
    ]
