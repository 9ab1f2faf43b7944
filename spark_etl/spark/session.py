"""The one place a SparkSession is built."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from spark_etl.config import SparkSettings
from spark_etl.errors import ConfigError

log = logging.getLogger(__name__)

UTC_JAVA_OPTIONS = "-Duser.timezone=UTC"


def build_session(settings: SparkSettings, jdbc_jar: str) -> SparkSession:
    """Build (or reuse) a session pinned to UTC, with the PostgreSQL JDBC driver on its classpath.

    The master comes from spark-submit unless the settings name one; a plain ``python`` launch
    without either gets ``local[*]``.
    """
    if not Path(jdbc_jar).is_file():
        raise ConfigError(
            f"PostgreSQL JDBC driver not found at {jdbc_jar}; install libpostgresql-jdbc-java "
            "or set database.jdbc_jar (or SPARK_ETL_JDBC_JAR) to the jar's path."
        )
    builder = (
        SparkSession.builder.appName(settings.app_name)
        .config("spark.jars", jdbc_jar)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", UTC_JAVA_OPTIONS)
        .config("spark.executor.extraJavaOptions", UTC_JAVA_OPTIONS)
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        # Unparseable dates become NULL (and are rejected by validation) instead of raising.
        .config("spark.sql.legacy.timeParserPolicy", "CORRECTED")
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # archives hold standard Parquet timestamps (UTC instants), not the legacy INT96
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.ui.enabled", str(settings.ui_enabled).lower())
        # A load caches its checked extract once for the passes after it (duplicates, counts,
        # staging). Compressing that cache cost more CPU than it saved: checking and caching
        # 10M cart lines took 49-62 s compressed, 37-49 s not, on 2 cores (1M: 6.6 s against
        # 3.6 s). What does not fit in memory spills to disk.
        .config("spark.sql.inMemoryColumnarStorage.compressed", "false")
    )
    if settings.master:
        builder = builder.master(settings.master)
    if settings.driver_memory:  # only takes effect when this process starts the JVM
        builder = builder.config("spark.driver.memory", settings.driver_memory)
    spark = builder.getOrCreate()
    # Timestamps cross JDBC as java.sql.Timestamp, converted in the JVM's default zone.
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # set once the session has started
    jvm.java.util.TimeZone.setDefault(jvm.java.util.TimeZone.getTimeZone("UTC"))
    spark.sparkContext.setLogLevel(settings.log_level)
    log.info("Spark %s session ready (master %s)", spark.version, spark.sparkContext.master)
    return spark


@contextmanager
def spark_session(settings: SparkSettings, jdbc_jar: str) -> Iterator[SparkSession]:
    """A session that is stopped when the block ends, whatever happens inside it."""
    spark = build_session(settings, jdbc_jar)
    try:
        yield spark
    finally:
        spark.stop()


@contextmanager
def lazy_session(settings: SparkSettings, jdbc_jar: str) -> Iterator[Callable[[], SparkSession]]:
    """A function that builds the session on its first call, for jobs that may need none; the
    session is stopped when the block ends, if it was built."""
    built: list[SparkSession] = []

    def session() -> SparkSession:
        if not built:
            built.append(build_session(settings, jdbc_jar))
        return built[0]

    try:
        yield session
    finally:
        for spark in built:
            spark.stop()
