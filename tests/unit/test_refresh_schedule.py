"""The order in which analytics views are refreshed on several connections at once."""

from __future__ import annotations

import threading
import time

import pytest

from spark_etl.analytics.scheduler import run_in_dependency_order

# name -> what it reads: two chains (a -> b -> c, d -> e) and f, which reads both ends
READS = {"a": [], "b": ["a"], "c": ["b"], "d": [], "e": ["d"], "f": ["c", "e"]}


def record_runs(fail: str | None = None):
    lock = threading.Lock()
    runs: dict[str, tuple[float, float, int]] = {}

    def run(name: str, worker: int) -> None:
        started = time.monotonic()
        time.sleep(0.05)
        if name == fail:
            raise ValueError(f"{name} broke")
        with lock:
            runs[name] = (started, time.monotonic(), worker)

    return runs, run


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_each_runs_after_what_it_reads_on_a_worker_of_its_own(workers):
    runs, run = record_runs()

    run_in_dependency_order(READS, run, workers)

    assert sorted(runs) == sorted(READS)
    for name, inputs in READS.items():
        for read in inputs:
            assert runs[read][1] <= runs[name][0], (read, name)
    moments = sorted({moment for started, ended, _ in runs.values() for moment in (started, ended)})
    for moment in moments:  # at no moment more than `workers` run, each on another worker
        now = [worker for started, ended, worker in runs.values() if started <= moment < ended]
        assert len(now) <= workers
        assert len(set(now)) == len(now)
        assert all(0 <= worker < workers for worker in now)


def test_independent_ones_run_together():
    runs, run = record_runs()

    run_in_dependency_order(READS, run, 2)

    # a and d start together (a first: more names wait for it), then b beside e
    assert runs["d"][0] < runs["a"][1]
    assert runs["e"][0] < runs["b"][1]


def test_the_first_failure_is_raised_and_nothing_that_reads_it_runs():
    runs, run = record_runs(fail="b")

    with pytest.raises(ValueError, match=r"^b broke$"):
        run_in_dependency_order(READS, run, 2)

    assert "c" not in runs and "f" not in runs
    assert {"a", "d"} <= set(runs)


@pytest.mark.parametrize(
    ("seconds", "order"),
    [
        # not known: the one more names wait for first, then by name
        (None, ["short", "after_short", "long"]),
        ({}, ["short", "after_short", "long"]),
        # known (the last refresh's): the head of the longest chain first
        ({"long": 9.0, "short": 1.0, "after_short": 1.0}, ["long", "short", "after_short"]),
        ({"long": 3.0, "short": 1.0, "after_short": 4.0}, ["short", "after_short", "long"]),
        # a name not timed counts nothing
        ({"long": 3.0, "after_short": 4.0}, ["short", "after_short", "long"]),
    ],
)
def test_the_longest_chain_of_work_starts_first(seconds, order):
    started: list[str] = []

    run_in_dependency_order(
        {"short": [], "long": [], "after_short": ["short"]},
        lambda name, worker: started.append(name),
        1,
        seconds,
    )

    assert started == order
