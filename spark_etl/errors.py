"""Errors a user can cause. Each carries one sentence: what is wrong and what to do."""

from __future__ import annotations


class EtlError(Exception):
    """Base class of every error the CLI reports as one line and exit code 2."""


class ConfigError(EtlError):
    """The configuration file or the command line is malformed."""


class InputError(EtlError):
    """An input file is missing, unreadable or does not follow the input contract."""


class DatabaseError(EtlError):
    """PostgreSQL is unreachable, refuses the credentials or rejects the load."""


class ConcurrentRunError(EtlError):
    """Another run of the ETL holds the load lock."""


class RefreshError(Exception):
    """The loads committed, but refreshing the analytics views after them failed."""


class AccountingError(RuntimeError):
    """Rows read or written differ from the rows counted: a defect, never a user error."""


class ArchiveError(EtlError):
    """An archive cannot be written, read back or restored; nothing was dropped."""
