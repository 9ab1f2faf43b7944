"""The commands that load nothing: analytics (and its report), plan, retention, restore, lake
sync and generate-data; each parses its arguments and hands the work to ``spark_etl.runs``."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spark_etl.analytics.report.page import write_report
from spark_etl.analytics.report.terminal import terminal_summary
from spark_etl.cli.printing import Window, counted, render_retention_plans, size
from spark_etl.cli.shared import (
    common_arguments,
    entity_model,
    log_level_argument,
    make_output_dir,
    month,
    print_summary,
)
from spark_etl.config import Settings, connection_from_env, load_settings
from spark_etl.db import migrations, postgres
from spark_etl.db.archives import AUDIT_TABLES
from spark_etl.definitions import Model
from spark_etl.errors import ConfigError
from spark_etl.lake.warehouse import check_warehouse
from spark_etl.local import datagen
from spark_etl.runs import maintenance, retention
from spark_etl.runs.refresh import refresh_and_answer

if TYPE_CHECKING:
    from spark_etl.lake.expire import Expired
    from spark_etl.lake.sync import Compared

RETAINED_ENTITY = "cart"  # restore brings back a month of cart lines unless told another


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
    make_output_dir(args.output_dir)  # before any work, so a bad folder fails at once
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
        print_summary(settings, connection, started)
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
    parser.add_argument("--month", type=month, required=True, help="the month, e.g. 2023-01")
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
        print_summary(settings, connection, started)
    print(f"restored {entity.table.name} {args.month:%Y-%m}: {loaded}, online again")


def run_lake(argv: list[str]) -> None:
    """``lake sync``: compare the lake with PostgreSQL, write again what differs; ``lake
    expire``: expire old snapshots, remove the files nothing uses."""
    parser = _maintenance_parser(
        "lake",
        "sync: compare every lake table with PostgreSQL, range by range (month by month for "
        "cart), by row count and content checksum, and write again what differs, one snapshot "
        "per table. Months retention archived stay in the lake as they are (and are added from "
        "their archives where the lake lacks them). expire: expire the snapshots older than "
        "lake.keep_snapshots_days (never a table's current one) and remove the files no "
        "snapshot left uses.",
    )
    parser.add_argument("action", choices=("sync", "expire"), help="what to do with the lake")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    model = entity_model(settings, args.entities)
    warehouse = settings.lake.warehouse
    if warehouse is None:
        raise ConfigError(
            f"There is no lake to {args.action}: set lake.warehouse (or "
            "SPARK_ETL_LAKE_WAREHOUSE) to its folder."
        )
    check_warehouse(warehouse)
    connection = connection_from_env()
    started: list[str] = []
    days = settings.lake.keep_snapshots_days
    work: Callable[..., Sequence[Any]]
    if args.action == "expire":
        work, nothing = maintenance.expire_lake, "Nothing to expire: the lake has no table yet."
        describe: Callable[[Any], str] = partial(describe_expired, days=days)
    else:
        work, describe = maintenance.sync_lake, describe_sync
        nothing = "Nothing to compare: PostgreSQL holds no table of an entity the lake keeps yet."
    try:
        done = work(settings, model, connection, started)
    finally:
        print_summary(settings, connection, started)
    if not done:
        print(nothing)
    for table in done:
        print(describe(table))


def describe_expired(table: Expired, days: int) -> str:
    """One line per table: the snapshots expired and kept, the files removed."""
    return (
        f"{table.table}: {counted(table.expired, 'snapshot')} older than "
        f"{counted(days, 'day')} expired, {table.kept} kept; "
        f"{counted(table.removed, 'unused file')} removed ({size(table.removed_bytes)})"
    )


def describe_sync(compared: Compared) -> str:
    """One line per table: in step, or what was written again (and added from archives)."""
    if compared.in_step:
        return f"{compared.table}: in step with PostgreSQL ({compared.rows} rows)"
    written = compared.written
    snapshot = f"snapshot {written.snapshot_id}, {written.rows} rows" if written else "no rows"
    months = compared.from_archives
    archived = (
        f"{counted(len(months), 'archived month')} added from their archives "
        f"({', '.join(f'{month:%Y-%m}' for month in months)})"
        if months
        else ""
    )
    if compared.created:
        return (
            f"{compared.table}: not in the lake; created and written"
            f"{', with ' + archived if archived else ''} ({snapshot})"
        )
    if compared.differing == ():
        return f"{compared.table}: {archived} ({snapshot})"
    what = (
        "the whole table"
        if compared.differing is None
        else f"{counted(len(compared.differing), 'range')} "
        f"({', '.join(map(str, compared.differing))})"
    )
    also = f"; {archived}" if archived else ""
    return f"{compared.table}: {what} differed; written again{also} ({snapshot})"


def run_generate(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="generate_data", description="Write a synthetic, deterministic input set."
    )
    parser.add_argument("--output-dir", required=True, type=Path)
    log_level_argument(parser)
    parser.add_argument("--carts", type=int, default=10_000, help="cart lines (default 10000)")
    parser.add_argument("--customers", type=int, help="default: carts / 20")
    parser.add_argument("--products", type=int, help="default: carts / 100")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--broken-fraction", type=float, default=0.02, help="share of broken rows (default 0.02)"
    )
    parser.add_argument(
        "--late-fraction",
        type=float,
        default=0.05,
        help="share of customers and products created during the period, whose earlier lines "
        "are flagged (default 0.05: about 5%% of the lines flagged; 1: about 60%%)",
    )
    args = parser.parse_args(argv)
    if args.carts < 1 or not 0.0 <= args.broken_fraction <= 1.0:
        raise ConfigError("--carts must be at least 1 and --broken-fraction between 0 and 1.")
    if not 0.0 <= args.late_fraction <= 1.0:
        raise ConfigError("--late-fraction must be between 0 and 1.")
    spec = datagen.DataSpec(
        args.carts,
        args.customers or max(10, args.carts // 20),
        args.products or max(10, args.carts // 100),
        args.seed,
        args.broken_fraction,
        args.late_fraction,
    )
    make_output_dir(args.output_dir)
    written = datagen.generate(args.output_dir, spec)
    for name, count in written.items():
        print(f"{args.output_dir / name}: {count} rows")
