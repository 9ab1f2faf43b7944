"""Typed settings: YAML defaults merged with a user file, validated before Spark starts.

Where PostgreSQL is comes from the libpq environment, never from this file
(``spark_etl.config.connection``).
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from spark_etl.config.quality import QualitySettings
from spark_etl.config.types import Identifier, Section
from spark_etl.errors import ConfigError

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:  # Python 3.10 has it in importlib.abc only
        from importlib.abc import Traversable

DEFAULTS_FILE = "defaults.yaml"  # in the package, also when it runs from a zip
JDBC_JAR_ENV = "SPARK_ETL_JDBC_JAR"
ARCHIVE_DIR_ENV = "SPARK_ETL_ARCHIVE_DIR"  # the default archive folder of an installation
LAKE_WAREHOUSE_ENV = "SPARK_ETL_LAKE_WAREHOUSE"  # the default lake warehouse of an installation


class InputSettings(Section):
    format: Literal["auto", "csv", "jsonl", "parquet"]
    csv_multiline: bool


class SparkSettings(Section):
    master: str | None
    app_name: str
    shuffle_partitions: int = Field(ge=1)
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"]
    ui_enabled: bool
    driver_memory: str | None = Field(pattern=r"^[0-9]+[kmgt]$")


class DatabaseSettings(Section):
    db_schema: Identifier = Field(alias="schema")
    analytics_schema: Identifier
    jdbc_jar: str
    stage_writer: Literal["copy", "jdbc"]
    batch_size: int = Field(ge=1)
    write_partitions: int = Field(ge=1, le=64)
    refresh_connections: int = Field(ge=1, le=64)
    # the analytics refresh recomputes a month of the cart summaries whole when its changed
    # lines outnumber this share of its sales, and the sales per customer segment when more
    # than this share of the buying customers changed segment, and an answer kept per key
    # (analytics/kept.py) when more than this share of its keys changed (null: always apply
    # the changes line by line, key by key)
    summary_recompute_share: Decimal | None = Field(
        default=Decimal("0.25"), ge=0, le=1, strict=False
    )
    connect_timeout_seconds: int = Field(ge=1)


class QuantityRange(Section):
    min: int = Field(ge=1, le=2_147_483_647)
    max: int = Field(ge=1, le=2_147_483_647)

    @model_validator(mode="after")
    def _ordered(self) -> QuantityRange:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


MAX_PRICE = Decimal("9999999999.99")  # numeric(12,2)


def refuse_float(cls: type, value: object) -> object:
    """A ``mode="before"`` validator for decimals: a YAML float has already lost exactness."""
    if isinstance(value, float):
        raise ValueError('write a quoted decimal such as "9.99" or a whole number, not a float')
    return value


class PriceRange(Section):
    # Quoted in YAML ("0.00") so no float ever carries money; plain integers are accepted too.
    min: Decimal = Field(ge=0, le=MAX_PRICE, decimal_places=2, strict=False)
    max: Decimal = Field(ge=0, le=MAX_PRICE, decimal_places=2, strict=False)

    _no_float = field_validator("min", "max", mode="before")(refuse_float)

    @model_validator(mode="after")
    def _ordered(self) -> PriceRange:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class NamedRange(Section):
    """Inclusive bounds a definition's money or whole_number rule names with ``range:``."""

    min: Decimal = Field(strict=False)
    max: Decimal = Field(strict=False)

    _no_float = field_validator("min", "max", mode="before")(refuse_float)

    @model_validator(mode="after")
    def _ordered(self) -> NamedRange:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


BUILT_IN_RANGES = ("price", "quantity")


