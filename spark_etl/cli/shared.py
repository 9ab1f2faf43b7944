"""What the commands share: the options every command takes, the definitions read with the
settings' checks, the runs' summary, and the exit codes (command.EXIT_CODES says what each
means)."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

from spark_etl.cli.printing import format_summary
from spark_etl.config import Connection, Settings
from spark_etl.db import metrics, postgres
from spark_etl.definitions import Model, load_entities
from spark_etl.definitions.loader import check_quality, check_ranges, check_targets
from spark_etl.errors import ConfigError
from spark_etl.transforms import registry

EXIT_FAILURE = 1
EXIT_USER_ERROR = 2
EXIT_REFRESH_FAILED = 3  # the loads committed; only the analytics refresh after them failed
EXIT_QUALITY_GATE = 4  # a load broke a quality gate: rolled back, its rejects kept
EXIT_TEMPORARY = 75  # EX_TEMPFAIL: the lock is held, PostgreSQL is down or restarting; retry


def month(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a month like 2024-01") from None


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def log_level_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        help="the lines shown on stderr (default: the logging.level setting, INFO); the log "
        "file keeps every line",
    )


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML file overriding spark_etl/defaults.yaml")
    log_level_argument(parser)
    parser.add_argument(
        "--entities",
        type=Path,
        help="folder of entity definitions added to the built-in ones (or entities.folder)",
    )


def entity_model(settings: Settings, entities: Path | None) -> Model:
    """The entity definitions: built in, plus --entities DIR (or the entities.folder setting)."""
    folder = entities or (Path(settings.entities.folder) if settings.entities.folder else None)
    registry.import_modules(settings.entities.transform_modules)
    model = load_entities(folder, registry.signatures())
    check_ranges(model, settings.validation.bounds())
    check_quality(model, settings.quality)
    check_targets(model, settings.lake.warehouse is not None)
    return model


def make_output_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Output folder {folder} is not writable ({exc.strerror}); choose another --output-dir."
        ) from None


def print_summary(
    settings: Settings,
    connection: Connection,
    run_ids: list[str],
    stream: TextIO | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Print the runs' table and what their gates said; return the runs and their gates."""
    if not run_ids:
        return [], []
    conn = postgres.open_model(connection, settings.database)
    try:
        summaries = postgres.run_summaries(conn, run_ids)
        out = stream or sys.stdout  # looked up now: a redirected stdout (pytest's capsys) too
        print(format_summary(summaries, metrics.gate_messages(conn, run_ids)), file=out)
        out.flush()
        return summaries, metrics.gates(conn, run_ids)
    finally:
        conn.close()
