"""Logging of every command: progress lines on stderr, everything with traces in the log file."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from spark_etl.errors import ConfigError
from spark_etl.spark import progress

LOG_DIR_ENV = "SPARK_ETL_LOG_DIR"


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
