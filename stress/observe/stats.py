"""Mergeable run statistics with flat memory.

Every user thread records each operation into its worker's :class:`StatsRecorder`. Each log
interval the worker calls :meth:`StatsRecorder.drain` and sends the small, picklable
:class:`StatsReport` to the coordinator, whose :class:`StatsAggregator` merges the reports, closes
one timeline entry per interval and finally builds the summary's ``results`` section.

Durations are recorded in integer **microseconds** into HdrHistograms (1 us to 1 h, three
significant digits), keyed by ``(metric, user_class, op)``; every figure shown to people is in
**milliseconds** with three decimals. Memory is flat however long the run: a histogram has a
fixed number of counters, no list of latencies is ever kept, messages are capped at 100, and the
timeline is capped at :data:`TIMELINE_CAP` entries.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

from stress.metadb.engines import DISK_FULL
from stress.observe.hdrbulk import ValueBuffer, counter_medians, new_buffer, record_many
from stress.summary import MAX_ERROR_MESSAGES, ErrorEntry, Percentiles, RunStats, TimelineEntry

__all__ = [
    "ERROR_CLASSES",
    "HIGHEST_MICROS",
    "LATENCY",
    "MAX_ERROR_MESSAGES",
    "TIMELINE_CAP",
    "ErrorSample",
    "HistKey",
    "IntervalSink",
    "LiveFigures",
    "OpKeys",
    "StatsAggregator",
    "StatsRecorder",
    "StatsReport",
    "new_histogram",
    "op_keys",
    "percentiles_ms",
]

#: The classes every recorded error belongs to; ``results["errors_by_class"]`` has all of them.
ERROR_CLASSES = ("lock_timeout", "busy", "spooled", DISK_FULL, "integrity", "engine", "other")

#: The metric of an operation's end-to-end latency; other metrics (``"service"``,
#: ``"schedule_lag"``, ...) are reported under ``results["metrics"]``.
LATENCY = "latency"
#: Metric names of the duration histograms besides ``latency`` (all in microseconds).
SERVICE = "service"
SCHEDULE_LAG = "schedule_lag"
BACKPRESSURE_WAIT = "backpressure_wait"
#: Prefix of the counters (``results["counters"]``) of failed ops by the store's own error
#: class, e.g. ``store_error.engine_refused``: what is behind a ``spooled`` or ``engine`` error.
STORE_ERROR_COUNTER = "store_error."

#: Largest trackable value, in microseconds (one hour); larger values are clamped to it.
HIGHEST_MICROS = 3_600_000_000
_LOWEST_MICROS = 1
_SIGNIFICANT_DIGITS = 3

# MAX_ERROR_MESSAGES (from stress.summary): error messages kept per report, and overall in
# ``results["errors"]``.
# A message is a diagnostic, not a payload: long tracebacks would make reports heavy.
_MAX_MESSAGE_CHARS = 500

#: Values a key's buffer holds before it is folded into its histogram early (512 KiB):
#: memory stays flat however long the interval.
_FOLD_AT = 65_536

#: Most timeline entries kept; past it, adjacent pairs of entries are merged into one.
TIMELINE_CAP = 2_000

#: ``(metric, user_class, op)``: the key of every histogram.
HistKey = tuple[str, str, str]
_OpKey = tuple[str, str]  # (user_class, op)

#: The percentiles of :class:`~stress.summary.Percentiles`, in its order (p50 ... p99_9).
_PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


#: An op's counting key (user class, op) and its histogram's (metric, user class, op).
OpKeys = tuple[tuple[str, str], tuple[str, str, str]]


def op_keys(user_class: str, op: str, metric: str = LATENCY) -> OpKeys:
    """The keys :meth:`StatsRecorder.record_landed` counts and records ops under: a user
    makes them once for its commonest op."""
    return (user_class, op), (metric, user_class, op)


def new_histogram() -> Any:
    """An empty histogram of microseconds with the layout every report uses."""
    return HdrHistogram(_LOWEST_MICROS, HIGHEST_MICROS, _SIGNIFICANT_DIGITS)


def _decode(encoded: bytes) -> Any:
    return HdrHistogram.decode(encoded)


@functools.cache
def _median_micros(counts_len: int) -> npt.NDArray[np.float64]:
    """The median value (us) each counter stands for, as ``HdrHistogram.get_mean_value`` uses.

    Computed once per process (2 ms, in bulk) so the mean costs one vectorised product over
    the nonzero counters instead of the library's pure-Python walk (about 35 ms per histogram).
    """
    layout = counter_medians(new_histogram())
    medians = np.zeros(counts_len, dtype=np.float64)
    known = min(counts_len, len(layout))
    medians[:known] = layout[:known]
    return medians


def _ms(micros: float) -> float:
    return round(micros / 1000.0, 3)


def percentiles_ms(hist: Any) -> Percentiles:
    """Summarise a histogram of microseconds in milliseconds (three decimals).

    Returns ``{p50, p90, p95, p99, p99_9, max, mean, count}``; ``count`` is an int and an empty
    histogram gives zeros. A percentile is the highest value equivalent to its counter, as in
    ``HdrHistogram.get_value_at_percentile``, so no percentile ever exceeds ``max``.
    """
    counts = np.ctypeslib.as_array(hist.counts).astype(np.int64, copy=False)
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1]) if len(cumulative) else 0
    if total == 0:
        return Percentiles(
            p50=0.0, p90=0.0, p95=0.0, p99=0.0, p99_9=0.0, max=0.0, mean=0.0, count=0
        )
    values = []
    for percentile in _PERCENTILES:
        target = max(int(percentile * total / 100 + 0.5), 1)
        index = int(np.searchsorted(cumulative, target, side="left"))
        values.append(_ms(_highest_at(hist, index)))
    p50, p90, p95, p99, p99_9 = values
    # An element-wise product over the nonzero counters, not ``np.dot``: a dot product of
    # int64 by float64 goes through BLAS, whose thread pool took 6-10 ms a call (0.1 ms on one
    # thread) and kept the other core spinning; this takes about 30 us and starts no thread.
    nonzero = np.flatnonzero(counts)
    medians = _median_micros(len(counts))[nonzero]
    mean = float(np.multiply(counts[nonzero], medians).sum()) / total
    return Percentiles(
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        p99_9=p99_9,
        max=_ms(_highest_at(hist, int(nonzero[-1]))),
        mean=_ms(mean),
        count=total,
    )


def _highest_at(hist: Any, index: int) -> int:
    return int(hist.get_highest_equivalent_value(hist.get_value_from_index(index)))


@dataclass(frozen=True, slots=True)
class ErrorSample:
    """One kept error message."""

    error_class: str
    """One of :data:`ERROR_CLASSES`."""
    op: str
    user_class: str
    message: str
    """The message, cut to 500 characters."""

    def to_dict(self) -> ErrorEntry:
        """The summary's shape: ``{class, op, user_class, message}``."""
        return {
            "class": self.error_class,
            "op": self.op,
            "user_class": self.user_class,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class StatsReport:
    """Everything one worker recorded during one interval; small and picklable."""

    histograms: dict[HistKey, bytes]
    """Histograms of microseconds, each ``HdrHistogram.encode()``-d (compressed, base64)."""
    ops: dict[_OpKey, int]
    """Operations recorded per ``(user_class, op)``, failed ones included."""
    failed: dict[_OpKey, int]
    """Failed operations per ``(user_class, op)``."""
    rows_inserted: int
    rows_queried: int
    errors_by_class: dict[str, int]
    """Calls to :meth:`StatsRecorder.record_error` per error class."""
    errors: tuple[ErrorSample, ...]
    """The first :data:`MAX_ERROR_MESSAGES` error messages of the interval."""
    clamped: int
    """Values above :data:`HIGHEST_MICROS` that were recorded as that maximum."""
    counters: dict[str, int] = dataclasses.field(default_factory=dict)
    """Named event counts (``late_ops``, ``skipped_ops``, ...), see :meth:`StatsRecorder.count`."""


class StatsRecorder:
    """One per worker process: thread-safe recording of operations, values and errors.

    One lock guards everything. The hot path :meth:`record_op` costs well under a microsecond:
    one lock, two dict updates and one append of the value to its key's buffer. The buffers
    are folded into their histograms in bulk (:mod:`stress.observe.hdrbulk`) at each drain,
    or when one fills, so the histograms are exactly those of recording value by value.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._hists: dict[HistKey, Any] = {}
        self._values: dict[HistKey, ValueBuffer] = {}
        self._ops: dict[_OpKey, int] = {}
        self._failed: dict[_OpKey, int] = {}
        self._rows_inserted = 0
        self._rows_queried = 0
        self._errors_by_class: dict[str, int] = {}
        self._errors: list[ErrorSample] = []
        self._clamped = 0
        self._counters: dict[str, int] = {}

    def count(self, counter: str, amount: int = 1) -> None:
        """Add ``amount`` to the named counter (events that are not durations, e.g. skips)."""
        with self._lock:
            self._counters[counter] = self._counters.get(counter, 0) + amount

    def record_op(
        self,
        user_class: str,
        op: str,
        micros: int,
        ok: bool,
        rows_inserted: int = 0,
        rows_queried: int = 0,
        metric: str = LATENCY,
    ) -> None:
        """Count one operation and record its duration (us) under ``metric``.

        Values below 1 us are recorded as 1 us; values above one hour as one hour (and counted
        as clamped). Rows are counted as given, so pass 0 for a failed write.
        """
        key = (user_class, op)
        with self._lock:
            self._ops[key] = self._ops.get(key, 0) + 1
            if not ok:
                self._failed[key] = self._failed.get(key, 0) + 1
            self._rows_inserted += rows_inserted
            self._rows_queried += rows_queried
            self._record((metric, user_class, op), micros)

    def record_landed(self, keys: OpKeys, latencies: ValueBuffer, rows_each: int) -> None:
        """:meth:`record_op` for a run of ops that did what they meant to, each with its
        latency in ``latencies`` and ``rows_each`` rows inserted: one lock for them all."""
        key, hist_key = keys
        count = len(latencies)
        with self._lock:
            ops = self._ops
            ops[key] = ops.get(key, 0) + count
            self._rows_inserted += count * rows_each
            values = self._buffer(hist_key)
            values.extend(latencies)
            self._fold_if_full(hist_key, values)

    def record_value(self, metric: str, user_class: str, op: str, micros: int) -> None:
        """Record a duration (us) under another metric without counting an operation."""
        with self._lock:
            self._record((metric, user_class, op), micros)

    def _record(self, key: HistKey, micros: int) -> None:
        # Caller holds the lock. Clamping waits for the fold; an int64 holds any duration.
        values = self._buffer(key)
        values.append(micros)
        self._fold_if_full(key, values)

    def _buffer(self, key: HistKey) -> ValueBuffer:
        """``key``'s buffer of values not yet folded (caller holds the lock)."""
        values = self._values.get(key)
        if values is None:
            values = self._values[key] = new_buffer()
        return values

    def _fold_if_full(self, key: HistKey, values: ValueBuffer) -> None:
        """Fold a buffer that reached :data:`_FOLD_AT` values (caller holds the lock)."""
        if len(values) >= _FOLD_AT:
            self._clamped += _fold(self._hists, key, values)
            self._values[key] = new_buffer()

    def record_error(self, user_class: str, op: str, error_class: str, message: str) -> None:
        """Count an error by class; keep the message if fewer than 100 were kept this interval.

        Raises ``ValueError`` when ``error_class`` is not one of :data:`ERROR_CLASSES`.
        """
        if error_class not in ERROR_CLASSES:
            raise ValueError(
                f"error_class={error_class!r} is not one of {ERROR_CLASSES}; "
                "classify the error as 'other' if it fits none of them"
            )
        with self._lock:
            self._errors_by_class[error_class] = self._errors_by_class.get(error_class, 0) + 1
            if len(self._errors) < MAX_ERROR_MESSAGES:
                sample = ErrorSample(error_class, op, user_class, message[:_MAX_MESSAGE_CHARS])
                self._errors.append(sample)

    def drain(self) -> StatsReport:
        """Return everything recorded since the previous drain, and start afresh."""
        with self._lock:
            hists, values, ops, failed = self._hists, self._values, self._ops, self._failed
            report_rows = (self._rows_inserted, self._rows_queried)
            errors_by_class, errors, clamped = self._errors_by_class, self._errors, self._clamped
            counters = self._counters
            self._reset()
        # Folding and encoding (zlib) happen outside the lock so user threads never wait.
        for key, buffer in values.items():
            clamped += _fold(hists, key, buffer)
        return StatsReport(
            histograms={key: hist.encode() for key, hist in hists.items()},
            ops=ops,
            failed=failed,
            rows_inserted=report_rows[0],
            rows_queried=report_rows[1],
            errors_by_class=errors_by_class,
            errors=tuple(errors),
            clamped=clamped,
            counters=counters,
        )


def _fold(hists: dict[HistKey, Any], key: HistKey, buffer: ValueBuffer) -> int:
    """Record ``buffer`` into ``hists[key]`` (made if missing); returns the values clamped."""
    hist = hists.get(key)
    if hist is None:
        hist = hists[key] = new_histogram()
    values = np.frombuffer(buffer, dtype=np.int64)
    clamped = int(np.count_nonzero(values > HIGHEST_MICROS))
    record_many(hist, np.clip(values, _LOWEST_MICROS, HIGHEST_MICROS))
    return clamped


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """What the progress line shows; none of it depends on the elapsed time."""

    total_ops: int
    """Operations merged so far, failed ones included."""
    errors: int
    """Failed operations merged so far."""
    rows_inserted: int
    """Rows inserted so far."""
    interval_ops_per_s: float
    """Throughput of the last closed interval, in operations per second."""
    interval_p99_ms: float
    """p99 latency of the last closed interval, in milliseconds."""
    overall_p99_ms: float
    """p99 latency of every operation merged so far, in milliseconds."""


@dataclass(frozen=True, slots=True)
class _Window:
    """One timeline entry; ``latency`` is an encoded histogram so pairs can merge exactly."""

    start_s: float
    end_s: float
    ops: int
    errors: int
    rows_inserted: int
    latency: bytes
    p50_ms: float
    p99_ms: float

    def to_dict(self) -> TimelineEntry:
        width = self.end_s - self.start_s
        return {
            "t_s": round(self.end_s, 3),
            "interval_s": round(width, 3),
            "ops": self.ops,
            "ops_per_s": _rate(self.ops, width),
            "errors": self.errors,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "rows_inserted": self.rows_inserted,
        }


def _window(start_s: float, end_s: float, counts: tuple[int, int, int], latency: Any) -> _Window:
    """A timeline entry from ``(ops, errors, rows_inserted)`` and a latency histogram (us)."""
    summary = percentiles_ms(latency)
    ops, errors, rows_inserted = counts
    return _Window(
        start_s, end_s, ops, errors, rows_inserted, latency.encode(), summary["p50"], summary["p99"]
    )


def _merge_windows(first: _Window, second: _Window) -> _Window:
    hist = _decode(first.latency)
    hist.decode_and_add(second.latency)
    counts = (
        first.ops + second.ops,
        first.errors + second.errors,
        first.rows_inserted + second.rows_inserted,
    )
    return _window(first.start_s, second.end_s, counts, hist)


def _add(totals: dict[Any, int], counts: dict[Any, int]) -> None:
    for key, count in counts.items():
        totals[key] = totals.get(key, 0) + count


class IntervalSink(Protocol):
    """Sees every decoded histogram and each interval's close (the HDR logs: observe.hlog)."""

    def add(self, histograms: Mapping[HistKey, Any]) -> None: ...

    def close_interval(self, start_s: float, end_s: float) -> None: ...


class StatsAggregator:
    """The coordinator's merge of every worker's reports.

    The timeline holds at most ``timeline_cap`` entries: when one more would overflow it,
    adjacent pairs are merged (exactly: their histograms are added), so a 24 h soak keeps a
    bounded timeline whose older entries cover wider windows (see each entry's ``interval_s``).
    """

    def __init__(
        self, timeline_cap: int = TIMELINE_CAP, interval_sink: IntervalSink | None = None
    ) -> None:
        if timeline_cap < 2:
            raise ValueError(f"timeline_cap={timeline_cap} must be at least 2 to merge pairs")
        self._timeline_cap = timeline_cap
        # Sees each interval whole, before the timeline's pairwise merges can blur it.
        self._sink = interval_sink
        self._lock = threading.Lock()
        self._hists: dict[HistKey, Any] = {}
        self._all_latency = new_histogram()
        self._ops: dict[_OpKey, int] = {}
        self._failed: dict[_OpKey, int] = {}
        self._rows_inserted = 0
        self._rows_queried = 0
        self._errors_by_class = dict.fromkeys(ERROR_CLASSES, 0)
        self._errors: list[ErrorSample] = []
        self._clamped = 0
        self._counters: dict[str, int] = {}
        self._timeline: list[_Window] = []
        self._closed_s = 0.0
        self._last_interval = (0.0, 0.0)  # (ops/s, p99 ms) of the last closed interval
        self._open_window()

    def _open_window(self) -> None:
        self._window_latency = new_histogram()
        self._window_ops = 0
        self._window_errors = 0
        self._window_rows = 0

    def merge(self, report: StatsReport) -> None:
        """Add one worker's report to the totals and to the open timeline interval."""
        decoded = {key: _decode(blob) for key, blob in report.histograms.items()}
        failed = sum(report.failed.values())
        with self._lock:
            if self._sink is not None:
                self._sink.add(decoded)
            for key, hist in decoded.items():
                self._hists.setdefault(key, new_histogram()).add(hist)
                if key[0] == LATENCY:
                    self._all_latency.add(hist)
                    self._window_latency.add(hist)
            _add(self._ops, report.ops)
            _add(self._failed, report.failed)
            _add(self._errors_by_class, report.errors_by_class)
            room = MAX_ERROR_MESSAGES - len(self._errors)
            self._errors.extend(report.errors[: max(room, 0)])
            self._rows_inserted += report.rows_inserted
            self._rows_queried += report.rows_queried
            self._clamped += report.clamped
            _add(self._counters, report.counters)
            self._window_ops += sum(report.ops.values())
            self._window_errors += failed
            self._window_rows += report.rows_inserted

    def close_interval(self, elapsed_s: float) -> TimelineEntry:
        """Close the open interval at ``elapsed_s`` (seconds since the run started).

        Returns its timeline entry: ``t_s, interval_s, ops, ops_per_s, errors, p50_ms, p99_ms,
        rows_inserted``, latencies in ms.
        """
        with self._lock:
            return self._close_locked(elapsed_s)

    def _close_locked(self, elapsed_s: float) -> TimelineEntry:
        counts = (self._window_ops, self._window_errors, self._window_rows)
        end_s = max(elapsed_s, self._closed_s)
        window = _window(self._closed_s, end_s, counts, self._window_latency)
        if self._sink is not None:
            self._sink.close_interval(self._closed_s, end_s)
        entry = window.to_dict()
        self._last_interval = (entry["ops_per_s"], entry["p99_ms"])
        self._timeline.append(window)
        if len(self._timeline) > self._timeline_cap:
            self._timeline = self._compacted()
        self._closed_s = window.end_s
        self._open_window()
        return entry

    def _compacted(self) -> list[_Window]:
        pairs = zip(self._timeline[0::2], self._timeline[1::2], strict=False)
        merged = [_merge_windows(first, second) for first, second in pairs]
        if len(self._timeline) % 2:
            merged.append(self._timeline[-1])
        return merged

    def live(self) -> LiveFigures:
        """Totals so far and the last closed interval's rate and p99, for the progress line."""
        with self._lock:
            ops_per_s, interval_p99 = self._last_interval
            return LiveFigures(
                total_ops=sum(self._ops.values()),
                errors=sum(self._failed.values()),
                rows_inserted=self._rows_inserted,
                interval_ops_per_s=ops_per_s,
                interval_p99_ms=interval_p99,
                overall_p99_ms=percentiles_ms(self._all_latency)["p99"],
            )

    def results(self, duration_s: float) -> RunStats:
        """The summary's ``results`` section for a run that lasted ``duration_s`` seconds.

        Anything merged after the last :meth:`close_interval` is closed at ``duration_s`` first,
        so the timeline covers the whole run.
        """
        with self._lock:
            if self._window_ops or self._window_errors:
                self._close_locked(duration_s)
            elif self._sink is not None:
                # Values without an op (a last backpressure wait) still reach the logs.
                self._sink.close_interval(self._closed_s, max(duration_s, self._closed_s))
            return self._results_locked(duration_s)

    def _results_locked(self, duration_s: float) -> RunStats:
        total = sum(self._ops.values())
        failed = sum(self._failed.values())
        return {
            "total_operations": total,
            "successful_operations": total - failed,
            "failed_operations": failed,
            "operations_by_type": _by_op(self._ops),
            "failed_operations_by_type": _by_op(self._failed),
            "failed_operations_by_class": _by_class(self._failed),
            "errors": [sample.to_dict() for sample in self._errors],
            "errors_by_class": dict(self._errors_by_class),
            "total_rows_inserted": self._rows_inserted,
            "total_rows_queried": self._rows_queried,
            "throughput_ops_per_sec": _rate(total, duration_s),
            "insert_rows_per_sec": _rate(self._rows_inserted, duration_s),
            "latency_ms": percentiles_ms(self._all_latency),
            "latency_by_op": self._latency_by_op(),
            "latency_by_class": self._latency_by_class(),
            "metrics": self._other_metrics(),
            "timeline": [window.to_dict() for window in self._timeline],
            "clamped_values": self._clamped,
            "counters": dict(sorted(self._counters.items())),
            "actual_duration_secs": round(duration_s, 3),
        }

    def _latency_by_op(self) -> dict[str, Percentiles]:
        by_op: dict[str, Any] = {}
        for (metric, _, op), hist in self._hists.items():
            if metric == LATENCY:
                by_op.setdefault(op, new_histogram()).add(hist)
        return {op: percentiles_ms(by_op[op]) for op in sorted(by_op)}

    def _latency_by_class(self) -> dict[str, dict[str, Percentiles]]:
        by_class: dict[str, dict[str, Percentiles]] = {}
        class_all: dict[str, Any] = {}
        for metric, user_class, op in sorted(self._hists):
            if metric != LATENCY:
                continue
            hist = self._hists[(metric, user_class, op)]
            by_class.setdefault(user_class, {})[op] = percentiles_ms(hist)
            class_all.setdefault(user_class, new_histogram()).add(hist)
        for user_class, hist in class_all.items():
            by_class[user_class]["all"] = percentiles_ms(hist)
        return by_class

    def _other_metrics(self) -> dict[str, dict[str, dict[str, Percentiles]]]:
        metrics: dict[str, dict[str, dict[str, Percentiles]]] = {}
        for metric, user_class, op in sorted(self._hists):
            if metric != LATENCY:
                hist = self._hists[(metric, user_class, op)]
                metrics.setdefault(metric, {}).setdefault(user_class, {})[op] = percentiles_ms(hist)
        return metrics


def _by_op(counts: dict[_OpKey, int]) -> dict[str, int]:
    by_op: dict[str, int] = {}
    for (_, op), count in sorted(counts.items()):
        by_op[op] = by_op.get(op, 0) + count
    return by_op


def _by_class(counts: dict[_OpKey, int]) -> dict[str, dict[str, int]]:
    by_class: dict[str, dict[str, int]] = {}
    for (user_class, op), count in sorted(counts.items()):
        by_class.setdefault(user_class, {})[op] = count
    return by_class


def _rate(count: int, duration_s: float) -> float:
    """``count`` per second over ``duration_s``; 0.0 for a zero-length run."""
    return round(count / duration_s, 3) if duration_s > 0 else 0.0
