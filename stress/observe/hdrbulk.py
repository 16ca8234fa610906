"""Values recorded into an HdrHistogram in bulk: one numpy pass instead of a call per value.

``HdrHistogram.record_value`` is pure Python, about 1.5 us a value: on the hot path of every
op. A user thread instead appends the value (an int) to a typed array, about 0.05 us, and the
array is folded here each interval: the counter index of every value computed at once with
the library's own formula, the counts added with one ``bincount``, and the histogram's total,
min and max moved as ``record_value`` would have moved them. The histogram that results is
the same, counter for counter (tests/observe/test_observe_hdrbulk.py).
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "SecondsBuffer",
    "ValueBuffer",
    "counter_medians",
    "micros_of",
    "new_buffer",
    "record_many",
]

if TYPE_CHECKING:
    #: A buffer of int64 values (microseconds): ``append`` is one C call.
    ValueBuffer: TypeAlias = array[int]
    #: A buffer of float64 durations in seconds, as a clock gave them.
    SecondsBuffer: TypeAlias = array[float]
else:
    ValueBuffer = array  # array is not subscriptable at run time before Python 3.12
    SecondsBuffer = array


def new_buffer() -> ValueBuffer:
    return array("q")


def micros_of(seconds: SecondsBuffer) -> ValueBuffer:
    """Durations in seconds as whole microseconds, each exactly ``int(s * 1_000_000)``.

    A user keeps its latencies as the clock's floats (one append an op, no multiply, no
    ``int``) and converts them here in bulk: numpy's float64 product is the same IEEE product,
    and ``astype`` truncates toward zero as ``int`` does.
    """
    values = np.frombuffer(seconds, dtype=np.float64) * 1_000_000
    return array("q", values.astype(np.int64).tobytes())


def _bit_length(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    # frexp gives x = m * 2**e with 0.5 <= m < 1, so e is the bit length of a positive x; exact
    # for every value below 2**53 (an hour is 3.6e9 us).
    return np.frexp(values.astype(np.float64))[1].astype(np.int64)


def counts_indexes(hist: Any, values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``hist._counts_index_for(v)`` of every (positive) value, vectorised."""
    unit = hist.unit_magnitude
    half_magnitude = hist.sub_bucket_half_count_magnitude
    pow2ceiling = _bit_length(values | hist.sub_bucket_mask)
    bucket = pow2ceiling - unit - (half_magnitude + 1)
    sub_bucket = values >> (bucket + unit)
    indexes: npt.NDArray[np.int64] = (
        ((bucket + 1) << half_magnitude) + sub_bucket - hist.sub_bucket_half_count
    )
    return indexes


def record_many(hist: Any, values: npt.NDArray[np.int64]) -> None:
    """Record each of ``values`` once, as ``hist.record_value`` would (values >= 1)."""
    if not len(values):
        return
    indexes = counts_indexes(hist, values)
    if indexes.min() < 0 or indexes.max() >= hist.counts_len:
        raise ValueError(f"values outside the histogram's range: {values.min()}..{values.max()}")
    counts = np.ctypeslib.as_array(hist.counts)
    counts += np.bincount(indexes, minlength=hist.counts_len).astype(counts.dtype, copy=False)
    hist.total_count += len(values)
    hist.min_value = min(hist.min_value, int(values.min()))
    hist.max_value = max(hist.max_value, int(values.max()))


def counter_medians(hist: Any) -> npt.NDArray[np.float64]:
    """The median value each counter of ``hist``'s layout stands for, as the library's
    ``get_mean_value`` weighs it: ``lowest + (highest - lowest + 1) // 2`` of the values
    equivalent to the counter's, for every counter at once (the library's walk, one counter
    at a time, holds the GIL for tens of milliseconds)."""
    unit = hist.unit_magnitude
    half_magnitude = hist.sub_bucket_half_count_magnitude
    half = hist.sub_bucket_half_count
    index = np.arange(hist.counts_len, dtype=np.int64)
    # get_value_from_index: the lowest value the counter stands for.
    bucket = (index >> half_magnitude) - 1
    sub_bucket = (index & (half - 1)) + half
    first = bucket < 0
    sub_bucket = np.where(first, sub_bucket - half, sub_bucket)
    bucket = np.where(first, 0, bucket)
    lowest = sub_bucket << (bucket + unit)
    # get_highest_equivalent_value: the bucket of that value, one wider past the sub-buckets.
    value_bucket = _bit_length(lowest | hist.sub_bucket_mask) - unit - (half_magnitude + 1)
    value_sub_bucket = lowest >> (value_bucket + unit)
    wider = np.where(value_sub_bucket >= hist.sub_bucket_count, value_bucket + 1, value_bucket)
    highest = lowest + (np.int64(1) << (unit + wider)) - 1
    medians: npt.NDArray[np.float64] = (lowest + ((highest - lowest + 1) >> 1)).astype(np.float64)
    return medians
