"""Command line of every job: arguments, settings, logging, the summary and exit codes.

A user error prints one line (what is wrong, what to do) and exits 2; an unexpected failure
prints one line pointing at the log file, which holds the full trace, and exits 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tabulate import tabulate

import spark_etl
from spark_etl import (
    database,
    datagen,
    migrations,
    pipeline,
    progress,
    retention,
)
from spark_etl.analytics.questions import QUESTIONS
from spark_etl.analytics.report.page import write_report
from spark_etl.analytics.report.section import report_section
from spark_etl.analytics.report.terminal import terminal_summary
from spark_etl.config import Settings, connection_from_env, load_settings
from spark_etl.entities import Entity, Model, load_entities, load_mapping
from spark_etl.errors import ConfigError, EtlError, InputError, RefreshError
from spark_etl.session import lazy_session, spark_session

log = logging.getLogger(__name__)

LOG_DIR_ENV = "SPARK_ETL_LOG_DIR"
EXIT_USER_ERROR = 2
EXIT_FAILURE = 1
EXIT_REFRESH_FAILED = 3  # the loads committed; only the analytics refresh after them failed
TOOLS = ("analytics", "plan", "generate_data", "retention", "restore")  # jobs that load nothing
SUMMARY_COLUMNS = (
    ("job", "job"),
    ("status", "status"),
    ("rows_read", "read"),
    ("rows_loaded", "loaded"),
    ("rows_rejected", "set aside"),
    ("rows_duplicate", "duplicates"),
    ("rows_inserted", "new"),
    ("rows_updated", "changed"),
    ("rows_flagged", "flagged"),
)


class _NoTraceFormatter(logging.Formatter):
    """Console lines without tracebacks: those belong in the log file. On a terminal each line
    first clears what a phase's progress line left there."""

    def __init__(self, terminal: bool = False) -> None:
        super().__init__()
        self.prefix = progress.CLEAR_TO_END if terminal else ""

    def format(self, record: logging.LogRecord) -> str:
        return f"{self.prefix}{self.formatTime(record, '%H:%M:%S')} {record.getMessage()}"


def configure_logging() -> Path:
    """Progress on stderr; everything, with traces, in the log file."""
    log_dir = Path(os.environ.get(LOG_DIR_ENV, "logs"))
    log_file = log_dir / "spark-etl.log"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"Log folder {log_dir} is not writable ({exc.strerror}); "
            f"set {LOG_DIR_ENV} to a folder you can write to."
        ) from None
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    file_handler.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(_NoTraceFormatter(terminal=sys.stderr.isatty()))
    console.setLevel(logging.INFO)
    root = logging.getLogger()
    root.handlers[:] = [file_handler, console]
    root.setLevel(logging.WARNING)
    logging.getLogger("spark_etl").setLevel(logging.DEBUG)
    return log_file


def _as_of(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO date or timestamp") from None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _load_parser(job: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=job, description=f"Load the raw extracts of {job} into PostgreSQL."
    )
    parser.add_argument("--input-dir", required=True, help="folder with the extract files")
    _common_arguments(parser)
    parser.add_argument(
        "--mapping",
        type=Path,
        help="mapping template: the extracts in --input-dir are laid out another way",
    )
    parser.add_argument(
        "--as-of",
        type=_as_of,
        help="UTC time from which changed prices are in force (default: now)",
    )
    return parser


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML file overriding spark_etl/defaults.yaml")
    parser.add_argument(
        "--entities",
        type=Path,
        help="folder of entity definitions added to the built-in ones (or entities.folder)",
    )


def _model(settings: Settings, entities: Path | None) -> Model:
    """The entity definitions: built in, plus --entities DIR (or the entities.folder setting)."""
    folder = entities or (Path(settings.entities.folder) if settings.entities.folder else None)
    return load_entities(folder)


def _check_input_dir(input_dir: str) -> None:
    """Fail before Spark starts when a local input folder is missing."""
    scheme = urlparse(input_dir).scheme
    if scheme in ("", "file") and not Path(urlparse(input_dir).path or input_dir).is_dir():
        raise InputError(f"Input directory {input_dir} does not exist; pass --input-dir DIR.")


def _format_summary(rows: list[dict[str, object]]) -> str:
    table = tabulate(
        [["" if row[key] is None else str(row[key]) for key, _ in SUMMARY_COLUMNS] for row in rows],
        headers=[label for _, label in SUMMARY_COLUMNS],
        disable_numparse=True,  # counts as PostgreSQL gave them, left-aligned like the headers
        stralign="left",
    )
    lines = [line.rstrip() for line in table.splitlines()]
    failures = [f"{row['job']}: {row['error_message']}" for row in rows if row["error_message"]]
    return "\n".join(lines + failures)


