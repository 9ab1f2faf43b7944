"""Settings: defaults, overrides, and one clear sentence for each mistake, before Spark starts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from spark_etl.config import Connection, connection_from_env, load_settings, password_from_pgpass
from spark_etl.db.postgres import quoted
from spark_etl.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "etl.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load(monkeypatch):
    monkeypatch.delenv("SPARK_ETL_JDBC_JAR", raising=False)

    settings = load_settings()

    assert settings.database.db_schema == "public"
    assert settings.database.jdbc_jar == "/usr/share/java/postgresql.jar"
    assert settings.validation.timestamp_formats == ("yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd")
    assert settings.input.format == "auto"


def test_a_file_overrides_only_the_keys_it_names(tmp_path):
    path = write(tmp_path, "database:\n  schema: shop\n  batch_size: 500\n")

    settings = load_settings(path)

    assert (settings.database.db_schema, settings.database.batch_size) == ("shop", 500)
    assert settings.database.write_partitions == 2
    assert settings.database.refresh_connections == 2


def test_jdbc_jar_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SPARK_ETL_JDBC_JAR", "/opt/jars/postgresql-42.7.4.jar")

    assert load_settings().database.jdbc_jar == "/opt/jars/postgresql-42.7.4.jar"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("database:\n  shcema: shop\n", "unknown key 'database.shcema'"),
        (
            "database:\n  batch_size: many\n",
            "'database.batch_size': Input should be a valid integer",
        ),
        (
            "database:\n  batch_size: 0\n",
            "'database.batch_size': Input should be greater than or equal to 1",
        ),
        (
            "input:\n  format: xml\n",
            "'input.format': Input should be 'auto', 'csv', 'jsonl' or 'parquet'",
        ),
        (
            'database:\n  schema: "shop; DROP TABLE cart"\n',
            "'database.schema': Value error, must be a lower-case SQL identifier: letters, digits and _, at most 63",
        ),
        ("spark:\n  ui_enabled: 'yes'\n", "'spark.ui_enabled': Input should be a valid boolean"),
        (
            "database:\n  stage_writer: bulk\n",
            "'database.stage_writer': Input should be 'copy' or 'jdbc'",
        ),
        (
            "spark:\n  driver_memory: 8 GB\n",
            "'spark.driver_memory': String should match pattern '^[0-9]+[kmgt]$'",
        ),
        (
            "report:\n  currency: €\n",
            "'report.currency': String should match pattern '^[A-Z]{3}$'",
        ),
        (
            "database:\n  refresh_connections: 0\n",
            "'database.refresh_connections': Input should be greater than or equal to 1",
        ),
    ],
)
def test_malformed_setting_is_named_in_one_sentence(tmp_path, text, problem):
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as raised:
        load_settings(path)

    assert str(raised.value) == f"Configuration {path} is invalid: {problem}."


def test_yaml_syntax_error_is_reported(tmp_path):
    path = write(tmp_path, "database: [unclosed\n")

    with pytest.raises(ConfigError) as raised:
        load_settings(path)

    assert (
        str(raised.value)
        == f"Configuration file {path} is not valid YAML (ParserError); fix its syntax."
    )


def test_yaml_that_is_not_a_mapping_is_reported(tmp_path):
    path = write(tmp_path, "- a\n- b\n")

    with pytest.raises(ConfigError, match="must hold a mapping of sections, not list"):
        load_settings(path)


def test_missing_config_file_is_reported(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_settings(tmp_path / "nope.yaml")

    assert (
        str(raised.value)
        == f"Configuration file {tmp_path}/nope.yaml does not exist; check the --config path."
    )


def test_empty_config_file_means_defaults(tmp_path):
    assert load_settings(write(tmp_path, "")) == load_settings()


def test_connection_uses_libpq_defaults(tmp_path):
    connection = connection_from_env({"PGUSER": "ana", "PGPASSFILE": str(tmp_path / "none")})

    assert (
        connection.host,
        connection.port,
        connection.database,
        connection.user,
        connection.password,
    ) == (
        "localhost",
        5432,
        "ana",
        "ana",
        None,
    )
    assert connection.jdbc_url == "jdbc:postgresql://localhost:5432/ana"
    # no password: none is sent (the server's pgpass or trust decides), not an empty one
    assert connection.jdbc_properties(7) == {
        "user": "ana",
        "driver": "org.postgresql.Driver",
        "connectTimeout": "7",
    }


def test_jdbc_properties_carry_the_password_when_there_is_one():
    connection = Connection("db", 5433, "shop", "etl", "s3cret")

    assert connection.jdbc_properties(10)["password"] == "s3cret"


def test_identifiers_become_text_quoted_in_one_place():
    assert quoted("public", "cart") == '"public"."cart"'
    assert quoted('we"ird') == '"we""ird"'


def test_password_never_appears_in_the_connection_repr():
    connection = connection_from_env({"PGUSER": "ana", "PGPASSWORD": "s3cret!"})

    assert "s3cret" not in repr(connection)
    assert connection.password == "s3cret!"


def test_password_comes_from_the_matching_pgpass_line(tmp_path):
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(
        "# comment\nother:5432:*:ana:wrong\n127.0.0.1:54329:*:ana:pa\\:ss\\\\word\n",
        encoding="utf-8",
    )

    connection = connection_from_env(
        {"PGHOST": "127.0.0.1", "PGPORT": "54329", "PGUSER": "ana", "PGPASSFILE": str(pgpass)}
    )

    assert connection.password == "pa:ss\\word"
    assert password_from_pgpass(pgpass, "127.0.0.1", 5432, "db", "ana") is None


def test_port_must_be_a_number():
    with pytest.raises(ConfigError) as raised:
        connection_from_env({"PGPORT": "fivefour"})

    assert str(raised.value) == "PGPORT must be a port number, not 'fivefour'."


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "validation:\n  quantity: {min: 10, max: 5}\n",
            "'validation.quantity': Value error, min must not exceed max",
        ),
        (
            "validation:\n  price: {min: 0.5, max: '10.00'}\n",
            "'validation.price.min': Value error, write a quoted decimal such as \"9.99\" or a whole number, not a float",
        ),
        (
            "validation:\n  price: {min: '0.001', max: '10.00'}\n",
            "'validation.price.min': Decimal input should have no more than 2 decimal places",
        ),
        (
            "validation:\n  future_days: -1\n",
            "'validation.future_days': Input should be greater than or equal to 0",
        ),
        (
            "validation:\n  future_days: '2'\n",
            "'validation.future_days': Input should be a valid integer",
        ),
    ],
)
def test_validation_ranges_are_checked(tmp_path, text, problem):
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as raised:
        load_settings(path)

    assert str(raised.value) == f"Configuration {path} is invalid: {problem}."


def test_validation_ranges_are_applied(tmp_path):
    settings = load_settings(
        write(tmp_path, "validation:\n  quantity: {max: 50}\n  price: {min: '0.01', max: 500}\n")
    )

    assert (settings.validation.quantity.min, settings.validation.quantity.max) == (1, 50)
    assert (str(settings.validation.price.min), str(settings.validation.price.max)) == (
        "0.01",
        "500",
    )


def test_the_moved_cart_hash_partitions_key_says_where_it_went(tmp_path):
    path = write(tmp_path, "database:\n  cart_hash_partitions: 8\n")

    with pytest.raises(ConfigError) as error:
        load_settings(path)

    assert str(error.value) == (
        f"Configuration {path}: database.cart_hash_partitions moved to the cart entity definition "
        "(table.partitioning.hash.partitions); copy spark_etl/definitions/entities/cart.yaml into an "
        "--entities folder and change it there."
    )


def test_retention_keeps_everything_by_default_and_archives_under_local(monkeypatch):
    monkeypatch.delenv("SPARK_ETL_ARCHIVE_DIR", raising=False)

    retention = load_settings().retention

    assert (retention.cart_months, retention.audit_days) == (None, None)
    assert retention.archive_dir == ".local/archive"


def test_archive_dir_of_the_installation_gives_way_to_the_users_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARK_ETL_ARCHIVE_DIR", "/data/archive")

    assert load_settings().retention.archive_dir == "/data/archive"
    assert load_settings(write(tmp_path, "retention:\n  cart_months: 6\n")).retention == (
        load_settings().retention.model_copy(update={"cart_months": 6})
    )
    mine = write(tmp_path, "retention:\n  archive_dir: s3a://bucket/archive\n")
    assert load_settings(mine).retention.archive_dir == "s3a://bucket/archive"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("cart_months: 0", "'retention.cart_months': Input should be greater than or equal to 1"),
        ("audit_days: '30'", "'retention.audit_days': Input should be a valid integer"),
        ("keep_months: 12", "unknown key 'retention.keep_months'"),
    ],
)
def test_retention_settings_are_checked_before_spark_starts(tmp_path, text, problem):
    path = write(tmp_path, f"retention:\n  {text}\n")

    with pytest.raises(ConfigError) as error:
        load_settings(path)

    assert str(error.value) == f"Configuration {path} is invalid: {problem}."


def test_named_ranges_join_price_and_quantity(tmp_path):
    settings = load_settings(
        write(tmp_path, "validation:\n  ranges:\n    rating: {min: 1, max: 5}\n")
    )

    assert settings.validation.bounds() == {
        "price": (Decimal("0.00"), Decimal("9999999999.99")),
        "quantity": (Decimal(1), Decimal(100000)),
        "rating": (Decimal(1), Decimal(5)),
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "ranges: {price: {min: 1, max: 2}}",
            "'validation.ranges': Value error, price is set as validation.price, not here",
        ),
        (
            "ranges: {rating: {min: 5, max: 1}}",
            "'validation.ranges.rating': Value error, min must not exceed max",
        ),
        (
            "ranges: {weight: {min: 0.5, max: 2}}",
            "'validation.ranges.weight.min': Value error, write a quoted decimal such as \"9.99\" or a whole number, not a float",
        ),
    ],
)
def test_named_ranges_are_checked(tmp_path, text, problem):
    path = write(tmp_path, f"validation:\n  {text}\n")

    with pytest.raises(ConfigError) as raised:
        load_settings(path)

    assert str(raised.value) == f"Configuration {path} is invalid: {problem}."


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "months: {review: 0}",
            "'retention.months.review': Input should be greater than or equal to 1",
        ),
        (
            "months: {Review: 12}",
            "'retention.months.Review.[key]': Value error, must be a lower-case SQL identifier: letters, digits and _, at most 63",
        ),
    ],
)
def test_retention_months_of_an_entity_are_checked(tmp_path, text, problem):
    path = write(tmp_path, f"retention:\n  {text}\n")

    with pytest.raises(ConfigError) as error:
        load_settings(path)

    assert str(error.value) == f"Configuration {path} is invalid: {problem}."


def test_no_lake_by_default_and_the_installations_lake_gives_way_to_the_users_file(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("SPARK_ETL_LAKE_WAREHOUSE", raising=False)
    assert load_settings().lake.model_dump() == {
        "warehouse": None,
        "namespace": "spark_etl",
        "keep_snapshots_days": 7,
    }

    monkeypatch.setenv("SPARK_ETL_LAKE_WAREHOUSE", "/data/lake")
    assert load_settings().lake.warehouse == "/data/lake"
    mine = write(
        tmp_path,
        "lake:\n  warehouse: file:///srv/lake\n  namespace: shop\n  keep_snapshots_days: 0\n",
    )
    assert load_settings(mine).lake.model_dump() == {
        "warehouse": "file:///srv/lake",
        "namespace": "shop",
        "keep_snapshots_days": 0,
    }
    off = write(tmp_path, "lake:\n  warehouse: null\n")
    assert load_settings(off).lake.warehouse is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "warehouse: s3://bucket/lake",
            "'lake.warehouse': Value error, give a folder or a file:// URI (no other file "
            "system yet)",
        ),
        (
            "namespace: Shop-1",
            "'lake.namespace': Value error, must be a lower-case SQL identifier: letters, "
            "digits and _, at most 63",
        ),
        ("catalog: mine", "unknown key 'lake.catalog'"),
        (
            "keep_snapshots_days: -1",
            "'lake.keep_snapshots_days': Input should be greater than or equal to 0",
        ),
    ],
)
def test_lake_settings_are_checked_before_spark_starts(tmp_path, text, problem):
    path = write(tmp_path, f"lake:\n  {text}\n")

    with pytest.raises(ConfigError) as error:
        load_settings(path)

    assert str(error.value) == f"Configuration {path} is invalid: {problem}."
