"""ddmin on synthetic tests: the result fails, is 1-minimal, and a flaky failure is still found."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stress.shrink.ddmin import FlakyTest, ddmin


def _needs(*culprits: int) -> Callable[[list[int]], bool]:
    """Fails when every culprit is in the candidate."""
    return lambda candidate: set(culprits) <= set(candidate)


def _one_minimal(result: list[int], fails: Callable[[list[int]], bool]) -> bool:
    return all(not fails(result[:i] + result[i + 1 :]) for i in range(len(result)))


def test_one_culprit_among_many_is_found_alone() -> None:
    assert ddmin(list(range(100)), _needs(37)) == [37]


def test_two_culprits_far_apart_are_both_kept() -> None:
    fails = _needs(3, 88)
    result = ddmin(list(range(100)), fails)
    assert result == [3, 88]
    assert _one_minimal(result, fails)


def test_a_failure_that_needs_everything_keeps_everything() -> None:
    items = list(range(7))
    assert ddmin(items, _needs(*items)) == items


def test_equal_items_are_kept_apart() -> None:
    # Fails when at least two 5s remain: equal values must still count as separate items.
    result = ddmin([5, 1, 5, 2, 5], lambda c: c.count(5) >= 2)
    assert result == [5, 5]


def test_each_candidate_is_tested_once() -> None:
    tested: list[tuple[int, ...]] = []

    def fails(candidate: list[int]) -> bool:
        tested.append(tuple(candidate))
        return 11 in candidate

    ddmin(list(range(32)), fails)
    assert len(tested) == len(set(tested))
    assert len(tested) < 32  # logarithmic for one culprit, not one test per item


@given(
    st.integers(min_value=1, max_value=40).flatmap(
        lambda size: st.tuples(
            st.just(size), st.sets(st.integers(0, size - 1), min_size=1, max_size=4)
        )
    )
)
def test_the_result_is_one_minimal_and_fails(case: tuple[int, set[int]]) -> None:
    size, culprits = case
    fails = _needs(*culprits)
    result = ddmin(list(range(size)), fails)
    assert fails(result)
    assert _one_minimal(result, fails)
    assert result == sorted(culprits)  # the order of the input is kept


def test_a_stop_keeps_the_smallest_failing_list_so_far() -> None:
    tests = 0

    def fails(candidate: list[int]) -> bool:
        nonlocal tests
        tests += 1
        return {10, 50} <= set(candidate)

    # Two halves, four quarters, then the complement of the second quarter fails (8 tests).
    result = ddmin(list(range(64)), fails, stop=lambda: tests >= 8)
    assert tests == 8
    assert result == list(range(16)) + list(range(32, 64))


def test_a_stop_before_the_first_test_returns_the_input() -> None:
    assert ddmin([1, 2, 3], _needs(2), stop=lambda: True) == [1, 2, 3]


class _OneInThree:
    """Fails, when the culprit is present, only on every third run: a racy failure."""

    def __init__(self, culprit: int) -> None:
        self.culprit = culprit
        self.calls = 0

    def __call__(self, candidate: list[int]) -> str | None:
        self.calls += 1
        if self.culprit in candidate and self.calls % 3 == 0:
            return "sig-A"
        return None


def test_a_flaky_failure_is_found_with_enough_tries() -> None:
    flaky = FlakyTest(_OneInThree(culprit=21), target="sig-A", tries=3)
    assert ddmin(list(range(40)), flaky) == [21]
    assert flaky.runs > 0


def test_with_one_try_a_flaky_failure_is_missed() -> None:
    # The same test with tries=1 judges most candidates passing: the shrink gets nowhere.
    flaky = FlakyTest(_OneInThree(culprit=21), target="sig-A", tries=1)
    assert len(ddmin(list(range(40)), flaky)) > 1


def test_a_seeded_random_flaky_failure_is_shrunk_to_its_culprits() -> None:
    rng = np.random.default_rng(np.random.SeedSequence(8))

    def run(candidate: list[int]) -> str | None:
        # Fails half the time when both culprits are in: as a race between two users.
        return "sig-A" if {4, 9} <= set(candidate) and rng.random() < 0.5 else None

    flaky = FlakyTest(run, target="sig-A", tries=12)
    result = ddmin(list(range(16)), flaky)
    assert result == [4, 9]


def test_another_signature_is_another_bug_and_does_not_count() -> None:
    def run(candidate: list[int]) -> str | None:
        if 3 in candidate and 7 in candidate:
            return "sig-A"
        return "sig-B" if 3 in candidate else None

    flaky = FlakyTest(run, target="sig-A", tries=2)
    assert ddmin(list(range(10)), flaky) == [3, 7]


def test_a_flaky_test_stops_at_its_first_failing_run() -> None:
    calls: list[int] = []

    def run(candidate: list[int]) -> str | None:
        calls.append(1)
        return "sig-A"

    assert FlakyTest(run, target="sig-A", tries=5)([1])
    assert len(calls) == 1


def test_zero_tries_is_refused() -> None:
    with pytest.raises(ValueError, match="tries=0"):
        FlakyTest(lambda c: None, target="x", tries=0)


def test_a_failure_the_rule_calls_the_same_counts() -> None:
    # "sig-A/ticks" is sig-A seen in fewer rows; the rule accepts it, equality would not.
    def run(candidate: list[int]) -> str | None:
        return "sig-A/ticks" if 5 in candidate else None

    def same(found: str, target: str) -> bool:
        return found.split("/")[0] == target

    assert ddmin(list(range(10)), FlakyTest(run, target="sig-A", tries=1, same=same)) == [5]
    assert FlakyTest(run, target="sig-A", tries=1)([5]) is False