def run_load(job: str, argv: list[str]) -> None:
    """Parse, validate settings (before Spark starts), run the job and print its summary."""
    # the job list depends on --config and --entities: read those two first
    first = argparse.ArgumentParser(add_help=False)
    _common_arguments(first)
    known, _ = first.parse_known_args(argv)
    model = _model(load_settings(known.config), known.entities)
    if job not in model.jobs:
        raise ConfigError(f"Unknown job '{job}'; choose one of: {', '.join(_job_names(model))}.")
    args = _load_parser(job).parse_args(argv)
    settings = load_settings(args.config)
    mapping = load_mapping(args.mapping, model) if args.mapping else None
    connection = connection_from_env()
    _check_input_dir(args.input_dir)
    # Reach the database before Spark starts, so a wrong PG* variable fails in a second.
    database.connect(connection, settings.database.db_schema, 5).close()
    as_of = args.as_of or datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    ctx = pipeline.RunContext(
        settings, connection, args.input_dir, as_of, model, mapping, str(args.mapping or "")
    )
    started: list[str] = []
    try:
        with spark_session(settings.spark, settings.database.jdbc_jar) as spark:
            pipeline.run(spark, ctx, job, started)
    finally:
        if started:
            _print_summary(ctx, started)


def _print_summary(ctx: pipeline.RunContext, run_ids: list[str]) -> None:
    db = ctx.settings.database
    conn = database.connect(ctx.connection, db.db_schema, db.connect_timeout_seconds)
    try:
        print(_format_summary(database.run_summaries(conn, run_ids)), flush=True)
    finally:
        conn.close()


def run_analytics(argv: list[str]) -> None:
    """Refresh the views, print a compact answer to every question, write the report."""
    parser = argparse.ArgumentParser(
        prog="analytics", description="Refresh the analytics views and write their report."
    )
    _common_arguments(parser)
    parser.add_argument("--output-dir", type=Path, default=Path("report"), help="report folder")
    parser.add_argument("--top", type=int, default=5, help="rows per view on the terminal")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="recompute the cart summaries from every line instead of applying the loads' changes",
    )
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    model = _model(settings, args.entities)
    _make_output_dir(args.output_dir)  # before any work, so a bad folder fails at once
    db = settings.database
    connection = connection_from_env()
    conn = database.connect(connection, db.db_schema, db.connect_timeout_seconds)
    try:
        with database.load_lock(conn):
            database.apply_schema(conn, db.db_schema)
            migrations.migrate(conn, db.db_schema, model, model.entities, "analytics")
            pipeline.refresh_views(conn, connection, db, rebuild=args.rebuild)
            # read under the lock too: no load refreshes the views between two answers
            sections = [
                report_section(conn, db.analytics_schema, question, args.output_dir)
                for question in QUESTIONS
            ]
    finally:
        conn.close()
    for section in sections:
        print(terminal_summary(section, args.top), end="\n\n")
    currency = settings.report.currency
    index = write_report(args.output_dir, sections, datetime.now(timezone.utc), currency)
    print(f"Report: {index.resolve()}")


def run_plan(argv: list[str]) -> None:
    """Print the DDL a run of JOB would apply to the database now; change nothing."""
    parser = argparse.ArgumentParser(
        prog="plan",
        description="Print the DDL a run of JOB (default: all) would apply now; change nothing.",
    )
    parser.add_argument("job", nargs="?", default="all", help="a load job (default: all)")
    _common_arguments(parser)
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    model = _model(settings, args.entities)
    if args.job not in model.jobs:
        raise ConfigError(f"Unknown job '{args.job}'; choose one of: {', '.join(model.jobs)}.")
    db = settings.database
    conn = database.connect(connection_from_env(), db.db_schema, db.connect_timeout_seconds)
    try:
        changes = migrations.plan(conn, db.db_schema, model, model.jobs[args.job])
        print(f"-- plan for {args.job} in schema {db.db_schema}")
        print(migrations.render(conn, changes))
        # after the loads, the analytics refresh creates the tables of the other entities
        rest = [
            change
            for change in migrations.plan(conn, db.db_schema, model, model.entities)
            if change not in changes
        ]
        if rest:
            print(
                "\n-- then the analytics refresh after the load creates the other entities' tables"
            )
            print(migrations.render(conn, rest))
    finally:
        conn.close()


RETAINED_ENTITY = "cart"  # the entity retention.cart_months keeps


