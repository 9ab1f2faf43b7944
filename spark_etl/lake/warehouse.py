"""Where the lake's files go: the warehouse folder, checked before Spark starts."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from spark_etl.errors import ConfigError
from spark_etl.io.folders import writable_folder


def warehouse_folder(warehouse: str) -> Path:
    """The absolute local folder of a ``lake.warehouse`` setting (a folder or a file:// URI)."""
    parsed = urlparse(warehouse)
    return Path(parsed.path if parsed.scheme == "file" else warehouse).resolve()


def file_uri(path: Path) -> str:
    """``file://`` and the absolute path as it is: pyiceberg opens a location's path without
    decoding it, so a character ``Path.as_uri`` would escape (``=`` of a Spark partition
    folder) must stay as it is."""
    return f"file://{path}"


def warehouse_uri(warehouse: str) -> str:
    """The warehouse as the catalog records it: a file:// URI of the absolute folder."""
    return file_uri(warehouse_folder(warehouse))


def table_location(warehouse: str, namespace: str, table: str) -> str:
    """Where the lake keeps a table: ``<warehouse>/<namespace>/<table>`` (pyiceberg's SQL
    catalog's own default, set explicitly so a reader of the folder can rely on it)."""
    return f"{warehouse_uri(warehouse)}/{namespace}/{table}"


def check_warehouse(warehouse: str) -> Path:
    """Create the warehouse folder when missing; a folder that cannot be created or written is
    a ConfigError (before Spark starts). Returns the folder."""
    return writable_folder(
        warehouse_folder(warehouse),
        "Lake warehouse",
        "set lake.warehouse (or SPARK_ETL_LAKE_WAREHOUSE) to a folder this user can write, or "
        "null for no lake.",
        ConfigError,
    )
