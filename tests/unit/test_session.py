"""The session builder's own checks."""

from __future__ import annotations

import pytest

from spark_etl.errors import ConfigError
from spark_etl.spark.session import build_session


def test_missing_jdbc_driver_is_reported_before_spark_starts(settings, tmp_path):
    jar = tmp_path / "postgresql.jar"

    with pytest.raises(ConfigError) as raised:
        build_session(settings.spark, str(jar))

    assert str(raised.value) == (
        f"PostgreSQL JDBC driver not found at {jar}; install libpostgresql-jdbc-java "
        "or set database.jdbc_jar (or SPARK_ETL_JDBC_JAR) to the jar's path."
    )


def test_session_runs_in_utc(spark):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.sparkContext._jvm.java.util.TimeZone.getDefault().getID() == "UTC"