def _month(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a month like 2024-01") from None


def _maintenance_parser(job: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=job, description=description)
    _common_arguments(parser)
    return parser


def _retained(args: argparse.Namespace) -> tuple[Settings, Model, Entity]:
    """Settings, definitions and the entity retention keeps, checked before anything starts."""
    settings = load_settings(args.config)
    model = _model(settings, args.entities)
    entity = model.entity(RETAINED_ENTITY)
    retention.check_entity(entity)
    return settings, model, entity


def run_retention(argv: list[str]) -> None:
    """Archive what the retention settings no longer keep online, verified, then drop it."""
    parser = _maintenance_parser(
        "retention",
        "Archive to Parquet the cart months and audit rows older than the retention settings "
        "keep online, check each archive against PostgreSQL, then drop what it holds.",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be archived; change nothing"
    )
    args = parser.parse_args(argv)
    settings, model, entity = _retained(args)
    keep = settings.retention
    if keep.cart_months is None and keep.audit_days is None:
        print(
            "Retention is not set (retention.cart_months and retention.audit_days are null): "
            "everything stays in PostgreSQL."
        )
        return
    db = settings.database
    connection = connection_from_env()
    conn = database.connect(connection, db.db_schema, db.connect_timeout_seconds)

    def now_plan() -> retention.Plan:
        today = datetime.now(timezone.utc).date()
        return retention.plan(conn, db.db_schema, entity, keep.cart_months, keep.audit_days, today)

    try:
        if args.dry_run:
            print(_render_plan(now_plan(), keep.cart_months, keep.archive_dir))
            return
        archive_dir = retention.local_archive_dir(keep.archive_dir)

        def archive_all(spark: Callable[[], Any], run_id: str) -> tuple[list[Any], int, int]:
            done = [
                retention.archive(spark(), conn, connection, db, batch, archive_dir, run_id)
                for batch in now_plan().batches
            ]
            rows = sum(archived.checksum.rows for archived in done)
            return done, rows, rows

        done = _maintenance_run(settings, model, conn, "retention", archive_dir, archive_all)
    finally:
        conn.close()
    for archived in done:
        batch = archived.batch
        dropped = "rows deleted" if batch.table in retention.AUDIT_TABLES else "partition dropped"
        print(
            f"archived {batch.label}: {archived.checksum.rows} rows "
            f"({_size(batch.bytes)} in PostgreSQL) to {archived.path}; {dropped}"
        )


def run_restore(argv: list[str]) -> None:
    """Bring an archived month of cart lines back into PostgreSQL, checked."""
    parser = _maintenance_parser(
        "restore", "Bring an archived month of cart lines back into PostgreSQL."
    )
    parser.add_argument("--month", type=_month, required=True, help="the month, e.g. 2023-01")
    args = parser.parse_args(argv)
    settings, model, entity = _retained(args)
    db = settings.database
    connection = connection_from_env()
    conn = database.connect(connection, db.db_schema, db.connect_timeout_seconds)

    def restore(spark: Callable[[], Any], run_id: str) -> tuple[list[Any], int, int]:
        with conn.cursor() as cur:  # a month that cannot be restored: say so before Spark starts
            retention.restorable(cur, entity.table.name, args.month)
        loaded = retention.restore(spark(), conn, connection, db, entity, args.month, run_id)
        return [loaded], loaded.rows, loaded.rows

    try:
        month = f"{args.month:%Y-%m}"
        done = _maintenance_run(settings, model, conn, "restore", month, restore)
    finally:
        conn.close()
    print(f"restored {entity.table.name} {args.month:%Y-%m}: {done[0]}, online again")


def _maintenance_run(
    settings: Settings,
    model: Model,
    conn: Any,
    job: str,
    target: str,
    work: Callable[[Callable[[], Any], str], tuple[list[Any], int, int]],
) -> list[Any]:
    """Run ``work(spark, run_id)`` under the load lock (``spark()`` starts Spark if needed),
    recorded in etl_run as ``job`` with the rows it read and wrote; then refresh the analytics
    views over what is online."""
    db = settings.database
    with database.load_lock(conn):
        database.apply_schema(conn, db.db_schema)
        database.close_interrupted_runs(conn)
        run_id = str(uuid.uuid4())
        now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
        database.start_run(conn, run_id, job, target, now)
        try:
            started = time.perf_counter()
            with lazy_session(settings.spark, db.jdbc_jar) as spark:
                done, read, written = work(spark, run_id)
            counts = dict.fromkeys(("rejected", "duplicate", "inserted", "updated", "flagged"))
            database.finish_run(
                conn,
                run_id,
                {**counts, "read": read, "loaded": written},
                {job: time.perf_counter() - started},
            )
            conn.commit()
        except BaseException as exc:
            database.fail_run(conn, run_id, pipeline.one_line(exc))
            raise
        finally:
            print(_format_summary(database.run_summaries(conn, [run_id])), flush=True)
        if done:
            _refresh_after(conn, settings, model)
    return done


def _refresh_after(conn: Any, settings: Settings, model: Model) -> None:
    """The views cover what is online: refreshed once rows left (or came back)."""
    db = settings.database
    try:
        migrations.migrate(conn, db.db_schema, model, model.entities, "analytics")
        pipeline.refresh_views(conn, connection_from_env(), db)
    except Exception as exc:
        raise RefreshError(pipeline.one_line(exc)) from exc


def _size(count: int) -> str:
    """``352.0 kB``: bytes in binary units, as PostgreSQL's pg_size_pretty counts them."""
    size = float(count)
    for unit in ("bytes", "kB", "MB"):
        if size < 1024:
            return f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _render_plan(the_plan: retention.Plan, keep_months: int | None, archive_dir: str) -> str:
    lines = ["Retention plan (dry run: nothing is archived or dropped)."]
    if keep_months is None:
        lines.append("retention.cart_months is not set: every month of cart lines stays online.")
    elif the_plan.newest is None:
        lines.append("No cart lines are online.")
    else:
        lines.append(
            f"Cart lines from {the_plan.first_kept:%Y-%m} to {the_plan.newest:%Y-%m} stay online "
            f"({keep_months} months counted back from the newest month holding lines)."
        )
    if not the_plan.batches:
        lines.append("Nothing to archive.")
        return "\n".join(lines)
    rows = [
        [batch.label, batch.source, str(batch.rows), _size(batch.bytes)]
        for batch in the_plan.batches
    ]
    table = tabulate(
        rows,
        headers=["would archive", "from", "rows", "size"],
        disable_numparse=True,
        stralign="left",
    )
    total_rows = sum(batch.rows for batch in the_plan.batches)
    total_bytes = sum(batch.bytes for batch in the_plan.batches)
    lines += [
        table,
        f"Total: {total_rows} rows, {_size(total_bytes)} in PostgreSQL, to {archive_dir}.",
    ]
    return "\n".join(lines)


def _job_names(model: Model) -> list[str]:
    return [*model.jobs, *TOOLS]


def _make_output_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Output folder {folder} is not writable ({exc.strerror}); choose another --output-dir."
        ) from None


