"""Values folded into an HdrHistogram in bulk give the histogram of recording them one by one."""

from __future__ import annotations

from array import array

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from stress.observe.hdrbulk import counter_medians, micros_of, record_many
from stress.observe.stats import HIGHEST_MICROS, LATENCY, StatsRecorder, new_histogram

_VALUES = st.lists(st.integers(1, HIGHEST_MICROS), max_size=300)


def _one_by_one(values: list[int]) -> bytes:
    hist = new_histogram()
    for value in values:
        hist.record_value(value)
    return _state(hist)


def _state(hist: object) -> bytes:
    counts = np.ctypeslib.as_array(hist.counts)  # type: ignore[attr-defined]
    totals = (hist.total_count, hist.min_value, hist.max_value)  # type: ignore[attr-defined]
    return counts.tobytes() + repr(totals).encode() + hist.encode()  # type: ignore[attr-defined]


@settings(max_examples=60, deadline=None)
@given(_VALUES, _VALUES)
def test_bulk_equals_one_by_one_counter_for_counter(first: list[int], second: list[int]) -> None:
    hist = new_histogram()
    record_many(hist, np.array(first, dtype=np.int64))
    record_many(hist, np.array(second, dtype=np.int64))  # folds add up, as intervals do
    assert _state(hist) == _one_by_one(first + second)


def test_every_bucket_edge_lands_where_the_library_puts_it() -> None:
    edges = [2**k + delta for k in range(32) for delta in (-1, 0, 1) if 2**k + delta >= 1]
    values = [*edges, HIGHEST_MICROS, HIGHEST_MICROS - 1]
    hist = new_histogram()
    record_many(hist, np.array(values, dtype=np.int64))
    assert _state(hist) == _one_by_one(values)


def test_a_value_past_the_counters_is_refused_whole() -> None:
    hist = new_histogram()
    with pytest.raises(ValueError, match="outside the histogram's range"):
        record_many(hist, np.array([5, 2**62], dtype=np.int64))
    assert hist.total_count == 0


def test_the_recorder_clamps_counts_and_folds_early_as_recording_one_by_one() -> None:
    """Past 65,536 values a key's buffer is folded at once; the drain gives the same result."""
    rng = np.random.default_rng(7)
    values = [int(v) for v in rng.lognormal(8.0, 2.0, 70_000).astype(np.int64)]
    values += [0, -3, HIGHEST_MICROS + 1, 2 * HIGHEST_MICROS]
    recorder = StatsRecorder()
    for value in values:
        recorder.record_op("cls", "single_insert", value, True)
    report = recorder.drain()
    clipped = [min(max(value, 1), HIGHEST_MICROS) for value in values]
    expected = new_histogram()
    for value in clipped:
        expected.record_value(value)
    assert report.histograms == {(LATENCY, "cls", "single_insert"): expected.encode()}
    assert report.clamped == 2
    assert report.ops == {("cls", "single_insert"): len(values)}


@pytest.mark.parametrize(
    "hist",
    [new_histogram(), HdrHistogram(1, 60_000_000, 2), HdrHistogram(1000, 10**12, 3)],
    ids=["the runs' layout", "2 digits", "a unit of 1000"],
)
def test_counter_medians_are_the_librarys_counter_by_counter(hist: object) -> None:
    # The library's own walk: what get_mean_value weighs each counter by.
    expected = []
    for index in range(hist.counts_len):  # type: ignore[attr-defined]
        value = hist.get_value_from_index(index)  # type: ignore[attr-defined]
        low = hist.get_lowest_equivalent_value(value)  # type: ignore[attr-defined]
        high = hist.get_highest_equivalent_value(value)  # type: ignore[attr-defined]
        expected.append(low + ((high - low + 1) >> 1))
    assert counter_medians(hist).tolist() == expected


@given(
    st.lists(
        st.one_of(
            st.floats(min_value=0, max_value=3600, allow_nan=False),
            # Just below and at whole microseconds, where a product rounds either way.
            st.integers(0, 3_600_000_000).map(lambda us: us / 1_000_000),
            st.integers(1, 3_600_000_000).map(lambda us: np.nextafter(us / 1e6, 0.0)),
        ),
        max_size=300,
    )
)
@settings(max_examples=200, deadline=None)
def test_micros_of_seconds_is_int_of_the_product_value_for_value(seconds: list[float]) -> None:
    converted = micros_of(array("d", seconds))
    assert converted.typecode == "q"
    assert list(converted) == [int(value * 1_000_000) for value in seconds]
