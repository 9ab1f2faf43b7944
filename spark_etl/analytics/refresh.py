"""The refresh of the analytics views: the cart summaries and the answers kept per key
(``kept.py``) brought up to date, every materialized view recomputed, each after what it reads
(those that do not read each other at once, on connections of their own). Each view is stored
twice and read through a plain view of its name: the refresh fills the twin nobody reads and
points the view at it, so readers do not wait for the refresh (at most ``lock_timeout``, while
a transaction left open holds the view).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from spark_etl.analytics.kept import KEPT, forget_changes, keep
from spark_etl.analytics.scheduler import refresh_order, run_in_dependency_order
from spark_etl.analytics.schema import ensure_views
from spark_etl.analytics.summaries import RECOMPUTE_SHARE, SUMMARIES, summarize_cart

log = logging.getLogger(__name__)

# Filling the idle twin, pointing the view at it and emptying the twin it read before each need
# that relation to themselves: a reader inside a transaction that read it holds it until the
# transaction ends, and readers arriving meanwhile queue behind the request. So each waits at
# most LOCK_TIMEOUT (the view's swap is tried SWAP_ATTEMPTS times); when the idle twin or the
# view stays held, the twin the readers use is refreshed CONCURRENTLY instead (that waits for
# no reader), and an old twin still read is left filled until its next refresh.
LOCK_TIMEOUT = "1s"
SWAP_ATTEMPTS = 3


def refresh(
    conn: Any,
    model_schema: str,
    analytics_schema: str,
    seconds: dict[str, float] | None = None,
    rebuild: bool = False,
    connect: Callable[[], Any] | None = None,
    connections: int = 1,
    *,
    recompute_share: Decimal | None = RECOMPUTE_SHARE,
    lock_timeout: str = LOCK_TIMEOUT,
) -> list[str]:
    """Bring the cart summaries and the kept answers up to date and recompute every
    materialized view, inputs before the views that read them; ``seconds`` receives each
    step's time. ``rebuild``: recompute the summaries from every line and the kept answers
    from the summaries instead of applying the loads' changes;
    ``recompute_share`` and ``lock_timeout``: see ``summarize_cart`` and LOCK_TIMEOUT.

    With ``connect`` (opens a connection like ``conn``), up to ``connections`` views that do
    not read each other are refreshed at once, each on a connection of its own: a view's
    query runs in one PostgreSQL process for most of its time (sorts, window functions,
    writing its rows), so a second one keeps another core busy."""
    ensure_views(conn, model_schema, analytics_schema)
    views = {view["name"]: view for view in refresh_order(conn, analytics_schema)}
    last_time = _step_seconds(conn, analytics_schema)
    conn.commit()
    took: dict[str, float] = {}
    pool = [conn]
    try:
        while connect is not None and len(pool) < min(connections, len(views)):
            pool.append(connect())

        def refresh_one(name: str, worker: int) -> None:
            started = time.perf_counter()
            if name == SUMMARIES:
                done = summarize_cart(pool[worker], analytics_schema, rebuild, recompute_share)
                log.info(
                    "Summarized the cart lines: %d months recomputed, %d changed lines"
                    " applied, %d purchases recounted, in %.1f s",
                    done["months_recomputed"],
                    done["lines_applied"],
                    done["purchases_recounted"],
                    time.perf_counter() - started,
                )
            elif name in KEPT:
                done = keep(pool[worker], analytics_schema, KEPT[name], rebuild, recompute_share)
                log.info(
                    "Kept %s: %s, in %.1f s",
                    name,
                    ", ".join(
                        f"{value} {count.replace('_', ' ')}" for count, value in done.items()
                    ),
                    time.perf_counter() - started,
                )
            else:
                refresh_view(pool[worker], analytics_schema, views[name], lock_timeout)
            took[name] = time.perf_counter() - started
            log.debug("Refreshed %s in %.1f s", name, took[name])
            if seconds is not None:
                seconds[name] = took[name]

        # the summaries and kept answers are steps like a view: the views that do not read them
        # (those over cart itself, such as data_period) are refreshed meanwhile
        reads = {
            SUMMARIES: [],
            **{name: answer.reads for name, answer in KEPT.items()},
            **{name: view["reads"] for name, view in views.items()},
        }
        run_in_dependency_order(reads, refresh_one, len(pool), last_time)
        forget_changes(conn, analytics_schema)
        _record_step_seconds(conn, analytics_schema, took)
    finally:
        for extra in pool[1:]:
            extra.close()
    log.info("Refreshed %d analytics views", len(views) + len(KEPT))
    return [*views, *KEPT]


def _step_seconds(conn: Any, analytics_schema: str) -> dict[str, float]:
    """What each step of the last refresh took (refresh_step.sql)."""
    with conn.cursor(cursor_factory=psycopg2.extensions.cursor) as cur:  # rows as tuples
        cur.execute(
            sql.SQL("SELECT name, seconds FROM {}.refresh_step").format(
                sql.Identifier(analytics_schema)
            )
        )
        return {name: float(took) for name, took in cur.fetchall()}


def _record_step_seconds(conn: Any, analytics_schema: str, took: dict[str, float]) -> None:
    """Keep what each step took, for the next refresh's order (and an operator's look)."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "INSERT INTO {}.refresh_step AS s (name, seconds, refreshed_at)"
                " SELECT name, seconds, now() FROM unnest(%s, %s) AS t (name, seconds)"
                " ON CONFLICT (name) DO UPDATE"
                " SET seconds = excluded.seconds, refreshed_at = excluded.refreshed_at"
            ).format(sql.Identifier(analytics_schema)),
            (list(took), list(took.values())),
        )
    conn.commit()


def refresh_view(
    conn: Any, analytics_schema: str, view: dict[str, Any], lock_timeout: str = LOCK_TIMEOUT
) -> None:
    """Fill the idle twin (nobody reads it: a plain REFRESH blocks no reader), point the view
    at it, then empty the twin it read before."""
    idle = sql.Identifier(analytics_schema, view["idle"])
    current = sql.Identifier(analytics_schema, view["current"])
    swap = sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT * FROM {}").format(
        sql.Identifier(analytics_schema, view["name"]), idle
    )
    empty = "REFRESH MATERIALIZED VIEW {} WITH NO DATA"

    def within_timeout(statement: sql.Composable) -> bool:
        return _with_lock_timeout(conn, statement, lock_timeout)

    if within_timeout(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(idle)) and any(
        within_timeout(swap) for _attempt in range(SWAP_ATTEMPTS)
    ):
        if view["populated"] and not within_timeout(sql.SQL(empty).format(current)):
            log.info("%s is still read: emptied when it is refreshed next", view["current"])
        return
    log.info("%s is held by a reader's transaction: refreshed concurrently", view["name"])
    concurrently = sql.SQL("CONCURRENTLY") if view["populated"] else sql.SQL("")
    with conn.cursor() as cur:
        cur.execute(sql.SQL("REFRESH MATERIALIZED VIEW {} {}").format(concurrently, current))
    conn.commit()
    within_timeout(sql.SQL(empty).format(idle))


def _with_lock_timeout(conn: Any, statement: sql.Composable, lock_timeout: str) -> bool:
    """Run ``statement`` and commit, waiting at most ``lock_timeout`` for its locks; False if
    that ran out (nothing done)."""
    try:
        with conn.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = %s", (lock_timeout,))
            cur.execute(statement)
        conn.commit()
        return True
    except psycopg2.errors.LockNotAvailable:
        conn.rollback()
        return False
