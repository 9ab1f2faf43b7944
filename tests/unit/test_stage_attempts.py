"""The driver's choice of the task attempts whose staged rows are kept (spark_etl.db.attempts)."""

from __future__ import annotations

import pytest

from spark_etl.db.attempts import Attempt, choose
from spark_etl.errors import AccountingError

# partition, Spark's task attempt id, attempt number, rows
FIRST = [Attempt(0, 10, 0, 5), Attempt(1, 11, 0, 7), Attempt(2, 12, 0, 0)]


def test_one_attempt_per_partition_is_kept_as_it_is():
    settled = choose(FIRST, reversed(FIRST))

    assert settled.kept == tuple(FIRST)
    assert settled.discarded == ()
    assert settled.rows == 12


def test_the_attempt_spark_counted_is_kept_and_the_one_it_did_not_is_discarded():
    rerun = Attempt(1, 17, 1, 7)  # partition 1 again: its executor died after the commit
    spare = Attempt(0, 18, 1, 5)  # a speculative copy of partition 0 that lost the race

    settled = choose([*FIRST, rerun, spare], [FIRST[0], rerun, FIRST[2]])

    assert settled.kept == (FIRST[0], rerun, FIRST[2])
    assert settled.discarded == (spare, FIRST[1])
    assert settled.rows == 12


def test_an_attempt_spark_counted_without_a_record_of_its_rows_is_refused():
    with pytest.raises(AccountingError, match="not recorded as written"):
        choose(FIRST[:2], FIRST)


def test_a_counted_attempt_whose_recorded_rows_differ_is_refused():
    with pytest.raises(AccountingError, match="not recorded as written"):
        choose(FIRST, [FIRST[0], Attempt(1, 11, 0, 6), FIRST[2]])


def test_two_results_for_one_partition_are_refused():
    with pytest.raises(AccountingError, match="two results for a partition"):
        choose([*FIRST, Attempt(1, 17, 1, 7)], [*FIRST, Attempt(1, 17, 1, 7)])
