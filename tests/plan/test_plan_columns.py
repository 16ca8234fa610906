"""Rows drawn in bulk: the same rows, value for value, as drawn one at a time.

A batch's rows are drawn a column at a time from a block of uniforms; one row at a time is
the reference (single inserts draw that way, and the replay files hold its digests). These
tests hold the two equal on every table, across buffer edges, mixed with scalar draws, and at
the exact edges of each arithmetic shortcut (timestamps' microsecond rounding, the skew's
bounds).
"""

from __future__ import annotations

import math
import struct
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stress.metadb import JSON_TABLES
from stress.plan.columns import _skew_bounds, _skewed, timedelta_micros
from stress.plan.draws import Draws, user_seed_sequence
from stress.plan.payloads import row_factory


def _rows_one_by_one(table: str, seed: int, count: int) -> tuple[list[dict[str, object]], int]:
    draws = Draws(user_seed_sequence(seed, 2))
    factory = row_factory(table)
    return [factory.make(draws) for _ in range(count)], draws.consumed


@pytest.mark.parametrize("table", JSON_TABLES)
def test_a_batch_is_the_rows_drawn_one_by_one(table: str) -> None:
    # 700 rows cross several 1,024-uniform blocks of the stream whatever the row's width.
    expected, consumed = _rows_one_by_one(table, 9, 700)
    draws = Draws(user_seed_sequence(9, 2))
    assert row_factory(table).make_many(draws, 700) == expected
    assert draws.consumed == consumed


@settings(max_examples=60, deadline=None)
@given(
    table=st.sampled_from(JSON_TABLES),
    seed=st.integers(0, 2**32 - 1),
    cuts=st.lists(st.integers(0, 90), min_size=1, max_size=5),
)
def test_batches_and_single_rows_interleave_on_one_stream(
    table: str, seed: int, cuts: list[int]
) -> None:
    """Batches of any size, with a single row drawn between them, continue the one stream."""
    total = sum(cuts) + len(cuts)
    expected, consumed = _rows_one_by_one(table, seed, total)
    draws = Draws(user_seed_sequence(seed, 2))
    factory = row_factory(table)
    rows: list[dict[str, object]] = []
    for cut in cuts:
        rows.extend(factory.make_many(draws, cut))
        rows.append(factory.make(draws))
    assert rows == expected
    assert draws.consumed == consumed


def test_a_resumed_stream_after_a_batch_is_where_the_batch_left_it() -> None:
    factory = row_factory("git_operations")  # optional fields: rows of varying width
    draws = Draws(user_seed_sequence(4, 1))
    factory.make_many(draws, 333)
    resumed = Draws.resumed(user_seed_sequence(4, 1), draws.consumed)
    assert factory.make_many(resumed, 50) == factory.make_many(draws, 50)
    assert factory.make_many(draws, 0) == []


def test_upcoming_shows_the_next_uniforms_and_skip_consumes_them() -> None:
    reference = Draws(user_seed_sequence(8, 0))
    expected = [reference.uniform() for _ in range(5000)]
    draws = Draws(user_seed_sequence(8, 0))
    first = [draws.uniform() for _ in range(10)]
    held = draws.upcoming(3000)
    assert first + held.tolist() == expected[:3010]
    draws.skip(2000)
    assert draws.consumed == 2010
    assert [draws.uniform() for _ in range(2990)] == expected[2010:]
    with pytest.raises(ValueError, match="past the"):
        draws.skip(10_000)


def _double(bits: int) -> float:
    return float(struct.unpack("<d", struct.pack("<q", bits))[0])


def _bits(value: float) -> int:
    return int(struct.unpack("<q", struct.pack("<d", value))[0])


def test_timestamps_round_microseconds_as_timedelta_does() -> None:
    """Whole seconds plus fractions that land exactly on half a microsecond (the round-half-
    even rule, both parities), just either side of it, and random offsets in the span."""
    halves = [whole + (micro + 0.5) / 1e6 for whole in (0, 7, 86_399) for micro in range(0, 40)]
    halves = [s for s in halves if (s - math.floor(s)) * 1e6 % 1 == 0.5]
    assert len(halves) > 10  # some fractions do land exactly on the half
    near = [math.nextafter(s, side) for s in halves for side in (0.0, math.inf)]
    randoms = (np.random.default_rng(3).random(20_000) * 30 * 24 * 3600).tolist()
    seconds = [0.0, 1.0, 2_591_999.999_999_5, *halves, *near, *randoms]
    got = timedelta_micros(np.array(seconds)).tolist()
    assert got == [timedelta(seconds=s) // timedelta(microseconds=1) for s in seconds]


@pytest.mark.parametrize("count", [4, 5, 8])
def test_the_skews_bounds_split_exactly_where_the_formula_does(count: int) -> None:
    bounds = _skew_bounds(count)
    assert bounds is not None and len(bounds) == count - 1
    for k, bound in enumerate(bounds, start=1):
        bits = _bits(bound)
        for near in range(bits - 3, bits + 4):
            u = _double(near)
            found = int(np.searchsorted(bounds, u, side="right"))
            assert found == _skewed(u, count)
            assert (found >= k) == (near >= bits)
