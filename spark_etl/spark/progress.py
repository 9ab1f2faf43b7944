"""A long phase's progress on the terminal: Spark tasks done of total, elapsed, time left.

A 10M-line load spends minutes in each phase; on a terminal one line per phase moves while it
runs (redrawn in place, from Spark's status tracker), and is replaced by the phase's outcome
when it ends. Sent anywhere else (a log file, CI, a pipe) nothing but the outcome line is
written, through logging like every other message.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

REDRAW_SECONDS = 0.5
CLEAR_LINE = "\r\x1b[K"
# A message logged while the line is shown starts at the line's beginning (the line is drawn
# with the cursor sent back there) and clears it first: the console formatter's prefix on a
# terminal.
CLEAR_TO_END = "\x1b[K"


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def progress_line(label: str, done: int, total: int, elapsed: float) -> str:
    """What the terminal shows while a phase runs (tasks of the Spark jobs it started so far)."""
    line = f"{label}: {duration(elapsed)}"
    if total:
        line += f", {done:,}/{total:,} tasks ({done / total:.0%})"
        if 0 < done < total:
            line += f", about {duration(elapsed / done * (total - done))} left"
    return line


def outcome_line(label: str, elapsed: float, rows: int | None) -> str:
    """What stays once a phase has ended: its time, and its rows per second when it counts rows."""
    line = f"{label}: done in {duration(elapsed)}"
    if rows is not None:
        rate = f", {rows / elapsed:,.0f} rows/s" if elapsed > 0 else ""
        line += f" ({rows:,} rows{rate})"
    return line


class _Phase:
    """The running phase: its Spark job group, and the rows it reports when it ends."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.group = f"spark-etl-{uuid.uuid4().hex[:12]}"
        self.started = time.monotonic()
        self.rows: int | None = None

    def tasks(self, spark: SparkSession | None) -> tuple[int, int]:
        """Tasks completed and in total over the stages of this phase's jobs."""
        if spark is None:
            return 0, 0
        tracker = spark.sparkContext.statusTracker()
        done = total = 0
        for job_id in tracker.getJobIdsForGroup(self.group):
            job = tracker.getJobInfo(job_id)
            for stage_id in job.stageIds if job else ():
                stage = tracker.getStageInfo(stage_id)
                if stage:  # a skipped stage (its shuffle output reused) never reports
                    done += stage.numCompletedTasks
                    total += stage.numTasks
        return done, total


@contextmanager
def phase(
    label: str, spark: SparkSession | None = None, stream: TextIO | None = None
) -> Iterator[_Phase]:
    """Show ``label``'s progress while the block runs; set ``.rows`` to report a rate.

    With ``spark``, the block's Spark jobs are put in a job group of their own and their tasks
    counted; without it (a phase in PostgreSQL) the elapsed time moves.
    """
    out = stream if stream is not None else sys.stderr
    current = _Phase(label)
    if spark is not None:
        spark.sparkContext.setJobGroup(current.group, label)
    stop = threading.Event()
    drawer = None
    if out.isatty():
        drawer = threading.Thread(target=_redraw, args=(current, spark, out, stop), daemon=True)
        drawer.start()
    try:
        yield current
    finally:
        stop.set()
        if drawer is not None:
            drawer.join()
            out.write(CLEAR_LINE)
            out.flush()
        if spark is not None:
            # None clears a property; pyspark's annotation says str only
            spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
            spark.sparkContext.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]
    log.info(outcome_line(label, time.monotonic() - current.started, current.rows))


def _redraw(
    current: _Phase, spark: SparkSession | None, out: TextIO, stop: threading.Event
) -> None:
    while not stop.wait(REDRAW_SECONDS):
        try:
            done, total = current.tasks(spark)
        except Exception:  # the session is stopping: nothing more to show
            return
        elapsed = time.monotonic() - current.started
        out.write(CLEAR_LINE + progress_line(current.label, done, total, elapsed) + "\r")
        out.flush()
