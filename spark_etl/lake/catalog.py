"""The lake's catalog: pyiceberg's ``SqlCatalog`` named ``spark_etl``, its tables
(``iceberg_tables``, ``iceberg_namespace_properties``) in the model's own PostgreSQL schema,
so Iceberg's Java ``JdbcCatalog`` on the same database finds the same tables."""

from __future__ import annotations

import logging

from pyiceberg.catalog.sql import SqlCatalog
from sqlalchemy.engine import URL

from spark_etl.config import Connection, DatabaseSettings, LakeSettings
from spark_etl.lake.warehouse import warehouse_uri

log = logging.getLogger(__name__)

CATALOG = "spark_etl"
DRIVER = "postgresql+psycopg2"


def catalog_url(connection: Connection, db: DatabaseSettings) -> URL:
    """The SQLAlchemy URL of the model's database: its schema first on the search path, the
    libpq connection's TLS settings and timeout. Its ``str`` hides the password."""
    query = {
        "options": f"-csearch_path={db.db_schema}",  # an Identifier: no quoting needed
        "application_name": "spark-etl lake",
        "connect_timeout": str(db.connect_timeout_seconds),
        **dict(connection.ssl),
    }
    return URL.create(
        DRIVER,
        username=connection.user,
        password=connection.password,
        host=connection.host,
        port=connection.port,
        database=connection.database,
        query=query,
    )


def open_catalog(connection: Connection, db: DatabaseSettings, lake: LakeSettings) -> SqlCatalog:
    """The catalog, its tables created when missing, and the lake's namespace in it."""
    assert lake.warehouse is not None
    url = catalog_url(connection, db)
    log.debug("Iceberg catalog %s at %s", CATALOG, url)  # the password shown as ***
    catalog = SqlCatalog(
        CATALOG,
        uri=url.render_as_string(hide_password=False),
        warehouse=warehouse_uri(lake.warehouse),
    )
    catalog.create_namespace_if_not_exists(lake.namespace)
    return catalog
