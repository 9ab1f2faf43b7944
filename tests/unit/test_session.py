"""The session builder: spark-submit's properties win, the settings fill what it left unset,
what the model needs is always set, and a missing JDBC driver is one line naming the ways."""

from __future__ import annotations

import pytest

from spark_etl.errors import ConfigError
from spark_etl.spark.session import build_session, properties

WAYS = (
    "Give it one of four ways: spark-submit --jars /path/postgresql.jar, spark-submit --packages "
    "org.postgresql:postgresql:42.7.4, spark.jars in spark-defaults.conf, or database.jdbc_jar "
    "(SPARK_ETL_JDBC_JAR) naming the jar (Debian/Ubuntu: apt-get install "
    "libpostgresql-jdbc-java)."
)


def test_missing_jdbc_driver_is_reported_before_spark_starts(settings, tmp_path):
    jar = tmp_path / "postgresql.jar"

    with pytest.raises(ConfigError) as raised:
        build_session(settings.spark, str(jar))

    assert str(raised.value) == (
        f"PostgreSQL JDBC driver not found: no jar at {jar} (database.jdbc_jar). {WAYS}"
    )


def test_spark_submit_wins_and_the_settings_fill_what_it_left_unset(settings, tmp_path):
    submitted = {
        "spark.master": "spark://cluster:7077",
        "spark.sql.shuffle.partitions": "3",
        "spark.app.name": "main.py",  # spark-submit's default: the script
        "spark.jars.packages": "org.postgresql:postgresql:42.7.4",
        "spark.executor.extraJavaOptions": "-XX:+UseG1GC",
        "spark.sql.session.timeZone": "Europe/Berlin",
    }

    chosen, source = properties(settings.spark, str(tmp_path / "absent.jar"), submitted)

    assert "spark.sql.shuffle.partitions" not in chosen and "spark.master" not in chosen
    assert "spark.jars" not in chosen  # --packages gives the driver: no local jar needed
    assert chosen["spark.app.name"] == "spark-etl-tests"
    assert chosen["spark.executor.extraJavaOptions"] == "-XX:+UseG1GC -Duser.timezone=UTC"
    assert chosen["spark.sql.session.timeZone"] == "UTC"  # the model's times need it
    assert source == {
        "spark.app.name": "settings",
        "spark.master": "spark-submit",
        "spark.sql.shuffle.partitions": "spark-submit",
        "spark.ui.enabled": "settings",
        "spark.ui.showConsoleProgress": "settings",
        "spark.sql.inMemoryColumnarStorage.compressed": "settings",
        "spark.jars": "spark-submit",
    }


def test_without_spark_submit_the_settings_apply(settings):
    chosen, source = properties(settings.spark, settings.database.jdbc_jar, {})

    assert chosen["spark.master"] == "local[2]"
    assert chosen["spark.sql.shuffle.partitions"] == "2"
    assert chosen["spark.jars"] == settings.database.jdbc_jar
    assert chosen["spark.driver.extraJavaOptions"] == "-Duser.timezone=UTC"
    assert source["spark.jars"] == "database.jdbc_jar"


def test_session_runs_in_utc(spark):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.sparkContext._jvm.java.util.TimeZone.getDefault().getID() == "UTC"
