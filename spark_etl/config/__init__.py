"""Typed settings, validated before Spark starts: ``settings`` (the sections of
``defaults.yaml`` and a user's ``--config``, the libpq connection) and ``quality`` (the gates a
load must pass to commit)."""

from spark_etl.config.connection import Connection, connection_from_env, password_from_pgpass
from spark_etl.config.quality import EntityGates, QualitySettings
from spark_etl.config.settings import (
    ARCHIVE_DIR_ENV,
    JDBC_JAR_ENV,
    LAKE_WAREHOUSE_ENV,
    LOG_DIR_ENV,
    DatabaseSettings,
    InputSettings,
    LakeSettings,
    LoggingSettings,
    MetricsSettings,
    Settings,
    SparkSettings,
    ValidationSettings,
    load_settings,
    read_yaml,
    refuse_float,
)
from spark_etl.config.types import SQL_IDENTIFIER, Identifier

__all__ = [
    "ARCHIVE_DIR_ENV",
    "JDBC_JAR_ENV",
    "LAKE_WAREHOUSE_ENV",
    "LOG_DIR_ENV",
    "SQL_IDENTIFIER",
    "Connection",
    "DatabaseSettings",
    "EntityGates",
    "Identifier",
    "InputSettings",
    "LakeSettings",
    "LoggingSettings",
    "MetricsSettings",
    "QualitySettings",
    "Settings",
    "SparkSettings",
    "ValidationSettings",
    "connection_from_env",
    "load_settings",
    "password_from_pgpass",
    "read_yaml",
    "refuse_float",
]
