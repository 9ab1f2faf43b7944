"""The jobs' command line: arguments, settings checked before anything starts, the summary
and exit codes. Each job parses its arguments, then hands the work to ``spark_etl.runs``.

A user error prints one line (what is wrong, what to do) and exits 2; a temporary one (the
load lock held, PostgreSQL down or restarting, the connection lost) exits 75 to be retried; an
unexpected failure prints one line pointing at the log file, which holds the full trace, and
exits 1 (command.EXIT_CODES lists them all).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import date, datetime, timezone
from functools import partial
from pathlib import Path
from urllib.parse import urlparse

import psycopg2

import spark_etl
from spark_etl.analytics.report.page import write_report
from spark_etl.analytics.report.terminal import terminal_summary
from spark_etl.cli.logs import configure_logging
from spark_etl.cli.printing import Window, format_summary, render_retention_plans, size
from spark_etl.config import Connection, Settings, connection_from_env, load_settings
from spark_etl.db import metrics, migrations, postgres
from spark_etl.db.archives import AUDIT_TABLES
from spark_etl.definitions import Model, load_entities, load_mapping
from spark_etl.definitions.loader import check_quality, check_ranges
from spark_etl.errors import (
    ConfigError,
    EtlError,
    InputError,
    QualityGateError,
    RefreshError,
    TemporaryError,
    first_line,
)
from spark_etl.local import datagen
from spark_etl.runs import maintenance, pipeline, retention
from spark_etl.runs.refresh import refresh_and_answer
from spark_etl.spark.session import spark_session
from spark_etl.transforms import registry

log = logging.getLogger(__name__)

EXIT_USER_ERROR = 2
EXIT_FAILURE = 1
EXIT_REFRESH_FAILED = 3  # the loads committed; only the analytics refresh after them failed
EXIT_QUALITY_GATE = 4  # a load broke a quality gate: rolled back, its rejects kept
EXIT_TEMPORARY = 75  # EX_TEMPFAIL: the lock is held, PostgreSQL is down or restarting; retry
EXTRACTS = ("snapshot", "delta")
TOOLS = ("analytics", "plan", "generate_data", "retention", "restore")  # jobs that load nothing
RETAINED_ENTITY = "cart"  # restore brings back a month of cart lines unless told another
HELP = ("-h", "--help")


def _as_of(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO date or timestamp") from None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _month(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a month like 2024-01") from None


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML file overriding spark_etl/defaults.yaml")
    parser.add_argument(
        "--entities",
        type=Path,
        help="folder of entity definitions added to the built-in ones (or entities.folder)",
    )


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
        "--extract",
        choices=EXTRACTS,
        help="the kind of extract: snapshot (every row) or delta (only what changed); the "
        "row-count gate compares a run with runs of the same kind (default: the entity's "
        "quality.<entity>.extract, else snapshot)",
    )
    return parser


def entity_model(settings: Settings, entities: Path | None) -> Model:
    """The entity definitions: built in, plus --entities DIR (or the entities.folder setting)."""
    folder = entities or (Path(settings.entities.folder) if settings.entities.folder else None)
    registry.import_modules(settings.entities.transform_modules)
    model = load_entities(folder, registry.signatures())
    check_ranges(model, settings.validation.bounds())
    check_quality(model, settings.quality)
    return model


def _check_input_dir(input_dir: str) -> None:
    """Fail before Spark starts when a local input folder is missing."""
    scheme = urlparse(input_dir).scheme
    if scheme in ("", "file") and not Path(urlparse(input_dir).path or input_dir).is_dir():
        raise InputError(f"Input directory {input_dir} does not exist; pass --input-dir DIR.")


def _make_output_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Output folder {folder} is not writable ({exc.strerror}); choose another --output-dir."
        ) from None


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
    settings = load_settings(args.config)
    mapping = load_mapping(args.mapping, model) if args.mapping else None
    connection = connection_from_env()
    _check_input_dir(args.input_dir)
    # Reach the database before Spark starts, so a wrong PG* variable fails in a second.
    postgres.connect(connection, settings.database.db_schema, 5).close()
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    ctx = pipeline.RunContext(
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
    )
    started: list[str] = []
    try:
        with spark_session(settings.spark, settings.database.jdbc_jar) as spark:
            pipeline.run(spark, ctx, job, started)
    finally:
        _print_summary(settings, connection, started)


def _print_summary(settings: Settings, connection: Connection, run_ids: list[str]) -> None:
    if not run_ids:
        return
    conn = postgres.open_model(connection, settings.database)
    try:
        summaries = postgres.run_summaries(conn, run_ids)
        print(format_summary(summaries, metrics.gate_messages(conn, run_ids)), flush=True)
    finally:
        conn.close()


def run_analytics(argv: list[str]) -> None:
    """Refresh the views, print a compact answer to every question, write the report."""
    parser = argparse.ArgumentParser(
        prog="analytics", description="Refresh the analytics views and write their report."
    )
    common_arguments(parser)
    parser.add_argument("--output-dir", type=Path, default=Path("report"), help="report folder")
    parser.add_argument("--top", type=int, default=5, help="rows per view on the terminal")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="recompute the cart summaries from every line instead of applying the loads' changes",
    )
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    model = entity_model(settings, args.entities)
    _make_output_dir(args.output_dir)  # before any work, so a bad folder fails at once
    connection = connection_from_env()
    sections = refresh_and_answer(settings, model, connection, args.output_dir, args.rebuild)
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
    common_arguments(parser)
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    model = entity_model(settings, args.entities)
    job = model.job_named(args.job)
    db = settings.database
    conn = postgres.open_model(connection_from_env(), db)
    try:
        changes = migrations.plan(conn, db.db_schema, model, model.jobs[job])
        print(f"-- plan for {job} in schema {db.db_schema}")
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


def _maintenance_parser(job: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=job, description=description)
    common_arguments(parser)
    return parser


def _retained(args: argparse.Namespace) -> tuple[Settings, Model, list[maintenance.Retained]]:
    """Settings, definitions and the entities retention keeps, checked before anything
    starts."""
    settings = load_settings(args.config)
    model = entity_model(settings, args.entities)
    return settings, model, maintenance.retained_entities(settings, model)


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
    settings, model, retained = _retained(args)
    keep = settings.retention
    if all(kept.months is None for kept in retained) and keep.audit_days is None:
        print(
            "Retention is not set (retention.cart_months and retention.audit_days are null): "
            "everything stays in PostgreSQL."
        )
        return
    connection = connection_from_env()
    if args.dry_run:
        plans = maintenance.retention_plans(settings, retained, connection)
        windows = [
            Window(the_plan, kept.months, kept.entity.entity, kept.rows, kept.setting)
            for kept, the_plan in zip(retained, plans, strict=True)
        ]
        print(render_retention_plans(windows, keep.archive_dir))
        return
    started: list[str] = []
    try:
        done = maintenance.archive_expired(settings, model, retained, connection, started)
    finally:
        _print_summary(settings, connection, started)
    for archived in done:
        batch = archived.batch
        dropped = "rows deleted" if batch.table in AUDIT_TABLES else "partition dropped"
        print(
            f"archived {batch.label}: {archived.checksum.rows} rows "
            f"({size(batch.bytes)} in PostgreSQL) to {archived.path}; {dropped}"
        )


def run_restore(argv: list[str]) -> None:
    """Bring an archived month of cart lines back into PostgreSQL, checked."""
    parser = _maintenance_parser(
        "restore", "Bring an archived month of cart lines back into PostgreSQL."
    )
    parser.add_argument("--month", type=_month, required=True, help="the month, e.g. 2023-01")
    parser.add_argument("--entity", default=RETAINED_ENTITY, help="whose month (default: cart)")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    model = entity_model(settings, args.entities)
    entity = model.entity_named(args.entity)
    retention.check_entity(entity)
    connection = connection_from_env()
    started: list[str] = []
    try:
        loaded = maintenance.restore_month(settings, model, entity, connection, args.month, started)
    finally:
        _print_summary(settings, connection, started)
    print(f"restored {entity.table.name} {args.month:%Y-%m}: {loaded}, online again")


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


COMMANDS: dict[str, Callable[[list[str]], None]] = {
    "generate_data": run_generate,
    "analytics": run_analytics,
    "plan": run_plan,
    "retention": run_retention,
    "restore": run_restore,
}


def main(job: str, argv: list[str] | None = None) -> int:
    """Run one job by name (a load job, or one of ``TOOLS``); returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    return run(job, COMMANDS.get(job) or partial(run_load, job), argv)


