"""Stage writes that a task run twice does not stage twice.

Spark may run a write task more than once: an executor lost after its task committed (the
task runs again elsewhere), or speculation (a second attempt of a slow task, both running at
once). Each attempt commits its own rows, so the staging table would hold a partition twice.

Every staged row therefore carries the Spark task attempt id that wrote it
(``ATTEMPT_COLUMN``), and each attempt records itself in ``stage_attempt`` in the transaction
of its rows. A write is one ``stage_write`` row per staging table: ``begin`` names a new one,
every attempt checks under a share lock that it is still the open write before it writes,
and ``settle`` (on the driver, once Spark has returned one result per partition, from the
attempt it counted) seals the write, marks which attempts are kept and deletes the rows of
the others. The seal waits for attempts in flight and stops later ones (a speculative copy
that Spark is still killing), so nothing reaches the table after it is settled.

The usual case costs two small updates: rows are deleted only when an extra attempt
committed. The tables are in ``schema.sql``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

from spark_etl.definitions.model import STAGE_ATTEMPT
from spark_etl.errors import AccountingError

log = logging.getLogger(__name__)

ATTEMPT_COLUMN = STAGE_ATTEMPT  # the staged rows' writer: Spark's task attempt id


@dataclass(frozen=True)
class Attempt:
    """One task attempt's rows: its partition, Spark's task attempt id (unique in a Spark
    application) and attempt number (0 first), and the rows it wrote."""

    partition: int
    attempt: int
    number: int
    rows: int


@dataclass(frozen=True)
class Settled:
    kept: tuple[Attempt, ...]
    discarded: tuple[Attempt, ...]

    @property
    def rows(self) -> int:
        return sum(attempt.rows for attempt in self.kept)


def choose(recorded: Iterable[Attempt], counted: Iterable[Attempt]) -> Settled:
    """Split the attempts that committed (``recorded``) into the ones Spark counted (one per
    partition, as the write's action returned them) and the rest.

    Raises AccountingError when Spark counted an attempt whose rows are not recorded, or two
    attempts of one partition: the staged rows could not be trusted.
    """
    recorded_by_id = {attempt.attempt: attempt for attempt in recorded}
    counted = sorted(counted, key=lambda attempt: attempt.partition)
    partitions = [attempt.partition for attempt in counted]
    if len(set(partitions)) != len(partitions):
        raise AccountingError(f"Spark returned two results for a partition: {counted}")
    missing = [attempt for attempt in counted if recorded_by_id.get(attempt.attempt) != attempt]
    if missing:
        raise AccountingError(
            f"attempts counted by Spark but not recorded as written: {missing}; "
            f"recorded: {sorted(recorded_by_id.values(), key=lambda a: a.attempt)}"
        )
    kept_ids = {attempt.attempt for attempt in counted}
    discarded = sorted(
        (attempt for attempt in recorded_by_id.values() if attempt.attempt not in kept_ids),
        key=lambda attempt: (attempt.partition, attempt.attempt),
    )
    return Settled(tuple(counted), tuple(discarded))


def begin(conn: Any, stage_table: str) -> str:
    """Open a new write into ``stage_table`` (committed) and return its id; attempts of the
    table's earlier writes are forgotten and can no longer write."""
    write_id = str(uuid.uuid4())
    with conn.cursor() as cur:
        cur.execute(
            "DELETE FROM stage_attempt a USING stage_write w "
            "WHERE w.stage_table = %s AND a.write_id = w.write_id",
            (stage_table,),
        )
        cur.execute(
            "INSERT INTO stage_write (stage_table, write_id, sealed) VALUES (%s, %s, false) "
            "ON CONFLICT (stage_table) DO UPDATE SET write_id = EXCLUDED.write_id, sealed = false",
            (stage_table, write_id),
        )
    conn.commit()
    return write_id


def admit(cur: Any, stage_table: str, write_id: str) -> bool:
    """Whether an attempt may write (the first statement of its transaction): the write is
    still open. The share lock it takes holds ``settle`` off until the attempt commits."""
    cur.execute(
        "SELECT 1 FROM stage_write WHERE stage_table = %s AND write_id = %s AND NOT sealed "
        "FOR SHARE",
        (stage_table, write_id),
    )
    return cur.fetchone() is not None


def record(cur: Any, write_id: str, attempt: Attempt) -> None:
    """Record an attempt's rows, in the transaction that wrote them."""
    cur.execute(
        "INSERT INTO stage_attempt (write_id, attempt, partition, attempt_number, rows) "
        "VALUES (%s, %s, %s, %s, %s)",
        (write_id, attempt.attempt, attempt.partition, attempt.number, attempt.rows),
    )


def settle(
    conn: Any,
    stage_table: str,
    write_id: str,
    counted: Iterable[Attempt],
    attempts_column: bool = True,
) -> Settled:
    """Seal the write, keep the attempts Spark counted and delete the rows of the others from
    ``stage_table``; committed. Returns the attempts kept and discarded.

    Without ``attempts_column`` (a table whose rows do not say their attempt), extra attempts
    cannot be taken out: AccountingError.
    """
    with conn.cursor() as cur:
        # waits for attempts holding admit's lock; later ones find the write sealed
        cur.execute(
            "UPDATE stage_write SET sealed = true WHERE stage_table = %s AND write_id = %s",
            (stage_table, write_id),
        )
        if cur.rowcount != 1:
            raise AccountingError(f"{stage_table}: its write {write_id} was replaced")
        cur.execute(
            "SELECT partition, attempt, attempt_number AS number, rows FROM stage_attempt "
            "WHERE write_id = %s",
            (write_id,),
        )
        settled = choose((Attempt(**row) for row in cur.fetchall()), counted)
        cur.execute(
            "UPDATE stage_attempt SET kept = (attempt = ANY(%s)) WHERE write_id = %s",
            ([attempt.attempt for attempt in settled.kept], write_id),
        )
        if settled.discarded and not attempts_column:
            raise AccountingError(
                f"{stage_table}: a task's rows were written twice ({settled.discarded}); run again"
            )
        if settled.discarded:
            _discard(cur, stage_table, settled.discarded)
    conn.commit()
    return settled


def _discard(cur: Any, stage_table: str, discarded: tuple[Attempt, ...]) -> None:
    cur.execute(
        sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
            sql.Identifier(stage_table), sql.Identifier(ATTEMPT_COLUMN)
        ),
        ([attempt.attempt for attempt in discarded],),
    )
    expected = sum(attempt.rows for attempt in discarded)
    if cur.rowcount != expected:
        raise AccountingError(
            f"{stage_table}: {cur.rowcount} rows of discarded attempts deleted, {expected} recorded"
        )
    for attempt in discarded:
        log.warning(
            "%s: discarded %d rows of partition %d staged by task attempt %d (attempt number "
            "%d), another attempt of the task was kept",
            stage_table,
            attempt.rows,
            attempt.partition,
            attempt.attempt,
            attempt.number,
        )
