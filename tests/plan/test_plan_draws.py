"""Draws: the buffered stream, each distribution's range and cost in uniforms, its shape."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stress.plan.draws import Draws, database_seed_sequence, user_seed_sequence


class _Scripted(Draws):
    """Draws whose uniforms are given, to hit the ends of each range exactly."""

    __slots__ = ("_script",)

    def __init__(self, values: Iterable[float]) -> None:
        super().__init__(user_seed_sequence(0, 0))
        self._script = list(values)

    def uniform(self) -> float:
        self.consumed += 1
        return self._script.pop(0)


_BELOW_ONE = math.nextafter(1.0, 0.0)


def test_uniform_stream_equals_the_generator_across_block_boundaries() -> None:
    draws = Draws(user_seed_sequence(42, 3))
    values = [draws.uniform() for _ in range(3000)]
    expected = np.random.Generator(np.random.PCG64(user_seed_sequence(42, 3))).random(3000)
    assert values == expected.tolist()
    assert draws.consumed == 3000


def test_user_and_database_streams_are_distinct_and_depend_on_the_seed() -> None:
    def first(seed: Any) -> list[float]:
        draws = Draws(seed)
        return [draws.uniform() for _ in range(4)]

    streams = [first(user_seed_sequence(7, user)) for user in range(5)]
    streams += [first(database_seed_sequence(7, index)) for index in range(5)]
    streams.append(first(user_seed_sequence(8, 0)))
    assert len({tuple(stream) for stream in streams}) == len(streams)
    assert first(user_seed_sequence(7, 2)) == streams[2]


@pytest.mark.parametrize(
    ("call", "uniforms"),
    [
        (lambda d: d.uniform(), 1),
        (lambda d: d.integer(3, 9), 1),
        (lambda d: d.between(-1.0, 1.0), 1),
        (lambda d: d.chance(0.3), 1),
        (lambda d: d.pick((0.2, 0.5, 1.0)), 1),
        (lambda d: d.skewed(8), 1),
        (lambda d: d.lognormal(40.0, 1.2), 2),
        (lambda d: d.exponential(5.0), 1),
        (lambda d: d.hex_digits(1), 1),
        (lambda d: d.hex_digits(8), 1),
        (lambda d: d.hex_digits(16), 2),
        (lambda d: d.hex_digits(40), 5),
    ],
)
def test_each_draw_costs_a_fixed_number_of_uniforms(
    call: Callable[[Draws], object], uniforms: int
) -> None:
    draws = Draws(user_seed_sequence(1, 1))
    for round_ in range(1, 200):
        call(draws)
        assert draws.consumed == round_ * uniforms


def test_integer_bounds_are_both_included() -> None:
    assert _Scripted([0.0]).integer(3, 7) == 3
    assert _Scripted([_BELOW_ONE]).integer(3, 7) == 7
    assert _Scripted([0.5]).integer(5, 5) == 5
    draws = Draws(user_seed_sequence(5, 0))
    seen = Counter(draws.integer(3, 7) for _ in range(5000))
    assert set(seen) == {3, 4, 5, 6, 7}
    assert min(seen.values()) > 5000 / 5 * 0.85


@given(
    seed=st.integers(0, 2**63 - 1),
    low=st.integers(-1000, 1000),
    span=st.integers(0, 10**6),
)
def test_integer_stays_in_range(seed: int, low: int, span: int) -> None:
    draws = Draws(user_seed_sequence(seed, 0))
    for _ in range(20):
        assert low <= draws.integer(low, low + span) <= low + span


def test_pick_follows_the_cumulative_table() -> None:
    table = (0.2, 0.5, 1.0)
    picks = [_Scripted([u]).pick(table) for u in (0.0, 0.19, 0.2, 0.49, 0.5, _BELOW_ONE)]
    assert picks == [0, 0, 1, 1, 2, 2]
    # A table whose last sum fell short of 1.0 by rounding still picks its last entry.
    assert _Scripted([_BELOW_ONE]).pick((0.5, 0.9999999)) == 1
    draws = Draws(user_seed_sequence(9, 9))
    counts = Counter(draws.pick(table) for _ in range(20_000))
    for index, share in enumerate((0.2, 0.3, 0.5)):
        assert counts[index] / 20_000 == pytest.approx(share, abs=0.015)


@given(
    seed=st.integers(0, 2**32),
    weights=st.lists(st.floats(0.01, 100.0), min_size=1, max_size=8),
)
def test_pick_always_returns_a_valid_index(seed: int, weights: list[float]) -> None:
    total = math.fsum(weights)
    running, table = 0.0, []
    for weight in weights:
        running += weight
        table.append(running / total)
    draws = Draws(user_seed_sequence(seed, 0))
    for _ in range(50):
        assert 0 <= draws.pick(table) < len(table)


def test_between_chance_and_skewed_ranges() -> None:
    assert _Scripted([0.0]).between(2.0, 4.0) == 2.0
    assert _Scripted([_BELOW_ONE]).between(2.0, 4.0) < 4.0
    assert _Scripted([0.5]).between(5.0, 5.0) == 5.0
    assert _Scripted([0.29]).chance(0.3) is True
    assert _Scripted([0.3]).chance(0.3) is False
    assert _Scripted([_BELOW_ONE]).skewed(8) == 7
    draws = Draws(user_seed_sequence(3, 3))
    skewed = Counter(draws.skewed(8) for _ in range(10_000))
    assert set(skewed) <= set(range(8))
    # Low indexes are far more likely: index 0 alone takes 0.125 ** (1 / 2.5) = 43%.
    assert skewed[0] / 10_000 == pytest.approx(0.125 ** (1 / 2.5), abs=0.02)
    assert skewed[0] > skewed[7] * 5


def test_lognormal_median_and_exponential_mean() -> None:
    draws = Draws(user_seed_sequence(2026, 0))
    values = [draws.lognormal(40.0, 1.2) for _ in range(20_000)]
    assert all(value > 0 for value in values)
    assert statistics.median(values) == pytest.approx(40.0, rel=0.05)
    # The log of a log-normal is normal with the given sigma.
    assert statistics.stdev(math.log(v) for v in values) == pytest.approx(1.2, rel=0.03)
    gaps = [draws.exponential(5.0) for _ in range(20_000)]
    assert min(gaps) >= 0
    assert statistics.fmean(gaps) == pytest.approx(5.0, rel=0.05)


@given(
    low=st.floats(-1e6, 1e6),
    span=st.floats(1e-9, 1e6),
    u=st.one_of(st.just(_BELOW_ONE), st.floats(0.0, 1.0, exclude_max=True)),
)
def test_between_never_reaches_its_upper_end(low: float, span: float, u: float) -> None:
    high = low + span
    if high == low:  # span lost to rounding: an empty range, nothing to check
        return
    assert low <= _Scripted([u]).between(low, high) < high


def test_hex_digits_are_lowercase_hex_of_the_asked_length() -> None:
    draws = Draws(user_seed_sequence(4, 4))
    for count in (1, 7, 8, 9, 16, 40):
        digits = draws.hex_digits(count)
        assert len(digits) == count
        assert set(digits) <= set("0123456789abcdef")
    assert _Scripted([0.0, _BELOW_ONE]).hex_digits(16) == "00000000ffffffff"


@pytest.mark.parametrize("consumed", [0, 1, 1023, 1024, 1025, 3000, 4096])
def test_a_resumed_stream_continues_exactly_where_the_first_was(consumed: int) -> None:
    full = Draws(user_seed_sequence(9, 4))
    for _ in range(consumed):
        full.uniform()
    resumed = Draws.resumed(user_seed_sequence(9, 4), consumed)
    assert resumed.consumed == consumed
    assert [resumed.uniform() for _ in range(2100)] == [full.uniform() for _ in range(2100)]
    assert resumed.consumed == full.consumed
