"""Logging of every command: progress lines on stderr, everything with traces in the log file,
each line naming its job and run id; the file is rotated by size (the ``logging`` settings)."""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from spark_etl.config import LOG_DIR_ENV, LoggingSettings
from spark_etl.errors import ConfigError
from spark_etl.monitoring.context import RunFields
from spark_etl.spark import progress

LOG_FILE = "spark-etl.log"
FILE_FORMAT = "%(asctime)s %(levelname)s %(job)s run=%(run)s %(name)s: %(message)s"


class _NoTraceFormatter(logging.Formatter):
    """Console lines without tracebacks: those belong in the log file. On a terminal each line
    first clears what a phase's progress line left there."""

    def __init__(self, terminal: bool = False) -> None:
        super().__init__()
        self.prefix = progress.CLEAR_TO_END if terminal else ""

    def format(self, record: logging.LogRecord) -> str:
        return f"{self.prefix}{self.formatTime(record, '%H:%M:%S')} {record.getMessage()}"


def log_dir(settings: LoggingSettings) -> Path:
    """``logging.dir``, else $SPARK_ETL_LOG_DIR (the scripts' and Docker's), else the user's
    state folder: the same place whatever the current folder, also under plain spark-submit."""
    if settings.dir:
        return Path(settings.dir).expanduser()
    if os.environ.get(LOG_DIR_ENV):
        return Path(os.environ[LOG_DIR_ENV])
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "spark-etl" / "logs"


def configure_logging(settings: LoggingSettings | None = None, level: str | None = None) -> Path:
    """Progress on stderr at ``level`` (else ``logging.level``); everything, with traces, in
    the log file."""
    settings = settings or LoggingSettings()
    folder = log_dir(settings)
    log_file = folder / LOG_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        file_handler = RotatingFileHandler(
            log_file,
            maxBytes=settings.max_mb * 1024 * 1024,
            backupCount=settings.backups,
            encoding="utf-8",
        )
    except OSError as exc:
        raise ConfigError(
            f"Log folder {folder} is not writable ({exc.strerror}); set logging.dir or "
            f"{LOG_DIR_ENV} to a folder you can write to."
        ) from None
    file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
    file_handler.setLevel(logging.DEBUG)
    file_handler.addFilter(RunFields())
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(_NoTraceFormatter(terminal=sys.stderr.isatty()))
    console.setLevel(level or settings.level)
    root = logging.getLogger()
    root.handlers[:] = [file_handler, console]
    root.setLevel(logging.WARNING)
    logging.getLogger("spark_etl").setLevel(logging.DEBUG)
    return log_file
