"""The lake in the harness: the Iceberg tables written whole from what the suite loaded (what
the first load with ``lake.warehouse`` set writes), timed per table against the PostgreSQL stage
of the same rows, and the files' size against PostgreSQL's."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from spark_etl.config import LakeSettings
from spark_etl.db import postgres
from spark_etl.lake.schema import lake_tables
from spark_etl.lake.write import LakeRun, lake_catalog, write_tables
from spark_etl.runs.run_context import RunContext


def measure(spark: Any, ctx: RunContext, warehouse: Path) -> dict[str, Any]:
    """Write every entity's lake tables into ``warehouse`` (emptied first) from PostgreSQL:
    seconds per entity; rows, files and Parquet bytes per table (its current snapshot's data
    files), and PostgreSQL's bytes for the same table (its heap, and with its indexes), summed
    over its partitions."""
    shutil.rmtree(warehouse, ignore_errors=True)
    lake = LakeSettings(warehouse=str(warehouse))
    db = ctx.settings.database
    conn = postgres.open_model(ctx.connection, db)
    result: dict[str, Any] = {"entities": {}, "tables": {}}
    try:
        for entity in ctx.model.entities:
            started = time.perf_counter()
            run = LakeRun(spark, conn, ctx.connection, db, lake, str(uuid.uuid4()))
            written = write_tables(run, lake_tables(entity, ctx.model))
            result["entities"][entity.entity] = round(time.perf_counter() - started, 2)
            with lake_catalog(ctx.connection, db, lake) as catalog:
                for table in written:
                    files = catalog.load_table((lake.namespace, table.table)).scan().plan_files()
                    result["tables"][table.table] = {
                        "rows": table.rows,
                        "files": table.added,
                        "parquet_bytes": sum(task.file.file_size_in_bytes for task in files),
                        **_pg_bytes(conn, table.table),
                    }
    finally:
        conn.close()
    return result


def _pg_bytes(conn: Any, table: str) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute(
            # the leaves of a partitioned table (its root has no storage), or the table itself
            "SELECT coalesce(sum(pg_relation_size(relid)), 0) AS heap, "
            "coalesce(sum(pg_total_relation_size(relid)), 0) AS total FROM ("
            "SELECT relid FROM pg_partition_tree(CAST(%s AS regclass)) WHERE isleaf "
            "UNION SELECT CAST(%s AS regclass)) tables",
            (table, table),
        )
        row = cur.fetchone()
    conn.commit()
    return {"pg_heap_bytes": int(row["heap"]), "pg_total_bytes": int(row["total"])}


def section(results: list[dict[str, Any]]) -> list[str]:
    """The lake's table: its write against the cart's PostgreSQL stage, and its size."""
    measured = [r for r in results if "lake" in r]
    if not measured:
        return []
    lines = [
        "",
        "The lake (`lake.warehouse`, Apache Iceberg), written whole after the suite from what "
        "PostgreSQL holds (what the first load with a lake writes: read back by Spark over "
        "JDBC, Parquet written by the executors, one snapshot committed by pyiceberg), against "
        "the cart load's PostgreSQL stage of the same rows; sizes are the Parquet files against "
        "the table's heap (and with its indexes) in PostgreSQL:",
        "",
        "| cart lines | lake write, cart (s) | rows/s | stage, cart (s) | rows/s | lake ÷ stage "
        "| Parquet (MB) | PostgreSQL heap (MB) | with indexes (MB) | Parquet ÷ heap "
        "| other tables (s) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in measured:
        cart = r["lake"]["tables"]["cart"]
        seconds = r["lake"]["entities"]["cart"]
        stage = r["suite"]["jobs"]["cart_data_transform"]["stage"]
        rows = cart["rows"]
        others = sum(t for name, t in r["lake"]["entities"].items() if name != "cart")
        mb = 1024 * 1024
        lines.append(
            "| "
            + " | ".join(
                [
                    f"{r['size']:,}",
                    f"{seconds:.1f}",
                    f"{rows / seconds:,.0f}",
                    f"{stage:.1f}",
                    f"{rows / stage:,.0f}",
                    f"{seconds / stage:.2f}",
                    f"{cart['parquet_bytes'] / mb:.1f}",
                    f"{cart['pg_heap_bytes'] / mb:.1f}",
                    f"{cart['pg_total_bytes'] / mb:.1f}",
                    f"{cart['parquet_bytes'] / cart['pg_heap_bytes']:.2f}",
                    f"{others:.1f}",
                ]
            )
            + " |"
        )
    return lines
