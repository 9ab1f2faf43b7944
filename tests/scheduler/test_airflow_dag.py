"""The Airflow example (examples/airflow/spark_etl_nightly.py) under a real, pinned Airflow.

Airflow lives in a virtualenv of its own (scripts/airflow-venv.sh, built once, about a minute),
with a throwaway AIRFLOW_HOME (SQLite, no scheduler, no webserver). The DAG is parsed by
Airflow's DagBag; each exit code's consequence is checked with `airflow tasks test` against a
stand-in command; and one night runs end to end with `airflow dags test`: the real loads,
quality check and analytics on a small generated extract, into the test PostgreSQL.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spark_etl.cli import logs
from spark_etl.local.datagen import DataSpec, generate
from tests.helpers import REPO, job_config, pg_environment, query

pytestmark = [
    pytest.mark.integration,  # installs Airflow from PyPI the first time
    # The Docker image's copy of the repository is read-only and reaches no PyPI at run time:
    # ./test.sh on the host runs these.
    pytest.mark.skipif(
        not os.access(REPO, os.W_OK), reason="the repository is read-only (the Docker image)"
    ),
]

DAG_FOLDER = REPO / "examples" / "airflow"
DAG_ID = "spark_etl_nightly"
TASKS = ["load_customers", "load_products", "load_carts", "quality", "analytics"]
NIGHT = "2025-01-15"  # the logical date: its extracts are in <input root>/2025-01-15

# Airflow's own lines for what it does with a failed task.
RETRIED = "Marking task as UP_FOR_RETRY"
FAILED_AT_ONCE = "Immediate failure requested. Marking task as FAILED"
SUCCEEDED = "Marking task as SUCCESS"

# Prints each task's class, dependencies and retry policy as one JSON line (run by Airflow's
# Python, which the tests' Python cannot import).
DESCRIBE_DAG = """
import json, sys
from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
dag = bag.dags.get(sys.argv[2])
print(json.dumps({
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dags),
    "schedule": str(dag.timetable.summary) if dag else None,
    "max_active_runs": dag.max_active_runs if dag else None,
    "tasks": {
        task.task_id: {
            "operator": type(task).__name__,
            "upstream": sorted(task.upstream_task_ids),
            "retries": task.retries,
            "retry_delay": task.retry_delay.total_seconds(),
            "depends_on_past": task.depends_on_past,
        }
        for task in (dag.tasks if dag else [])
    },
}))
"""

# A stand-in for spark-etl: records its arguments, prints a summary when asked, and exits with
# FAKE_EXIT (the code under test).
STAND_IN = """#!/bin/sh
echo "$*" >>"$FAKE_CALLS"
echo "stand-in: $*" >&2
case " $* " in
  *" --summary-json - "*) echo '{"exit_code": '"$FAKE_EXIT"', "runs": []}' ;;
