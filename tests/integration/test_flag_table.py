"""etl_flag without a surrogate key or a foreign key (a row per anomaly: their per-row costs were
most of the flag write): a table of an earlier version is brought to it keeping its rows, and a
load's flags still belong to a recorded run."""

from __future__ import annotations

import uuid

import pytest

from spark_etl.db import postgres
from spark_etl.db.flags import flag_rows
from spark_etl.definitions import load_entities
from spark_etl.errors import AccountingError
from tests.helpers import create_model, open_connection, query

pytestmark = pytest.mark.integration

RUN = "6f1d0c2e-0000-4000-8000-000000000001"


def test_an_earlier_versions_flag_table_loses_its_keys_and_keeps_its_rows(db_settings, connection):
    schema = db_settings.database.db_schema
    conn = open_connection(connection)
    create_model(conn, schema)
    with conn.cursor() as cur:  # as the version before left it
        cur.execute("DROP TABLE etl_flag")
        cur.execute(
            "CREATE TABLE etl_flag (flag_id bigserial PRIMARY KEY, "
            "run_id uuid NOT NULL REFERENCES etl_run (run_id), job text NOT NULL, "
            "record_id bigint NOT NULL, flag text NOT NULL)"
        )
        cur.execute(
            "INSERT INTO etl_run (run_id, job, as_of, started_at, status) "
            "VALUES (%s, 'cart_data_transform', now(), now(), 'succeeded')",
            (RUN,),
        )
        cur.execute(
            "INSERT INTO etl_flag (run_id, job, record_id, flag) "
            "VALUES (%s, 'cart_data_transform', 7, 'created before its product')",
            (RUN,),
        )
    conn.commit()

    postgres.apply_schema(conn, schema)
    postgres.apply_schema(conn, schema)  # and again: nothing left to change
    conn.close()

    assert query(
        connection,
        db_settings,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = 'etl_flag' ORDER BY ordinal_position",
        schema,
    ) == [("run_id",), ("job",), ("record_id",), ("flag",)]
    assert (
        query(
            connection,
            db_settings,
            "SELECT conname FROM pg_constraint WHERE conrelid = CAST(to_regclass(%s) AS oid)",
            f"{schema}.etl_flag",
        )
        == []
    )
    assert query(connection, db_settings, "SELECT job, record_id, flag FROM etl_flag") == [
        ("cart_data_transform", 7, "created before its product")
    ]


def test_flags_of_a_run_that_etl_run_does_not_hold_are_refused(db_settings, connection):
    schema = db_settings.database.db_schema
    conn = open_connection(connection, schema)
    create_model(conn, schema)
    model = load_entities()
    missing = str(uuid.uuid4())
    try:
        with conn.cursor() as cur, pytest.raises(AccountingError) as error:
            flag_rows(cur, model, model.entity("cart"), missing, "cart_data_transform")
    finally:
        conn.rollback()
        conn.close()

    assert str(error.value) == (
        f"etl_run holds no run {missing} for the flags of cart_data_transform."
    )
