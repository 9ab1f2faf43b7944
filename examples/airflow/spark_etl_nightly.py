"""spark-etl's nightly increment as an Airflow DAG: copy this file into your DAGs folder.

Each night loads the customer and product snapshots, then the cart lines of the night's delta,
checks the quality gates' verdicts, and refreshes the analytics views and their report:

    load_customers >> load_products >> load_carts >> quality >> analytics

The loads run one after another: they share one load lock in PostgreSQL, so two at once would
only make the second wait for a retry (exit 75).

Configured with Airflow Variables (or AIRFLOW_VAR_<NAME> environment variables of the workers):

    spark_etl_home        the folder the commands run in: the repository for ./submit.sh
                          (required)
    spark_etl_command     how spark-etl is started (default ./submit.sh, the Docker stack):
                          "./submit.sh --local", "spark-etl" (the installed package), or your
                          cluster's "spark-submit --master yarn --jars postgresql.jar jobs/main.py"
    spark_etl_input_root  the folder holding one folder of extracts per night, named by the
                          logical date: <root>/2026-12-01/ (default /data/input, the Docker
                          stack's; as the command sees it)
    spark_etl_summary_dir where each run's JSON summaries go, one folder per night, on the
                          Airflow worker (default <spark_etl_home>/data/logs/nightly)
    spark_etl_config      a settings file passed as --config (default: none)
    spark_etl_report_dir  the report's folder, passed as --output-dir (default: the command's)

Exit codes (spark-etl --help): 75 is temporary (the load lock is held, PostgreSQL is down or
restarting) and is retried; 3 means the loads committed but their analytics refresh failed,
which the analytics task at the end redoes; 1, 2 and 4 fail the task at once, without retries.
The PostgreSQL connection comes from the workers' environment (PGHOST, PGPASSWORD or a
PGPASSFILE, ...), as for any run of spark-etl.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.exceptions import AirflowException, AirflowFailException

try:  # Airflow 3
    from airflow.sdk import DAG, BaseOperator
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.models import BaseOperator

DAG_ID = "spark_etl_nightly"
SCHEDULE = "0 2 * * *"  # 02:00 UTC: after the night's extracts have landed

EXIT_REFRESH_FAILED = 3  # the loads committed; only the analytics refresh after them failed
EXIT_TEMPORARY = 75  # EX_TEMPFAIL: the only code worth retrying as it is
# What the other codes mean, for the task's error line (spark-etl --help has them too).
MEANINGS = {
    1: "an unexpected failure: the model is as it was; the trace is in spark-etl.log",
    2: "a mistake to fix (an option, a setting, a definition, the input); not retried",
    3: "the loads committed, but the analytics refresh after them failed",
    4: "a quality gate stopped the load: rolled back, its rejects kept (spark-etl quality)",
    75: "temporary: the load lock is held, or PostgreSQL is down or restarting",
}

# Templates read the Variables when a task runs, not each time the scheduler parses this file.
HOME = "{{ var.value.get('spark_etl_home', '') }}"
COMMAND = "{{ var.value.get('spark_etl_command', './submit.sh') }}"
INPUT_DIR = "{{ var.value.get('spark_etl_input_root', '/data/input') }}/{{ ds }}"
SUMMARY_DIR = (
    "{{ var.value.get('spark_etl_summary_dir', "
    "var.value.get('spark_etl_home', '') ~ '/data/logs/nightly') }}/{{ ds }}"
)
CONFIG = "{{ var.value.get('spark_etl_config', '') }}"
REPORT_DIR = "{{ var.value.get('spark_etl_report_dir', '') }}"


def command_line(command: str, subcommand: str, arguments: Sequence[str]) -> list[str]:
    """The argv of a spark-etl subcommand started by ``command``: ./submit.sh names a load by
    its job (``./submit.sh cart_data_transform``), spark-etl and jobs/main.py say ``load``
    first (``spark-etl load cart_data_transform``)."""
    words = shlex.split(command)
    through_submit = any(Path(word).name == "submit.sh" for word in words)
    if subcommand == "load" and through_submit:
        return [*words, *arguments]
    return [*words, subcommand, *arguments]


class SparkEtlOperator(BaseOperator):
    """Run one spark-etl command and turn its exit code into what Airflow should do next.

    Args:
        subcommand: ``load``, ``quality`` or ``analytics``.
        arguments: its arguments (templated).
        options: more options, each left out when its value renders empty (templated).
        home: the folder the command runs in (templated).
        command: how spark-etl is started (templated).
        summary_dir: a load's JSON summary goes there as ``<task_id>.json`` (templated).
        refresh_follows: a load's exit 3 passes, since a later task refreshes the views.
    """

    template_fields: Sequence[str] = ("arguments", "options", "home", "command", "summary_dir")
    ui_color = "#f4a460"

    def __init__(
        self,
        *,
        subcommand: str,
        arguments: Sequence[str] = (),
        options: dict[str, str] | None = None,
        home: str = HOME,
        command: str = COMMAND,
        summary_dir: str | None = None,
        refresh_follows: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.subcommand = subcommand
        self.arguments = list(arguments)
        self.options = {"--config": CONFIG, **(options or {})}
        self.home = home
        self.command = command
        self.summary_dir = summary_dir
        self.refresh_follows = refresh_follows
        self._process: subprocess.Popen[str] | None = None

    def execute(self, context: Any) -> dict[str, Any] | None:
        if not self.home:
            raise AirflowFailException("Set the Airflow Variable spark_etl_home (see the DAG).")
        arguments = list(self.arguments)
        for option, value in self.options.items():
            if value:  # a Variable left unset renders empty: the command's default applies
                arguments += [option, value]
        # The JSON goes to stdout and this task files it: on the Docker stack the job's own
        # file system is the container's, which the worker may not see (./submit.sh keeps
        # stdout for it alone). Plain spark-submit sends its job's stderr to stdout, so there
        # the job writes the file itself (client mode: the driver runs on this worker).
        direct = any(Path(word).name == "spark-submit" for word in shlex.split(self.command))
        target = self._summary_path() if direct else None
        if self.summary_dir is not None:
            arguments += ["--summary-json", str(target) if target else "-"]
            if target:
                target.parent.mkdir(parents=True, exist_ok=True)
        argv = command_line(self.command, self.subcommand, arguments)
        code, stdout = self._run(argv)
        if target is not None and target.exists():
            stdout = target.read_text(encoding="utf-8")
        summary = self._keep_summary(stdout) if self.summary_dir is not None else None
        self._judge(code)
        return summary

    def _run(self, argv: list[str]) -> tuple[int, str]:
        """Run ``argv`` in its own process group, logging its stderr line by line as it comes;
        return the exit code and what it wrote to stdout."""
        self.log.info("Running %s in %s", shlex.join(argv), self.home)
        with tempfile.TemporaryFile("w+", encoding="utf-8") as stdout:
            # with no summary wanted stdout is only text to log: one stream keeps the order
            merge = self.summary_dir is None
            self._process = subprocess.Popen(
                argv,
                cwd=self.home,
                stdout=subprocess.PIPE if merge else stdout,
                stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                text=True,
                start_new_session=True,  # on_kill stops spark-submit and its JVM together
            )
            stream = self._process.stdout if merge else self._process.stderr
            assert stream is not None
            for line in stream:
                self.log.info("%s", line.rstrip("\n"))
            code = self._process.wait()
            stdout.seek(0)
            return code, stdout.read()

    def _summary_path(self) -> Path:
        return Path(self.summary_dir or ".") / f"{self.task_id}.json"

    def _keep_summary(self, stdout: str) -> dict[str, Any] | None:
        """Write the run's JSON summary to the night's folder; return its gist for XCom."""
        try:
            document = json.loads(stdout)
        except ValueError:
            self.log.warning("No JSON summary on stdout (a spark-etl before --summary-json?)")
            self.log.info("%s", stdout)
            return None
        path = self._summary_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        partial.replace(path)  # atomic: a reader never sees half a summary
        self.log.info("Summary: %s", path)
        return {
            "exit_code": document.get("exit_code"),
            "runs": [
                {"job": run.get("job"), "status": run.get("status"), "counts": run.get("counts")}
                for run in document.get("runs", [])
            ],
        }

    def _judge(self, code: int) -> None:
        """Return on success; raise what makes Airflow retry (75) or fail at once."""
        if code == 0:
            return
        meaning = MEANINGS.get(code, "an unexpected failure")
        if code == EXIT_REFRESH_FAILED and self.refresh_follows:
            self.log.warning("Exit 3: %s; the analytics task refreshes them.", meaning)
            return
        if code == EXIT_TEMPORARY:
            raise AirflowException(f"Exit {code}: {meaning}; retried later.")
        # 1 is not retried either: the same input usually fails the same way, and a Spark load
        # is costly; a person reads the log, then clears the task (a load is safe to re-run).
        raise AirflowFailException(f"Exit {code}: {meaning}.")

    def on_kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)


def load(task_id: str, job: str, extract: str) -> SparkEtlOperator:
    return SparkEtlOperator(
        task_id=task_id,
        subcommand="load",
        arguments=[job, "--input-dir", INPUT_DIR, "--extract", extract, "--no-refresh"],
        summary_dir=SUMMARY_DIR,
        refresh_follows=True,
    )


with DAG(
    dag_id=DAG_ID,
    description="spark-etl: the night's extracts loaded, checked, and the analytics refreshed",
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    # Not catching up: a copy of this file would otherwise run every night since start_date.
    # Deltas must not be skipped though: after an outage, trigger the missed nights in order.
    catchup=False,
    max_active_runs=1,  # nights run one after another, as their deltas must be loaded
    default_args={
        "owner": "data",
        "depends_on_past": True,  # a night whose load failed holds the next night's back
        "retries": 3,  # taken only on exit 75 (the other failures raise AirflowFailException)
        "retry_delay": timedelta(minutes=10),
        "retry_exponential_backoff": True,  # a PostgreSQL down for longer gets more time
        "max_retry_delay": timedelta(hours=1),
        "execution_timeout": timedelta(hours=3),
    },
    tags=["spark-etl"],
    doc_md=__doc__,
) as dag:
    load_customers = load("load_customers", "customer_data_transform", "snapshot")
    load_products = load("load_products", "product_data_transform", "snapshot")
    load_carts = load("load_carts", "cart_data_transform", "delta")
    # Exit 4 when the latest run of a job failed a gate; its table lands in the task's log.
    quality = SparkEtlOperator(task_id="quality", subcommand="quality")
    # Refreshes the views once more (after an exit 3 of a load, the refresh that failed) and
    # writes the report.
    analytics = SparkEtlOperator(
        task_id="analytics",
        subcommand="analytics",
        options={"--output-dir": REPORT_DIR},
    )
    load_customers >> load_products >> load_carts >> quality >> analytics
