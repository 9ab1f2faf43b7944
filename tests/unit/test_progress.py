"""Progress of a long phase: drawn in place on a terminal, silent elsewhere."""

from __future__ import annotations

import io
import logging
import time

from spark_etl.cli import logs
from spark_etl.spark import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def slow_job(spark, tasks: int) -> int:
    return (
        spark.sparkContext.parallelize(range(tasks), tasks)
        .map(lambda x: time.sleep(0.4) or x)
        .count()
    )


def test_a_terminal_sees_the_tasks_of_the_phase_move_then_the_line_cleared(spark, monkeypatch):
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.1)
    terminal = Terminal()

    with progress.phase("cart_data_transform: read and check", spark, terminal) as shown:
        shown.rows = slow_job(spark, 6)

    drawn = terminal.getvalue().split(progress.CLEAR_LINE)
    assert drawn[-1] == ""  # the last thing written clears the line for the outcome
    lines = [line for line in drawn if "tasks" in line]
    assert lines, terminal.getvalue()
    assert all(line.startswith("cart_data_transform: read and check: ") for line in lines)
    assert any("/6 tasks (" in line for line in lines)
    # the job group is the phase's only while it runs
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None


def test_elsewhere_only_the_outcome_is_logged(spark, caplog):
    not_a_terminal = io.StringIO()

    with (
        caplog.at_level(logging.INFO, logger="spark_etl.spark.progress"),
        progress.phase("customer_data_transform: stage", spark, not_a_terminal) as shown,
    ):
        shown.rows = slow_job(spark, 2)

    assert not_a_terminal.getvalue() == ""
    [message] = caplog.messages
    assert message.startswith("customer_data_transform: stage: done in ")
    assert message.endswith(" rows/s)") and "(2 rows, " in message


def test_a_failed_phase_logs_no_outcome(caplog):
    with caplog.at_level(logging.INFO, logger="spark_etl.spark.progress"):
        try:
            with progress.phase("analytics: refresh", stream=io.StringIO()):
                raise RuntimeError("boom")
        except RuntimeError:
            pass

    assert caplog.messages == []


def test_lines_say_tasks_time_and_time_left():
    assert progress.progress_line("x: stage", 30, 120, 45.0) == (
        "x: stage: 45 s, 30/120 tasks (25%), about 2 min 15 s left"
    )
    assert (
        progress.progress_line("x: merge into cart", 0, 0, 3725.0)
        == "x: merge into cart: 1 h 02 min"
    )
    assert progress.outcome_line("x: stage", 20.0, 10_000_000) == (
        "x: stage: done in 20 s (10,000,000 rows, 500,000 rows/s)"
    )
    assert progress.outcome_line("analytics: refresh", 74.4, None) == (
        "analytics: refresh: done in 1 min 14 s"
    )


def test_a_message_logged_on_a_terminal_first_clears_the_progress_line():
    record = logging.LogRecord(
        "spark_etl", logging.INFO, __file__, 1, "Loaded %d months", (60,), None
    )

    on_terminal = logs._NoTraceFormatter(terminal=True).format(record)
    elsewhere = logs._NoTraceFormatter().format(record)

    assert on_terminal == progress.CLEAR_TO_END + elsewhere
    assert elsewhere.endswith(" Loaded 60 months") and "\x1b" not in elsewhere
