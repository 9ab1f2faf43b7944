"""The jobs' command line: a load's arguments, settings checked before anything starts, its
summary, and every command's exit code (the commands that load nothing are in ``tools``).
Each job parses its arguments, then hands the work to ``spark_etl.runs``.

A user error prints one line (what is wrong, what to do) and exits 2; a temporary one (the
load lock held, PostgreSQL down or restarting, the connection lost) exits 75 to be retried; an
unexpected failure prints one line pointing at the log file, which holds the full trace, and
exits 1 (command.EXIT_CODES lists them all).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg2

import spark_etl
from spark_etl.cli import summary
from spark_etl.cli import tools as tool_commands
from spark_etl.cli.logs import configure_logging
from spark_etl.cli.shared import (
    EXIT_FAILURE,
    EXIT_QUALITY_GATE,
    EXIT_REFRESH_FAILED,
    EXIT_TEMPORARY,
    EXIT_USER_ERROR,
    common_arguments,
    entity_model,
    print_summary,
)
from spark_etl.config import connection_from_env, load_settings
from spark_etl.db import postgres
from spark_etl.definitions import load_mapping
from spark_etl.errors import (
    ConfigError,
    EtlError,
    InputError,
    QualityGateError,
    RefreshError,
    TemporaryError,
    first_line,
)
from spark_etl.lake.warehouse import check_warehouse
from spark_etl.monitoring import context, prometheus
from spark_etl.runs import pipeline
from spark_etl.runs.run_context import RunContext
from spark_etl.spark.session import spark_session

log = logging.getLogger(__name__)

EXTRACTS = ("snapshot", "delta")
# the jobs that load nothing
TOOLS = ("analytics", "plan", "generate_data", "retention", "restore", "lake")
HELP = ("-h", "--help")
# the commands besides the loads whose outcome the metrics keep (entity label "all")
WATCHED = ("analytics", "retention", "restore", "lake")
WATCHED_ENTITY = "all"


def _as_of(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO date or timestamp") from None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def load_parser(job: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=job, description=f"Load the raw extracts of {job} into PostgreSQL."
    )
    parser.add_argument("--input-dir", required=True, help="folder with the extract files")
    common_arguments(parser)
    parser.add_argument(
        "--mapping",
        type=Path,
        help="mapping template: the extracts in --input-dir are laid out another way",
    )
    parser.add_argument(
        "--as-of",
        type=_as_of,
        help="UTC time from which changed prices are in force (default: now); a time before "
        "now makes the run a backfill, which the row-count gate does not compare with",
    )
    parser.add_argument(
        "--summary-json",
        metavar="FILE",
        help="write a JSON summary of the runs (counts, times, gates, exit code) to FILE, "
        "atomically; - for stdout (then the table goes to stderr)",
    )
    parser.add_argument(
        "--no-refresh",
        action="store_true",
        help="leave the analytics views as they are (a schedule loading several jobs refreshes "
        "them once, with the analytics job, after the last)",
    )
    parser.add_argument(
        "--extract",
        choices=EXTRACTS,
        help="the kind of extract: snapshot (every row) or delta (only what changed); the "
        "row-count gate compares a run with runs of the same kind (default: the entity's "
        "quality.<entity>.extract, else snapshot)",
    )
    return parser


def _check_input_dir(input_dir: str) -> None:
    """Fail before Spark starts when a local input folder is missing."""
    scheme = urlparse(input_dir).scheme
    if scheme in ("", "file") and not Path(urlparse(input_dir).path or input_dir).is_dir():
        raise InputError(f"Input directory {input_dir} does not exist; pass --input-dir DIR.")


def run_load(job: str, argv: list[str], tools: tuple[str, ...] = TOOLS) -> None:
    """Parse, validate settings (before Spark starts), run the job and print its summary
    (``tools``: the other jobs an unknown name's message lists)."""
    # the job list depends on --config and --entities: read those two first
    first = argparse.ArgumentParser(add_help=False)
    common_arguments(first)
    known, _ = first.parse_known_args(argv)
    model = entity_model(load_settings(known.config), known.entities)
    job = model.job_named(job, choices=[*model.jobs, *tools])
    args = load_parser(job).parse_args(argv)
    summary.check_target(args.summary_json)
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    clock = time.monotonic()
    settings = load_settings(args.config)
    prometheus.check(settings.metrics)
    lake = settings.lake.warehouse
    if lake is not None and any(entity.to_lake(True) for entity in model.jobs[job]):
        check_warehouse(lake)
    connection = connection_from_env()
    started: list[str] = []
    code, error = 0, None
    try:
        mapping = load_mapping(args.mapping, model) if args.mapping else None
        _check_input_dir(args.input_dir)
        # Reach the database before Spark starts, so a wrong PG* variable fails in a second.
        probe = postgres.connect(connection, settings.database.db_schema, 5)
        try:
            postgres.check_primary(probe)  # a standby takes no load: say so before Spark starts
        finally:
            probe.close()
        ctx = RunContext(
            settings,
            connection,
            args.input_dir,
            args.as_of or now,
            model,
            mapping,
            str(args.mapping or ""),
            started_at=now,
            extract=args.extract,
            backfill=args.as_of is not None and args.as_of < now,
            refresh=not args.no_refresh,
        )
        with spark_session(settings.spark, settings.database.jdbc_jar) as spark:
            pipeline.run(spark, ctx, job, started)
    except Exception as exc:
        code, error = exit_code(exc), first_line(exc)
        raise
    finally:
        # with --summary-json -, stdout is the JSON document's: the table goes to stderr
        table = sys.stderr if args.summary_json == summary.STDOUT else sys.stdout
        runs: list[dict[str, Any]] = []
        gates: list[dict[str, Any]] = []
        try:
            runs, gates = print_summary(settings, connection, started, table)
        finally:
            planned = {entity.job_name: entity.entity for entity in model.jobs[job]}
            prometheus.export(
                settings.metrics,
                prometheus.job_figures(planned, runs, code, time.time(), time.monotonic() - clock),
            )
            if args.summary_json:
                document = summary.document(job, now, code, error, runs, gates)
                summary.write(args.summary_json, document)


COMMANDS: dict[str, Callable[[list[str]], None]] = {
    "generate_data": tool_commands.run_generate,
    "analytics": tool_commands.run_analytics,
    "plan": tool_commands.run_plan,
    "retention": tool_commands.run_retention,
    "restore": tool_commands.run_restore,
    "lake": tool_commands.run_lake,
}


def main(job: str, argv: list[str] | None = None) -> int:
    """Run one job by name (a load job, or one of ``TOOLS``); returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    return run(job, COMMANDS.get(job) or partial(run_load, job), argv)


# A connection lost inside a Spark task, as the driver sees it: the executors' psycopg2 (the
# COPY stage writer) or pgjdbc (lookups, the jdbc writer) losing or not reaching the server
LOST_IN_A_TASK = (
    "DatabaseUnavailableError",  # an executor's connect() that found no server
    "psycopg2.OperationalError",
    "PSQLException: Connection to",  # refused
    "PSQLException: An I/O error occurred",
    "PSQLException: This connection has been closed",
    "PSQLException: The connection attempt failed",
    "terminating connection due to administrator command",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
)


def lost_in_a_task(exc: BaseException) -> bool:
    """A Spark job failed because a task lost PostgreSQL (nothing was committed then)."""
    if isinstance(exc, EtlError | psycopg2.Error):
        return False
    text = str(exc)
    return any(sign in text for sign in LOST_IN_A_TASK)


# An executor that ran out of memory, as the driver sees the job fail: Spark's exit code for an
# OutOfMemoryError (52) when a cluster's executor died of it, or the error itself from a task
EXECUTOR_OUT_OF_MEMORY = ("Command exited with code 52", "java.lang.OutOfMemoryError")


def executor_out_of_memory(exc: BaseException) -> str | None:
    """What in a failed Spark job says an executor ran out of memory, if anything does."""
    text = str(exc)
    return next((sign for sign in EXECUTOR_OUT_OF_MEMORY if sign in text), None)


def jvm_gone(exc: BaseException) -> bool:
    """Python lost the Spark driver's JVM mid-run (py4j reaches nothing): most often the JVM
    ran out of memory and exited, which shows here only as a refused connection."""
    chain = (exc, exc.__cause__, exc.__context__)
    return any(
        isinstance(link, ConnectionRefusedError) or type(link).__name__ == "Py4JNetworkError"
        for link in chain
    )


def exit_code(exc: BaseException) -> int:
    """The exit code of what a command raised (command.EXIT_CODES says what each means)."""
    if isinstance(exc, RefreshError):
        return EXIT_REFRESH_FAILED
    if isinstance(exc, TemporaryError | psycopg2.OperationalError) or lost_in_a_task(exc):
        return EXIT_TEMPORARY
    if isinstance(exc, QualityGateError):
        return EXIT_QUALITY_GATE
    if isinstance(exc, EtlError):
        return EXIT_USER_ERROR
    return EXIT_FAILURE


def _said(job: str, exc: BaseException, log_file: Path) -> str:
    """The one line stderr shows of what a command raised."""
    code = exit_code(exc)
    if isinstance(exc, RefreshError):
        return (
            f"the load succeeded (see the summary), but refreshing the analytics views failed "
            f"({exc}); the full trace is in {log_file}. Run the analytics job to retry."
        )
    if isinstance(exc, psycopg2.OperationalError):  # the connection lost mid-run: rolled back
        return (
            f"{job} lost its connection to PostgreSQL ({first_line(exc)}); what it had not "
            f"committed was rolled back (temporary: exit {code}, retry later)."
        )
    if lost_in_a_task(exc):
        sign = next(sign for sign in LOST_IN_A_TASK if sign in str(exc))
        return (
            f"{job}: a Spark task lost its connection to PostgreSQL ({sign}); nothing was "
            f"committed (temporary: exit {code}, retry later; the trace is in {log_file})."
        )
    if code == EXIT_TEMPORARY:
        return f"{exc} (temporary: exit {code}, retry later)"
    if jvm_gone(exc):
        return (
            f"{job}: the Spark driver's JVM stopped during the run ({exc.__class__.__name__}: "
            f"{first_line(exc)}); most often it ran out of memory: give it more with "
            f"spark.driver_memory in the settings (or spark-submit's --driver-memory). What was "
            f"not committed was rolled back; the full trace is in {log_file}"
        )
    memory = executor_out_of_memory(exc) if code == EXIT_FAILURE else None
    if memory:
        return (
            f"{job}: a Spark executor ran out of memory ({memory}); give the executors more: "
            f"SPARK_EXECUTOR_MEMORY in .env on the Docker stack (at most SPARK_WORKER_MEMORY), "
            f"spark-submit's --executor-memory on a cluster, spark.driver_memory (or "
            f"--driver-memory) in local mode, where the executors share the driver's heap. "
            f"What was not committed was rolled back; the full trace is in {log_file}"
        )
    if code == EXIT_FAILURE:
        return (
            f"{job} failed ({exc.__class__.__name__}: {first_line(exc)}); "
            f"the full trace is in {log_file}"
        )
    return str(exc)


def run(job: str, command: Callable[[list[str]], int | None], argv: list[str]) -> int:
    """Run ``command(argv)`` with logging set up (not for --help: it starts nothing) and map
    what it raises to an exit code and one line on stderr (or return the one it returns)."""
    if any(arg in HELP for arg in argv):
        return _exit_code(lambda: command(argv))
    early = argparse.ArgumentParser(add_help=False)
    common_arguments(early)
    try:
        known, _ = early.parse_known_args(argv)  # --config and --log-level, before the rest
    except SystemExit:  # a malformed one: the command's own parser says what is wrong
        known = argparse.Namespace(config=None, log_level=None)
    try:
        settings = load_settings(known.config)
        log_file = configure_logging(settings.logging, known.log_level)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    started = time.monotonic()
    with context.scope(job):
        log.debug("spark_etl %s from %s", spark_etl.__version__, Path(spark_etl.__file__).parent)
        try:
            code = command(argv) or 0
        except Exception as exc:
            log.debug("%s ended with exit code %d", job, exit_code(exc), exc_info=True)  # trace
            print(f"error: {_said(job, exc, log_file)}", file=sys.stderr)
            code = exit_code(exc)
        if job in WATCHED:  # a load exports per entity job, in run_load
            ended = prometheus.JobFigures(
                job, WATCHED_ENTITY, code, time.time(), time.monotonic() - started, code == 0
            )
            prometheus.export(settings.metrics, [ended])
    return code


def _exit_code(help_command: Callable[[], int | None]) -> int:
    """--help: argparse prints and exits 0; a user error before it is still one line."""
    try:
        help_command()
    except SystemExit as exc:
        return int(exc.code or 0)
    except EtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0