esac
exit "$FAKE_EXIT"
"""


@pytest.fixture(scope="module")
def airflow_venv() -> Path:
    """The pinned Airflow's virtualenv, built by the script the first time."""
    built = subprocess.run(
        [str(REPO / "scripts" / "airflow-venv.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return Path(built.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def airflow_env(airflow_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of an `airflow` command: a throwaway AIRFLOW_HOME with SQLite, migrated."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **os.environ,
        "PATH": f"{airflow_venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
    airflow(env, "db", "migrate")
    return env


def airflow(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["airflow", *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if check:
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done


def variables(home: Path, command: str, input_root: Path, summaries: Path) -> dict[str, str]:
    """The DAG's Airflow Variables, as environment variables of the workers."""
    return {
        "AIRFLOW_VAR_SPARK_ETL_HOME": str(home),
        "AIRFLOW_VAR_SPARK_ETL_COMMAND": command,
        "AIRFLOW_VAR_SPARK_ETL_INPUT_ROOT": str(input_root),
        "AIRFLOW_VAR_SPARK_ETL_SUMMARY_DIR": str(summaries),
    }


def test_airflow_parses_the_dag_into_the_nightly_chain(airflow_venv, tmp_path):
    described = subprocess.run(
        [str(airflow_venv / "bin" / "python"), "-c", DESCRIBE_DAG, str(DAG_FOLDER), DAG_ID],
        env={**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    dag = json.loads(described.stdout.strip().splitlines()[-1])

    assert dag["import_errors"] == {}
    assert dag["dags"] == [DAG_ID]
    assert dag["schedule"] == "0 2 * * *"
    assert dag["max_active_runs"] == 1
    assert list(dag["tasks"]) == TASKS
    assert {task: spec["upstream"] for task, spec in dag["tasks"].items()} == {
        "load_customers": [],
        "load_products": ["load_customers"],
        "load_carts": ["load_products"],
        "quality": ["load_carts"],
        "analytics": ["quality"],
    }
    for spec in dag["tasks"].values():
        assert spec["operator"] == "SparkEtlOperator"
        assert (spec["retries"], spec["retry_delay"], spec["depends_on_past"]) == (3, 600, True)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stand-in")
    for name in ("spark-etl", "submit.sh"):
        script = folder / name
        script.write_text(STAND_IN, encoding="utf-8")
        script.chmod(0o755)
    return folder


@pytest.mark.parametrize(
    ("task", "code", "outcome"),
    [
        ("load_carts", 75, RETRIED),  # the lock held, PostgreSQL restarting: later
        ("load_carts", 2, FAILED_AT_ONCE),  # a mistake: retrying cannot fix it
        ("load_carts", 4, FAILED_AT_ONCE),  # a quality gate: the extract needs a look
        ("load_carts", 1, FAILED_AT_ONCE),  # unexpected: a person reads the trace
        ("load_carts", 3, SUCCEEDED),  # committed; the analytics task redoes the refresh
        ("quality", 4, FAILED_AT_ONCE),
        ("analytics", 75, RETRIED),
        ("analytics", 0, SUCCEEDED),
    ],
)
def test_exit_code_decides_between_retry_and_failure(
    airflow_env, stand_in, tmp_path, task, code, outcome
):
    calls = tmp_path / "calls"
    env = {
        **airflow_env,
        **variables(tmp_path, str(stand_in / "spark-etl"), tmp_path / "in", tmp_path / "out"),
        "AIRFLOW_VAR_SPARK_ETL_CONFIG": "/etc/spark-etl/prod.yaml",
        "FAKE_EXIT": str(code),
        "FAKE_CALLS": str(calls),
    }

    ran = airflow(env, "tasks", "test", DAG_ID, task, "2025-01-03", check=False)

    assert outcome in ran.stdout + ran.stderr
    assert ran.returncode == (0 if outcome == SUCCEEDED else 1)
    expected = {
        "load_carts": f"load cart_data_transform --input-dir {tmp_path}/in/2025-01-03 "
        "--extract delta --no-refresh --config /etc/spark-etl/prod.yaml --summary-json -",
        "quality": "quality --config /etc/spark-etl/prod.yaml",
        "analytics": "analytics --config /etc/spark-etl/prod.yaml",
    }
    assert calls.read_text(encoding="utf-8") == expected[task] + "\n"


def test_submit_sh_is_given_the_job_name_without_load(airflow_env, stand_in, tmp_path):
    calls = tmp_path / "calls"
    env = {
        **airflow_env,
        **variables(stand_in, "./submit.sh --local", Path("/data/input"), tmp_path / "out"),
        "FAKE_EXIT": "0",
        "FAKE_CALLS": str(calls),
    }

    airflow(env, "tasks", "test", DAG_ID, "load_customers", "2025-01-04")

    assert calls.read_text(encoding="utf-8") == (
        "--local customer_data_transform --input-dir /data/input/2025-01-04 --extract snapshot "
        "--no-refresh --summary-json -\n"
    )
    assert json.loads((tmp_path / "out" / "2025-01-04" / "load_customers.json").read_text()) == {
        "exit_code": 0,
        "runs": [],
    }


@pytest.fixture
def night_input(tmp_path: Path) -> Iterator[tuple[Path, dict[str, int]]]:
    """A small generated extract in the night's folder of an input root."""
    root = tmp_path / "in"
    written = generate(root / NIGHT, DataSpec.scaled(400, seed=7, broken_fraction=0.0))
    yield root, written


def test_one_night_runs_end_to_end(airflow_env, night_input, db_settings, connection, tmp_path):
    root, written = night_input
    summaries = tmp_path / "summaries"
    env = {
        **airflow_env,
        # the project's own command, run by the tests' Python (this checkout's code)
        **variables(tmp_path, f"{sys.executable} -m spark_etl", root, summaries),
        "AIRFLOW_VAR_SPARK_ETL_CONFIG": str(job_config(tmp_path, db_settings)),
        "AIRFLOW_VAR_SPARK_ETL_REPORT_DIR": str(tmp_path / "report"),
        **pg_environment(connection),
        logs.LOG_DIR_ENV: str(tmp_path / "logs"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }

    ran = airflow(env, "dags", "test", DAG_ID, NIGHT, check=False)

    assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-3000:]
    states = task_states(Path(env["AIRFLOW_HOME"]) / "airflow.db", NIGHT)
    assert states == {task: ("success", 1) for task in TASKS}
    files = {"load_customers": "customers.csv", "load_products": "products.csv"}
    files["load_carts"] = "carts.csv"
    jobs = {
        "load_customers": "customer_data_transform",
        "load_products": "product_data_transform",
        "load_carts": "cart_data_transform",
    }
    for task, job in jobs.items():
        summary = json.loads((summaries / NIGHT / f"{task}.json").read_text(encoding="utf-8"))
        assert (summary["job"], summary["exit_code"], summary["error"]) == (job, 0, None)
        [run] = summary["runs"]
        assert (run["job"], run["status"]) == (job, "succeeded")
        assert run["extract"] == ("delta" if task == "load_carts" else "snapshot")
        assert run["counts"]["read"] == written[files[task]]
        assert run["counts"]["loaded"] == written[files[task]]  # a clean extract: every row
    assert query(connection, db_settings, "SELECT count(*) FROM cart") == [(written["carts.csv"],)]
    assert (tmp_path / "report" / "index.html").is_file()


def task_states(database: Path, night: str) -> dict[str, tuple[str, int]]:
    """Each task's final state and try number in the night's run, from Airflow's database."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT task_id, state, try_number FROM task_instance WHERE run_id LIKE ?",
            (f"%{night}T%",),
        ).fetchall()
    return {task: (state, tries) for task, state, tries in rows}
