"""A load job for spark-submit whose COPY staging tasks misbehave once, as a cluster makes them:
run by tests/integration/test_stage_attempts.py.

``STAGE_FAULT=kill:TABLE:PARTITION`` SIGKILLs the executor JVM right after the first attempt of
that partition's task committed its rows into TABLE (the executor is lost, Spark runs the task
again); PARTITION ``any``: the first attempt of whichever task first commits rows, once per
load (a marker file beside the input, ``STAGE_FAULT_MARKER``, says it happened).
``STAGE_FAULT=slow:TABLE:PARTITION:SECONDS`` makes that first attempt sleep after its commit
(speculation runs a second attempt, which finishes first). The fault wraps the function
the writer ships to the executors; the production code is unchanged.

Usage: spark-submit tests/integration/faulty_stage_job.py JOB [job options...]
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from spark_etl.cli.main import main
from spark_etl.io import writers

EXECUTOR_CLASS = b"CoarseGrainedExecutorBackend"


def executor_pid() -> int:
    """The executor JVM above this Python worker (worker <- pyspark daemon <- JVM)."""
    pid = os.getpid()
    while pid > 1:
        if EXECUTOR_CLASS in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    raise RuntimeError("no executor JVM above this process")


def faulty(fault: str) -> Callable[..., Any]:
    kind, table, partition, *rest = fault.split(":")
    original = writers.copy_partition

    def chosen(index: int, rows: int) -> bool:
        if partition != "any":
            return index == int(partition)
        if not rows:
            return False
        try:  # the first task of any executor to get here
            os.close(os.open(os.environ["STAGE_FAULT_MARKER"], os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True

    def copy_partition(*args: Any, **kwargs: Any) -> Callable[..., Any]:
        copy = original(*args, **kwargs)
        target = args[2] if len(args) > 2 else kwargs["table"]

        def run(batches: Iterable[Any]) -> Iterator[Any]:
            from pyspark import TaskContext

            task = TaskContext.get()
            results = list(copy(batches))  # the rows are committed when this returns
            if target == table and chosen(task.partitionId(), results[0].column("rows")[0].as_py()):
                if task.attemptNumber() == 0 and kind == "kill":
                    os.kill(executor_pid(), signal.SIGKILL)
                    time.sleep(60)  # the JVM is gone: this worker is never heard from again
                if task.attemptNumber() == 0 and kind == "slow":
                    time.sleep(float(rest[0]))
            yield from results

        return run

    return copy_partition


if __name__ == "__main__":
    if os.environ.get("STAGE_FAULT"):
        writers.copy_partition = faulty(os.environ["STAGE_FAULT"])  # type: ignore[assignment]
    sys.exit(main(sys.argv[1], sys.argv[2:]))