def run(job: str, command: Callable[[list[str]], int | None], argv: list[str]) -> int:
    """Run ``command(argv)`` with logging set up (not for --help: it starts nothing) and map
    what it raises to an exit code and one line on stderr (or return the one it returns)."""
    if any(arg in HELP for arg in argv):
        return _exit_code(lambda: command(argv))
    try:
        log_file = configure_logging()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    log.debug("spark_etl %s from %s", spark_etl.__version__, Path(spark_etl.__file__).parent)
    try:
        code = command(argv)
    except RefreshError as exc:
        log.debug("Analytics refresh failed after the loads committed", exc_info=True)
        print(
            f"error: the load succeeded (see the summary), but refreshing the analytics views "
            f"failed ({exc}); the full trace is in {log_file}. Run the analytics job to retry.",
            file=sys.stderr,
        )
        return EXIT_REFRESH_FAILED
    except TemporaryError as exc:
        log.debug("Temporary failure", exc_info=True)
        print(f"error: {exc} (temporary: exit {EXIT_TEMPORARY}, retry later)", file=sys.stderr)
        return EXIT_TEMPORARY
    except psycopg2.OperationalError as exc:  # the connection lost mid-run: rolled back
        log.debug("Connection lost", exc_info=True)
        print(
            f"error: {job} lost its connection to PostgreSQL ({first_line(exc)}); what it had "
            f"not committed was rolled back (temporary: exit {EXIT_TEMPORARY}, retry later).",
            file=sys.stderr,
        )
        return EXIT_TEMPORARY
    except QualityGateError as exc:
        log.debug("Quality gate failed", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_QUALITY_GATE
    except EtlError as exc:
        log.debug("User error", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:
        log.debug("Job %s failed", job, exc_info=True)  # the trace goes to the file only
        print(
            f"error: {job} failed ({exc.__class__.__name__}: {first_line(exc)}); "
            f"the full trace is in {log_file}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    return code or 0


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
