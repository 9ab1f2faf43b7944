"""The one run lifecycle every job shares: the load lock, the audit schema, interrupted runs
closed, the run recorded in ``etl_run`` (failed if its work raises), and "migrate, then
refresh the analytics views" after the model changed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Any

from spark_etl.analytics import refresh
from spark_etl.config import Connection, DatabaseSettings
from spark_etl.db import migrations, postgres
from spark_etl.definitions import Model
from spark_etl.errors import one_line
from spark_etl.monitoring import context


@contextmanager
def locked_model(conn: Any, db_schema: str) -> Iterator[None]:
    """Hold the load lock over the block, with the audit schema in place and the runs a dead
    process left 'running' marked failed."""
    with postgres.load_lock(conn):
        postgres.apply_schema(conn, db_schema)
        postgres.close_interrupted_runs(conn)
        yield


@contextmanager
def recorded_run(
    conn: Any,
    job: str,
    target: str,
    as_of: datetime,
    started: list[str],
    extract: str | None = None,
    backfill: bool | None = None,
) -> Iterator[str]:
    """Record a run of ``job`` as started (committed at once, its id appended to ``started``)
    and yield its id; if the block raises, the run's work is rolled back and the run is
    marked failed. The block commits its own work with ``postgres.finish_run``. A load gives
    its ``extract`` kind and whether it is a ``backfill`` (the row-count check's history)."""
    run_id = str(uuid.uuid4())
    postgres.start_run(conn, run_id, job, target, as_of, extract, backfill)
    started.append(run_id)
    try:
        with context.scope(job, run_id):  # every log line of the run names it
            yield run_id
    except BaseException as exc:
        postgres.fail_run(conn, run_id, one_line(exc))
        raise


def refresh_analytics(
    conn: Any,
    connection: Connection,
    db: DatabaseSettings,
    model: Model,
    seconds: dict[str, float] | None = None,
    rebuild: bool = False,
) -> list[str]:
    """Create the tables of entities no load has created yet (the views read every entity's
    tables), then refresh the views on ``conn`` and up to ``db.refresh_connections`` - 1 more
    connections like it; the caller holds the load lock."""
    migrations.migrate(conn, db.db_schema, model, model.entities, "analytics")
    return refresh.refresh(
        conn,
        db.db_schema,
        db.analytics_schema,
        seconds,
        rebuild,
        connect=partial(postgres.open_model, connection, db),
        connections=db.refresh_connections,
        recompute_share=db.summary_recompute_share,
    )
