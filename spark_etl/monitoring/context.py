"""Which job and run the current code works for, on every log line: the job of the
invocation, then the entity job and its ``etl_run`` id while a load runs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

NONE = "-"
_job: ContextVar[str] = ContextVar("spark_etl_job", default=NONE)
_run: ContextVar[str] = ContextVar("spark_etl_run", default=NONE)


@contextmanager
def scope(job: str, run_id: str | None = None) -> Iterator[None]:
    """Log lines inside the block name ``job`` and ``run_id`` (the caller's run, if none)."""
    job_token = _job.set(job)
    run_token = _run.set(run_id) if run_id else None
    try:
        yield
    finally:
        if run_token is not None:
            _run.reset(run_token)
        _job.reset(job_token)


class RunFields(logging.Filter):
    """Adds ``job`` and ``run`` to every record its handler formats."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job = _job.get()
        record.run = _run.get()
        return True
