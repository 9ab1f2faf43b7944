"""The embedded PostgreSQL runs with the settings the docs promise for bulk loads (docs/model.md)."""

from __future__ import annotations

import pytest

from tests.helpers import open_connection

pytestmark = pytest.mark.integration


def test_the_embedded_server_is_tuned_for_bulk_loads(postgres_server, connection):
    if postgres_server is None:
        pytest.skip("the tests run against a PostgreSQL given by PGHOST, not the embedded one")
    conn = open_connection(connection)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT name, setting, unit FROM pg_settings WHERE name IN ('wal_level', "
                "'max_wal_senders', 'shared_buffers', 'work_mem', 'maintenance_work_mem') "
                "ORDER BY name"
            )
            settings = [tuple(row.values()) for row in cur.fetchall()]
    finally:
        conn.close()

    assert settings == [
        ("maintenance_work_mem", "524288", "kB"),
        ("max_wal_senders", "0", None),
        ("shared_buffers", "131072", "8kB"),
        ("wal_level", "minimal", None),
        ("work_mem", "65536", "kB"),
    ]
