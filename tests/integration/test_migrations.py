"""Tables from the entity definitions: created, migrated by additions only, conflicts refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_etl.cli import main as cli
from spark_etl.db import migrations
from spark_etl.db.migrations import SchemaConflictError
from spark_etl.definitions import load_entities
from tests.helpers import create_model, open_connection, query

pytestmark = pytest.mark.integration

CUSTOMER_YAML = (
    Path(__file__).parents[2] / "spark_etl/definitions/entities/customer.yaml"
).read_text()


def customer_folder(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "entities"
    folder.mkdir(exist_ok=True)
    (folder / "customer.yaml").write_text(text, encoding="utf-8")
    return folder


def columns_of(connection, settings, table: str) -> list[tuple[str, str, str]]:
    return query(
        connection,
        settings,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        settings.database.db_schema,
        table,
    )


def conflict_after(settings, connection, tmp_path: Path, customer_yaml: str) -> str:
    """The conflict planning the customer definition ``customer_yaml`` raises on a database the
    built-in definitions created."""
    schema = settings.database.db_schema
    conn = open_connection(connection, schema)
    try:
        create_model(conn, schema)
        model = load_entities(customer_folder(tmp_path, customer_yaml))
        with pytest.raises(SchemaConflictError) as error:
            migrations.plan(conn, schema, model, (model.entity("customer"),))
    finally:
        conn.close()
    return str(error.value)


def test_a_second_plan_after_creating_the_model_has_nothing_to_apply(db_settings, connection):
    schema = db_settings.database.db_schema
    conn = open_connection(connection, schema)
    try:
        create_model(conn, schema)
        model = load_entities()

        assert migrations.plan(conn, schema, model, model.entities) == []
    finally:
        conn.close()
    assert query(
        connection,
        db_settings,
        "SELECT change FROM etl_migration WHERE table_name = 'cart' ORDER BY migration_id",
    ) == [
        ("create table cart",),
        ("create partition cart_default",),
        ("create index cart_customer_idx",),
        ("create index cart_product_idx",),
        ("create index cart_created_at_idx",),
    ]


def test_an_index_the_definitions_retired_is_dropped_from_every_partition(db_settings, connection):
    schema = db_settings.database.db_schema
    conn = open_connection(connection, schema)
    try:
        create_model(conn, schema)
        with conn.cursor() as cur:  # a database an earlier version created, with a month
            cur.execute("CREATE INDEX cart_product_variation_idx ON cart (product_variation_id)")
            cur.execute(
                "CREATE TABLE cart_2024_01 PARTITION OF cart "
                "FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')"
            )
        conn.commit()
        model = load_entities()
        changes = migrations.plan(conn, schema, model, (model.entity("cart"),))
        script = migrations.render(conn, changes)
        migrations.apply(conn, changes, None, "test")
        again = migrations.plan(conn, schema, model, (model.entity("cart"),))
    finally:
        conn.close()

    assert (
        script
        == '-- drop index cart_product_variation_idx\nDROP INDEX "cart_product_variation_idx";'
    )
    assert again == []
    assert (
        query(
            connection,
            db_settings,
            "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = %s "
            "AND tablename LIKE 'cart%%' AND indexdef LIKE '%%product_variation_id%%'",
            schema,
        )
        == []
    )
    assert query(
        connection,
        db_settings,
        "SELECT change FROM etl_migration WHERE change LIKE 'drop %%'",
    ) == [("drop index cart_product_variation_idx",)]


def test_a_new_nullable_column_and_index_are_added_in_place(db_settings, connection, tmp_path):
    schema = db_settings.database.db_schema
    conn = open_connection(connection, schema)
    try:
        create_model(conn, schema)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO customer VALUES (1, 'Ada', '2020-01-01')")
        conn.commit()
        text = (
            CUSTOMER_YAML.replace(
                "    created_at: {rule: timestamp}\n",
                "    created_at: {rule: timestamp}\n    email: {rule: text, required: false}\n",
            )
            .replace(
                "  created_at: {type: timestamp, nullable: false}\n",
                "  created_at: {type: timestamp, nullable: false}\n  email: {type: text}\n",
            )
            .replace(
                "  name: customer\n", "  name: customer\n  indexes:\n    - {columns: [email]}\n"
            )
        )
        model = load_entities(customer_folder(tmp_path, text))
        changes = migrations.plan(conn, schema, model, (model.entity("customer"),))
        script = migrations.render(conn, changes)
        migrations.apply(conn, changes, None, "test")
    finally:
        conn.close()

    assert script == (
        "-- add column customer.email (text)\n"
        'ALTER TABLE "customer" ADD COLUMN "email" text;\n'
        "\n"
        "-- create index customer_email_idx\n"
        'CREATE INDEX "customer_email_idx" ON "customer" ("email");\n'
        "\n"
        "-- add column stage_customer.email (text)\n"
        'ALTER TABLE "stage_customer" ADD COLUMN "email" text;'
    )
    assert columns_of(connection, db_settings, "customer") == [
        ("customer_id", "bigint", "NO"),
        ("name", "text", "NO"),
        ("created_at", "timestamp without time zone", "NO"),
        ("email", "text", "YES"),
    ]
    assert query(connection, db_settings, "SELECT * FROM customer") == [
        (1, "Ada", __import__("datetime").datetime(2020, 1, 1), None)
    ]


@pytest.mark.parametrize(
    ("old", "new", "conflict"),
    [
        (
            "  name: {type: text, nullable: false}\n",
            '  name: {type: "varchar(80)", nullable: false}\n',
            "table customer, column name: defined as character varying(80) NOT NULL, the "
            "database has text NOT NULL",
        ),
        (
            "  created_at: {type: timestamp, nullable: false}\n",
            "  created_at: {type: timestamp, nullable: false}\n  tier: {type: integer, nullable: false}\n",
            "table customer, column tier: new and NOT NULL (integer NOT NULL), which rows "
            "already in the table cannot satisfy; declare it nullable",
        ),
    ],
)
def test_an_incompatible_change_is_refused_naming_both_definitions(
    db_settings, connection, tmp_path, old, new, conflict
):
    text = CUSTOMER_YAML.replace(old, new)
    if "tier" in new:
        text = text.replace(
            "    created_at: {rule: timestamp}\n",
            "    created_at: {rule: timestamp}\n    tier: {rule: whole_number}\n",
        )
    error = conflict_after(db_settings, connection, tmp_path, text)

    assert error == (
        "The database and the entity definitions disagree, beyond what a migration may add: "
        f"{conflict}. Nothing was changed: restore the definition, or migrate the table by hand."
    )


def test_a_column_removed_from_the_definition_is_refused(db_settings, connection, tmp_path):
    text = CUSTOMER_YAML.replace("    name: {rule: text}\n", "").replace(
        "  name: {type: text, nullable: false}\n", ""
    )
    error = conflict_after(db_settings, connection, tmp_path, text)

    assert error == (
        "The database and the entity definitions disagree, beyond what a migration may add: "
        "table customer, column name: the database has it (text NOT NULL), the definitions do "
        "not; columns are never dropped: declare it again. Nothing was changed: restore the "
        "definition, or migrate the table by hand."
    )


def test_plan_prints_the_ddl_and_changes_nothing(cli_env, db_settings, connection, capsys):
    code = cli.main("plan", ["customer_data_transform", "--config", str(cli_env)])

    out = capsys.readouterr().out
    schema = db_settings.database.db_schema
    assert code == 0
    assert out.startswith(
        f"-- plan for customer_data_transform in schema {schema}\n"
        "-- create table customer\n"
        'CREATE TABLE "customer" (\n'
        '    "customer_id" bigint NOT NULL,\n'
        '    "name" text NOT NULL,\n'
        '    "created_at" timestamp without time zone NOT NULL,\n'
        '    CONSTRAINT "customer_pkey" PRIMARY KEY ("customer_id")\n'
        ");\n"
    )
    assert (
        "\n-- then the analytics refresh after the load creates the other entities' tables\n" in out
    )
    assert query(
        connection,
        db_settings,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
        schema,
    ) == [(0,)]


def test_plan_of_an_incompatible_definition_exits_2_with_the_conflict(
    cli_env, db_settings, connection, tmp_path, capsys
):
    schema = db_settings.database.db_schema
    conn = open_connection(connection, schema)
    create_model(conn, schema)
    conn.close()
    folder = customer_folder(
        tmp_path, CUSTOMER_YAML.replace("  name: {type: text", '  name: {type: "varchar(80)"')
    )

    code = cli.main("plan", ["--config", str(cli_env), "--entities", str(folder)])

    assert code == 2
    assert capsys.readouterr().err.startswith(
        "error: The database and the entity definitions disagree, beyond what a migration may "
        "add: table customer, column name: defined as character varying(80) NOT NULL, the "
        "database has text NOT NULL. Nothing was changed"
    )