def run_generate(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="generate_data", description="Write a synthetic, deterministic input set."
    )
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--carts", type=int, default=10_000, help="cart lines (default 10000)")
    parser.add_argument("--customers", type=int, help="default: carts / 20")
    parser.add_argument("--products", type=int, help="default: carts / 100")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--broken-fraction", type=float, default=0.02, help="share of broken rows (default 0.02)"
    )
    args = parser.parse_args(argv)
    if args.carts < 1 or not 0.0 <= args.broken_fraction <= 1.0:
        raise ConfigError("--carts must be at least 1 and --broken-fraction between 0 and 1.")
    spec = datagen.DataSpec.scaled(args.carts, args.seed, args.broken_fraction)
    spec = datagen.DataSpec(
        args.carts,
        args.customers or spec.customers,
        args.products or spec.products,
        args.seed,
        args.broken_fraction,
    )
    _make_output_dir(args.output_dir)
    written = datagen.generate(args.output_dir, spec)
    for name, count in written.items():
        print(f"{args.output_dir / name}: {count} rows")


def main(job: str, argv: list[str] | None = None) -> int:
    """Entry point of every job module; returns the process exit code."""
    try:
        log_file = configure_logging()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    argv = sys.argv[1:] if argv is None else argv
    log.debug("spark_etl %s from %s", spark_etl.__version__, Path(spark_etl.__file__).parent)
    try:
        if job == "generate_data":
            run_generate(argv)
        elif job == "analytics":
            run_analytics(argv)
        elif job == "plan":
            run_plan(argv)
        elif job == "retention":
            run_retention(argv)
        elif job == "restore":
            run_restore(argv)
        else:
            run_load(job, argv)
    except RefreshError as exc:
        log.debug("Analytics refresh failed after the loads committed", exc_info=True)
        print(
            f"error: the load succeeded (see the summary), but refreshing the analytics views "
            f"failed ({exc}); the full trace is in {log_file}. Run the analytics job to retry.",
            file=sys.stderr,
        )
        return EXIT_REFRESH_FAILED
    except EtlError as exc:
        log.debug("User error", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:
        log.debug("Job %s failed", job, exc_info=True)  # the trace goes to the file only
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        print(
            f"error: {job} failed ({exc.__class__.__name__}: {first_line}); "
            f"the full trace is in {log_file}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    return 0
