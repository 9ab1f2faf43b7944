"""Errors a user can cause. Each carries one sentence: what is wrong and what to do."""

from __future__ import annotations


class EtlError(Exception):
    """Base class of every error the CLI reports as one line: exit code 2 (a mistake to fix),
    or 75 for a ``TemporaryError``."""


class ConfigError(EtlError):
    """The configuration file or the command line is malformed."""


class InputError(EtlError):
    """An input file is missing, unreadable or does not follow the input contract."""


class DatabaseError(EtlError):
    """PostgreSQL refuses the credentials, has no such database or rejects the load."""


class TemporaryError(EtlError):
    """A condition that passes by itself: run again later (exit code 75, EX_TEMPFAIL)."""


class DatabaseUnavailableError(TemporaryError, DatabaseError):
    """PostgreSQL does not answer, is starting, shutting down or in recovery, or full."""


class ConcurrentRunError(TemporaryError):
    """Another run of the ETL holds the load lock."""


class RefreshError(Exception):
    """The loads committed, but refreshing the analytics views after them failed."""


class LakeError(Exception):
    """A load committed to PostgreSQL, but writing the lake after it failed."""


class QualityGateError(Exception):
    """A load broke a quality gate and was rolled back (its rejects and figures are kept)."""


class AccountingError(RuntimeError):
    """Rows read or written differ from the rows counted: a defect, never a user error."""


class ArchiveError(EtlError):
    """An archive cannot be written, read back or restored; nothing was dropped."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, at most ``limit`` characters: what a user
    sees of a failure whose trace goes to the log file."""
    return (str(exc).strip().splitlines() or [""])[0][:limit]


def one_line(exc: BaseException) -> str:
    """``ClassName: first line of the message``, at most 500 characters: how a failure is
    recorded in ``etl_run``."""
    return f"{exc.__class__.__name__}: {first_line(exc, 500)}"[:500]


def cause_line(exc: BaseException) -> str:
    """The line of a Spark failure that names the Java exception (a Py4J message starts with
    the call that failed), else the first line; at most 300 characters."""
    text = str(exc).strip().splitlines()
    line = next((t for t in text if "Exception" in t or "Error" in t), text[0] if text else "")
    return line.strip()[:300]
