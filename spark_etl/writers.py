"""Writers: DataFrames into PostgreSQL staging tables over JDBC. They never transform rows."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame

from spark_etl.config import Connection, DatabaseSettings

log = logging.getLogger(__name__)


def write_stage(
    frame: DataFrame, table: str, connection: Connection, settings: DatabaseSettings
) -> None:
    """Append ``frame`` to an existing (emptied) staging table.

    The staging tables are created by ``sql/schema.sql``; Spark only inserts, so it never
    recreates a table or loses its definition. Batched inserts are rewritten by the driver
    into multi-row statements, the fastest JDBC path into PostgreSQL.
    """
    properties = {
        "user": connection.user,
        "driver": "org.postgresql.Driver",
        "batchsize": str(settings.batch_size),
        "reWriteBatchedInserts": "true",
        "connectTimeout": str(settings.connect_timeout_seconds),
        "numPartitions": str(settings.write_partitions),
    }
    if connection.password is not None:
        properties["password"] = connection.password
    qualified = f'"{settings.db_schema}"."{table}"'
    log.debug("Staging into %s", qualified)
    frame.write.jdbc(connection.jdbc_url, qualified, mode="append", properties=properties)