class ValidationSettings(Section):
    timestamp_formats: tuple[str, ...] = Field(min_length=1, strict=False)  # YAML lists
    quantity: QuantityRange
    price: PriceRange
    future_days: int = Field(ge=0, le=36_500)
    # more named ranges for the definitions' rules, beside the built-in price and quantity
    ranges: dict[Identifier, NamedRange] = Field(default_factory=dict)

    @field_validator("ranges")
    @classmethod
    def _not_built_in(cls, ranges: dict[str, NamedRange]) -> dict[str, NamedRange]:
        taken = sorted(set(ranges) & set(BUILT_IN_RANGES))
        if taken:
            raise ValueError(f"{', '.join(taken)} is set as validation.{taken[0]}, not here")
        return ranges

    def bounds(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Every named range: the built-in price and quantity, then ``ranges``."""
        return {
            "price": (self.price.min, self.price.max),
            "quantity": (Decimal(self.quantity.min), Decimal(self.quantity.max)),
            **{name: (bounds.min, bounds.max) for name, bounds in self.ranges.items()},
        }


class EntitySettings(Section):
    folder: str | None
    transform_modules: tuple[str, ...] = Field(default=(), strict=False)  # user transforms


class RetentionSettings(Section):
    # whole months of cart lines kept online, counted back from the newest month holding lines
    cart_months: int | None = Field(ge=1, le=1200)
    # the same for any entity range-partitioned by month (wins over cart_months and over the
    # retention.months of the entity's definition)
    months: dict[Identifier, Annotated[int, Field(ge=1, le=1200)]] = Field(default_factory=dict)
    # days the rejects and flags of a run stay online (its etl_run row always stays)
    audit_days: int | None = Field(ge=1, le=36_500)
    archive_dir: str = Field(min_length=1)  # a local folder, hdfs://..., s3a://...


class ReportSettings(Section):
    currency: str = Field(pattern=r"^[A-Z]{3}$")  # ISO 4217 code of every amount


class MetricsSettings(Section):
    """Where a load's figures go for monitoring (docs/operations.md, "Metrics")."""

    # a node-exporter textfile-collector file (*.prom), rewritten atomically after every load
    textfile: str | None = Field(default=None, pattern=r"\.prom$")
    # a Prometheus Pushgateway, pushed one group per job and entity
    pushgateway_url: str | None = Field(default=None, pattern=r"^https?://[^/\s:]+(:[0-9]+)?/?$")
    timeout_seconds: int = Field(default=10, ge=1, le=300)  # of a push


LOG_DIR_ENV = "SPARK_ETL_LOG_DIR"  # the default log folder of an installation


class LoggingSettings(Section):
    # the folder of spark-etl.log; null: $SPARK_ETL_LOG_DIR, else $XDG_STATE_HOME/spark-etl/logs
    # (~/.local/state/spark-etl/logs), whatever the current folder
    dir: str | None = None
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"  # stderr's lines (--log-level)
    max_mb: int = Field(default=20, ge=1, le=10_000)  # a full log file is rotated at this size
    backups: int = Field(default=5, ge=0, le=1000)  # rotated files kept: spark-etl.log.1 ...


LAKE_SCHEMES = ("", "file")  # where the lake's files may go (a folder, or a file:// URI)


class LakeSettings(Section):
    """The Apache Iceberg copy of the model (docs/configuration.md, "The lake")."""

    # the warehouse folder of the Iceberg tables, or a file:// URI; null: no lake
    warehouse: str | None = Field(default=None, min_length=1)
    # the Iceberg namespace of the tables, in the catalog spark_etl
    namespace: Identifier = "spark_etl"
    # lake expire: snapshots older than this many days are expired (never a table's current
    # one), and the files no snapshot left uses removed; readers can go back this far
    keep_snapshots_days: int = Field(default=7, ge=0, le=36500)

    @field_validator("warehouse")
    @classmethod
    def _local(cls, value: str | None) -> str | None:
        if value is not None and urlparse(value).scheme not in LAKE_SCHEMES:
            raise ValueError("give a folder or a file:// URI (no other file system yet)")
        return value


class Settings(Section):
    input: InputSettings
    spark: SparkSettings
    database: DatabaseSettings
    validation: ValidationSettings
    entities: EntitySettings
    retention: RetentionSettings
    report: ReportSettings
    quality: QualitySettings
    metrics: MetricsSettings
    logging: LoggingSettings
    lake: LakeSettings


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path | Traversable, label: str) -> Any:
    """The YAML document of a file; bad syntax or encoding is one ConfigError naming ``label``
    (the one place settings and definitions are parsed)."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{label} is not valid YAML ({exc.__class__.__name__}); fix its syntax."
        ) from None


def _read_yaml(path: Path | Traversable) -> dict[str, Any]:
    try:
        data = read_yaml(path, f"Configuration file {path}")
    except FileNotFoundError:
        raise ConfigError(
            f"Configuration file {path} does not exist; check the --config path."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"Configuration file {path} must hold a mapping of sections, not {type(data).__name__}."
        )
    return data


def _describe(error: ErrorDetails) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    return f"'{key}': {error['msg']}"


def load_settings(path: Path | None = None) -> Settings:
    """Return the defaults, overridden by the YAML file at ``path`` when given."""
    defaults = resources.files("spark_etl").joinpath(DEFAULTS_FILE)
    raw = _read_yaml(defaults)
    source = f"spark_etl/{DEFAULTS_FILE}"
    user: dict[str, Any] = {}
    if path is not None:
        user = _read_yaml(path)
        raw = _deep_merge(raw, user)
        source = str(path)
    if "cart_hash_partitions" in (raw.get("database") or {}):
        raise ConfigError(
            f"Configuration {source}: database.cart_hash_partitions moved to the cart entity "
            "definition (table.partitioning.hash.partitions); copy "
            "spark_etl/definitions/entities/cart.yaml into an --entities folder and change it "
            "there."
        )
    if os.environ.get(JDBC_JAR_ENV):
        raw["database"]["jdbc_jar"] = os.environ[JDBC_JAR_ENV]
    retention = raw.get("retention")
    user_archive = "archive_dir" in (user.get("retention") or {})
    if os.environ.get(ARCHIVE_DIR_ENV) and isinstance(retention, dict) and not user_archive:
        retention["archive_dir"] = os.environ[ARCHIVE_DIR_ENV]  # Docker's /data/archive
    lake = raw.get("lake")
    user_lake = "warehouse" in (user.get("lake") or {})  # null there: no lake, whatever the env
    if os.environ.get(LAKE_WAREHOUSE_ENV) and isinstance(lake, dict) and not user_lake:
        lake["warehouse"] = os.environ[LAKE_WAREHOUSE_ENV]
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ConfigError(f"Configuration {source} is invalid: {problems}.") from None
