"""The one place a SparkSession is built."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark import SparkContext
from pyspark.sql import SparkSession

from spark_etl.config import SparkSettings
from spark_etl.errors import ConfigError

log = logging.getLogger(__name__)

UTC_JAVA_OPTIONS = "-Duser.timezone=UTC"
JAVA_OPTIONS = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")
# What the product's results depend on: always these (a different value is overridden, said)
REQUIRED = {
    "spark.sql.session.timeZone": "UTC",
    # Unparseable dates become NULL (and are rejected by validation) instead of raising.
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.ansi.enabled": "false",
    # archives hold standard Parquet timestamps (UTC instants), not the legacy INT96
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
# the properties whose source the log names
SHOWN = ("spark.master", "spark.sql.shuffle.partitions", "spark.driver.memory", "spark.jars")
MISSING_DRIVER = (
    "PostgreSQL JDBC driver not found: {where}. Give it one of four ways: spark-submit --jars "
    "/path/postgresql.jar, spark-submit --packages org.postgresql:postgresql:42.7.4, "
    "spark.jars in spark-defaults.conf, or database.jdbc_jar (SPARK_ETL_JDBC_JAR) naming the jar "
    "(Debian/Ubuntu: apt-get install libpostgresql-jdbc-java)."
)


def _defaults(settings: SparkSettings) -> dict[str, str]:
    """What the settings fill when spark-submit left it unset."""
    return {
        "spark.app.name": settings.app_name,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.ui.enabled": str(settings.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        # A load caches its checked extract once for the passes after it (duplicates, counts,
        # staging). Compressing that cache cost more CPU than it saved: checking and caching
        # 10M cart lines took 49-62 s compressed, 37-49 s not, on 2 cores (1M: 6.6 s against
        # 3.6 s). What does not fit in memory spills to disk.
        "spark.sql.inMemoryColumnarStorage.compressed": "false",
        **({"spark.master": settings.master} if settings.master else {}),
        **({"spark.driver.memory": settings.driver_memory} if settings.driver_memory else {}),
    }


def submitted_properties() -> dict[str, str]:
    """The Spark properties spark-submit set (its flags, --conf, --properties-file and
    spark-defaults.conf), read from the JVM that started this process; empty when Python
    starts Spark itself (then the settings apply as they are)."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # set by spark-submit only
        return {}
    SparkContext._ensure_initialized()  # connects to spark-submit's JVM: starts nothing
    jvm = SparkContext._jvm
    assert jvm is not None
    return {entry._1(): entry._2() for entry in jvm.org.apache.spark.SparkConf(True).getAll()}


def properties(
    settings: SparkSettings, jdbc_jar: str, submitted: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The properties to set on the builder, and where each shown one comes from: spark-submit
    wins; the settings fill what it left unset; what correctness needs is always ours."""
    chosen: dict[str, str] = {}
    source: dict[str, str] = {}
    for key, value in _defaults(settings).items():
        # spark-submit names the application after the script unless given --name
        if key in submitted and not (key == "spark.app.name" and submitted[key].endswith(".py")):
            source[key] = "spark-submit"
        else:
            chosen[key], source[key] = value, "settings"
    for key, value in REQUIRED.items():
        if submitted.get(key, value) != value:
            log.warning("%s=%s from spark-submit replaced by %s: the model needs it", key,
                        submitted[key], value)  # fmt: skip
        chosen[key] = value
    for key in JAVA_OPTIONS:  # the user's options kept, the JVM's zone UTC
        given = submitted.get(key, "")
        if "-Duser.timezone=" not in given:
            chosen[key] = f"{given} {UTC_JAVA_OPTIONS}".strip()
    if submitted.get("spark.jars") or submitted.get("spark.jars.packages"):
        source["spark.jars"] = "spark-submit"  # --jars, --packages or spark-defaults.conf
    elif Path(jdbc_jar).is_file():
        chosen["spark.jars"], source["spark.jars"] = jdbc_jar, "database.jdbc_jar"
    else:
        raise ConfigError(MISSING_DRIVER.format(where=f"no jar at {jdbc_jar} (database.jdbc_jar)"))
    return chosen, source


def build_session(settings: SparkSettings, jdbc_jar: str) -> SparkSession:
    """Build (or reuse) a session pinned to UTC, with the PostgreSQL JDBC driver on its
    classpath. Under spark-submit, its properties win: the settings fill only what it left
    unset (the master, shuffle partitions, driver memory, the JDBC driver; the log says which
    came from where); a plain ``python`` launch takes the settings, ``local[*]`` by default."""
    submitted = submitted_properties()
    chosen, source = properties(settings, jdbc_jar, submitted)
    master = chosen.get("spark.master") or submitted.get("spark.master") or "local[*]"
    if master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # local workers start the python3 on the PATH, not this one: a spark-etl run from a
        # virtualenv that is not activated would find none of its packages there
        os.environ["PYSPARK_PYTHON"] = sys.executable
    builder = SparkSession.builder
    for key, value in chosen.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # Timestamps cross JDBC as java.sql.Timestamp, converted in the JVM's default zone.
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # set once the session has started
    jvm.java.util.TimeZone.setDefault(jvm.java.util.TimeZone.getTimeZone("UTC"))
    _check_driver(spark, source)
    spark.sparkContext.setLogLevel(settings.log_level)
    conf = spark.sparkContext.getConf()
    log.info(
        "Spark %s session ready: %s",
        spark.version,
        ", ".join(
            f"{key}={conf.get(key, 'default')} ({source.get(key, 'spark-submit')})"
            for key in SHOWN
            if key in source or conf.contains(key)
        ),
    )
    return spark


def _check_driver(spark: SparkSession, source: dict[str, str]) -> None:
    """The driver class loads, wherever the jar came from (a --packages typo fails here)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    try:
        jvm.java.lang.Class.forName("org.postgresql.Driver", True, loader)
    except Exception:  # py4j's error: the class is not on the driver's classpath
        jars = spark.sparkContext.getConf().get("spark.jars", "") or "none"
        raise ConfigError(
            MISSING_DRIVER.format(
                where=f"org.postgresql.Driver is not in spark.jars ({jars}), "
                f"from {source.get('spark.jars', 'spark-submit')}"
            )
        ) from None


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
