"""Mergeable statistics: merge equals one stream, flat memory, caps, and the results shape."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stress.observe.stats import (
    ERROR_CLASSES,
    HIGHEST_MICROS,
    LATENCY,
    MAX_ERROR_MESSAGES,
    TIMELINE_CAP,
    StatsAggregator,
    StatsRecorder,
    StatsReport,
    new_histogram,
    percentiles_ms,
)

_CLASSES = ("inserter", "query", "mixed")
_OPS = ("bulk_insert", "single_insert", "simple_select", "aggregate")
_SUMMARY_KEYS = {"p50", "p90", "p95", "p99", "p99_9", "max", "mean", "count"}

Event = tuple[str, str, int, bool, int, int]


def _stream(seed: int, n: int) -> list[Event]:
    """``n`` seeded operations: (class, op, micros, ok, rows inserted, rows queried)."""
    rng = np.random.default_rng(seed)
    micros = rng.lognormal(mean=8.0, sigma=1.5, size=n).astype(np.int64)
    return [
        (
            _CLASSES[int(rng.integers(len(_CLASSES)))],
            _OPS[int(rng.integers(len(_OPS)))],
            int(micros[i]),
            bool(rng.random() > 0.05),
            int(rng.integers(0, 100)),
            int(rng.integers(0, 10)),
        )
        for i in range(n)
    ]


def _feed(recorder: StatsRecorder, events: list[Event]) -> None:
    for user_class, op, micros, ok, inserted, queried in events:
        recorder.record_op(user_class, op, micros, ok, inserted, queried)
        recorder.record_value("service", user_class, op, micros // 2)
        if not ok:
            recorder.record_error(user_class, op, "busy", f"{op} failed after {micros} us")


def _aggregate(*reports: StatsReport, duration_s: float = 10.0) -> dict[str, Any]:
    aggregator = StatsAggregator()
    for report in reports:
        aggregator.merge(report)
    return aggregator.results(duration_s)


def test_merge_of_two_recorders_equals_one_recorder_that_saw_both() -> None:
    first, second = _stream(1, 3_000), _stream(2, 2_000)
    left, right, both = StatsRecorder(), StatsRecorder(), StatsRecorder()
    _feed(left, first)
    _feed(right, second)
    _feed(both, first + second)

    merged = _aggregate(left.drain(), right.drain())
    single = _aggregate(both.drain())

    assert merged == single
    assert merged["total_operations"] == 5_000
    assert merged["latency_ms"]["count"] == 5_000


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(st.integers(min_value=-10, max_value=2 * HIGHEST_MICROS), max_size=200),
    split=st.integers(min_value=0, max_value=200),
)
def test_any_split_of_a_stream_merges_to_the_same_percentiles(
    values: list[int], split: int
) -> None:
    parts = (values[:split], values[split:])
    recorders = [StatsRecorder() for _ in parts]
    for recorder, part in zip(recorders, parts, strict=True):
        for micros in part:
            recorder.record_op("mixed", "aggregate", micros, True)
    whole = StatsRecorder()
    for micros in values:
        whole.record_op("mixed", "aggregate", micros, True)

    merged = _aggregate(*(recorder.drain() for recorder in recorders))
    single = _aggregate(whole.drain())

    assert merged["latency_ms"] == single["latency_ms"]
    assert merged["clamped_values"] == single["clamped_values"]


def test_percentiles_ms_agree_with_the_library() -> None:
    hist = new_histogram()
    for micros in _stream(3, 5_000):
        hist.record_value(micros[2])

    summary = percentiles_ms(hist)

    for key, percentile in (("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9)):
        assert summary[key] == round(hist.get_value_at_percentile(percentile) / 1000, 3)
    assert summary["max"] == round(hist.get_max_value() / 1000, 3)
    assert summary["mean"] == pytest.approx(hist.get_mean_value() / 1000, abs=0.001)
    assert summary["count"] == 5_000


def test_percentiles_ms_of_an_empty_histogram_are_zero() -> None:
    summary = percentiles_ms(new_histogram())

    assert set(summary) == _SUMMARY_KEYS
    assert all(value == 0 for value in summary.values())


def test_drain_returns_everything_since_the_last_drain_and_resets() -> None:
    recorder = StatsRecorder()
    recorder.record_op("inserter", "bulk_insert", 1_500, False, rows_inserted=0)
    recorder.record_error("inserter", "bulk_insert", "lock_timeout", "locked")

    first = recorder.drain()
    second = recorder.drain()

    assert first.ops == {("inserter", "bulk_insert"): 1}
    assert first.failed == {("inserter", "bulk_insert"): 1}
    assert first.errors_by_class == {"lock_timeout": 1}
    assert second == StatsReport({}, {}, {}, 0, 0, {}, (), 0)


def test_values_below_one_record_as_one_and_above_the_max_clamp() -> None:
    recorder = StatsRecorder()
    recorder.record_op("query", "simple_select", 0, True)
    recorder.record_op("query", "simple_select", -7, True)
    recorder.record_op("query", "simple_select", HIGHEST_MICROS + 1, True)
    recorder.record_op("query", "simple_select", 10 * HIGHEST_MICROS, True)

    report = recorder.drain()
    results = _aggregate(report)

    assert report.clamped == 2
    assert results["clamped_values"] == 2
    assert results["latency_ms"]["p50"] == 0.001
    assert results["latency_ms"]["max"] == pytest.approx(HIGHEST_MICROS / 1000, rel=1e-3)


def test_values_up_to_2048_us_are_exact_and_larger_ones_keep_three_digits() -> None:
    summary = percentiles_ms(_hist_of(2_047, 8_000))

    assert summary["p50"] == 2.047
    assert summary["max"] == pytest.approx(8.0, rel=1e-3)


def test_histograms_are_keyed_by_metric_class_and_op() -> None:
    recorder = StatsRecorder()
    recorder.record_op("inserter", "bulk_insert", 900, True, rows_inserted=500)
    recorder.record_op("query", "aggregate", 4_000, True, rows_queried=12, metric="service")
    recorder.record_value("schedule_lag", "query", "aggregate", 250)

    report = recorder.drain()

    assert set(report.histograms) == {
        (LATENCY, "inserter", "bulk_insert"),
        ("service", "query", "aggregate"),
        ("schedule_lag", "query", "aggregate"),
    }
    assert report.ops == {("inserter", "bulk_insert"): 1, ("query", "aggregate"): 1}
    assert (report.rows_inserted, report.rows_queried) == (500, 12)


def test_results_split_latency_by_op_and_class_and_other_metrics() -> None:
    recorder = StatsRecorder()
    recorder.record_op("inserter", "bulk_insert", 1_000, True)
    recorder.record_op("mixed", "bulk_insert", 2_000, True)
    recorder.record_op("mixed", "simple_select", 2_000, True)
    recorder.record_value("backpressure_wait", "mixed", "simple_select", 5_000)

    results = _aggregate(recorder.drain())

    assert results["latency_by_op"]["bulk_insert"]["count"] == 2
    assert results["latency_by_op"]["bulk_insert"]["max"] == 2.0
    assert results["latency_by_class"]["mixed"]["all"]["count"] == 2
    assert results["latency_by_class"]["inserter"]["bulk_insert"]["p50"] == 1.0
    assert results["metrics"] == {
        "backpressure_wait": {"mixed": {"simple_select": percentiles_ms(_hist_of(5_000))}}
    }
    assert results["operations_by_type"] == {"bulk_insert": 2, "simple_select": 1}


def _hist_of(*micros: int) -> Any:
    hist = new_histogram()
    for value in micros:
        hist.record_value(value)
    return hist


def test_error_messages_are_capped_per_report_and_overall() -> None:
    reports = []
    for worker in range(2):
        recorder = StatsRecorder()
        for i in range(MAX_ERROR_MESSAGES + 30):
            recorder.record_error("query", "aggregate", "engine", f"worker {worker} error {i}")
        reports.append(recorder.drain())

    results = _aggregate(*reports)

    assert all(len(report.errors) == MAX_ERROR_MESSAGES for report in reports)
    assert len(results["errors"]) == MAX_ERROR_MESSAGES
    assert results["errors"][0] == {
        "class": "engine",
        "op": "aggregate",
        "user_class": "query",
        "message": "worker 0 error 0",
    }
    assert results["errors_by_class"]["engine"] == 2 * (MAX_ERROR_MESSAGES + 30)


def test_long_messages_are_cut_and_unknown_classes_are_refused() -> None:
    recorder = StatsRecorder()
    recorder.record_error("query", "aggregate", "other", "x" * 10_000)

    with pytest.raises(ValueError, match="'deadlock' is not one of"):
        recorder.record_error("query", "aggregate", "deadlock", "boom")
    assert len(recorder.drain().errors[0].message) == 500


def test_errors_by_class_has_every_class() -> None:
    results = _aggregate()

    assert results["errors_by_class"] == dict.fromkeys(ERROR_CLASSES, 0)


def _interval(aggregator: StatsAggregator, micros: int, ops: int, end_s: float) -> None:
    recorder = StatsRecorder()
    for _ in range(ops):
        recorder.record_op("inserter", "single_insert", micros, True, rows_inserted=1)
    aggregator.merge(recorder.drain())
    aggregator.close_interval(end_s)


def test_close_interval_reports_the_interval_rate_and_latency() -> None:
    aggregator = StatsAggregator()
    _interval(aggregator, 1_000, 10, 5.0)
    recorder = StatsRecorder()
    for _ in range(20):
        recorder.record_op("inserter", "single_insert", 2_000, False)
    aggregator.merge(recorder.drain())

    entry = aggregator.close_interval(7.0)

    assert entry == {
        "t_s": 7.0,
        "interval_s": 2.0,
        "ops": 20,
        "ops_per_s": 10.0,
        "errors": 20,
        "p50_ms": 2.0,
        "p99_ms": 2.0,
        "rows_inserted": 0,
    }
    live = aggregator.live()
    assert (live.total_ops, live.errors, live.rows_inserted) == (30, 20, 10)
    assert (live.interval_ops_per_s, live.interval_p99_ms, live.overall_p99_ms) == (10.0, 2.0, 2.0)


def test_timeline_is_capped_by_merging_adjacent_pairs_exactly() -> None:
    aggregator = StatsAggregator(timeline_cap=2)
    _interval(aggregator, 1_000, 99, 1.0)
    _interval(aggregator, 2_000, 1, 2.0)
    _interval(aggregator, 5_000, 4, 4.0)

    timeline = aggregator.results(4.0)["timeline"]

    merged = percentiles_ms(_hist_of(*([1_000] * 99 + [2_000])))
    assert [entry["t_s"] for entry in timeline] == [2.0, 4.0]
    assert timeline[0]["ops"] == 100
    assert timeline[0]["ops_per_s"] == 50.0
    assert (timeline[0]["p50_ms"], timeline[0]["p99_ms"]) == (merged["p50"], merged["p99"])
    assert timeline[1]["interval_s"] == 2.0


def test_a_long_timeline_stays_under_the_cap_and_covers_the_run() -> None:
    aggregator = StatsAggregator(timeline_cap=16)
    for second in range(1, 101):
        _interval(aggregator, 1_000 + second, 3, float(second))

    timeline = aggregator.results(100.0)["timeline"]

    assert len(timeline) <= 16
    assert sum(entry["ops"] for entry in timeline) == 300
    assert sum(entry["interval_s"] for entry in timeline) == pytest.approx(100.0)
    assert timeline[-1]["t_s"] == 100.0
    assert TIMELINE_CAP == 2_000


def test_results_close_a_pending_interval_at_the_end() -> None:
    aggregator = StatsAggregator()
    _interval(aggregator, 1_000, 5, 5.0)
    recorder = StatsRecorder()
    recorder.record_op("query", "aggregate", 2_000, True)
    aggregator.merge(recorder.drain())

    timeline = aggregator.results(6.5)["timeline"]

    assert [(entry["t_s"], entry["ops"]) for entry in timeline] == [(5.0, 5), (6.5, 1)]


def test_reports_pickle_and_merge_after_the_round_trip() -> None:
    recorder = StatsRecorder()
    _feed(recorder, _stream(4, 500))
    report = recorder.drain()

    copy = pickle.loads(pickle.dumps(report))

    assert copy == report
    assert _aggregate(copy) == _aggregate(report)
    assert len(pickle.dumps(report)) < 64 * 1024


def test_results_have_every_key_with_the_right_types() -> None:
    recorder = StatsRecorder()
    _feed(recorder, _stream(5, 300))
    aggregator = StatsAggregator()
    aggregator.merge(recorder.drain())
    aggregator.close_interval(2.0)

    results = aggregator.results(3.0)

    expected: dict[str, type | tuple[type, ...]] = {
        "total_operations": int,
        "successful_operations": int,
        "failed_operations": int,
        "operations_by_type": dict,
        "failed_operations_by_type": dict,
        "failed_operations_by_class": dict,
        "errors": list,
        "errors_by_class": dict,
        "total_rows_inserted": int,
        "total_rows_queried": int,
        "throughput_ops_per_sec": float,
        "insert_rows_per_sec": float,
        "latency_ms": dict,
        "latency_by_op": dict,
        "latency_by_class": dict,
        "metrics": dict,
        "timeline": list,
        "clamped_values": int,
        "counters": dict,
        "actual_duration_secs": float,
    }
    assert set(results) == set(expected)
    for key, kind in expected.items():
        assert isinstance(results[key], kind), key
    assert results["throughput_ops_per_sec"] == 100.0
    by_class = results["failed_operations_by_class"]
    assert sum(sum(ops.values()) for ops in by_class.values()) == results["failed_operations"] > 0
    for op, failed in results["failed_operations_by_type"].items():
        assert sum(ops.get(op, 0) for ops in by_class.values()) == failed, op
    _assert_summary(results["latency_ms"])
    for summary in results["latency_by_op"].values():
        _assert_summary(summary)
    for by_op in results["latency_by_class"].values():
        assert "all" in by_op
        for summary in by_op.values():
            _assert_summary(summary)
    for summary in results["metrics"]["service"]["query"].values():
        _assert_summary(summary)
    assert set(results["timeline"][0]) >= {"t_s", "ops", "ops_per_s", "errors", "p50_ms"}


def _assert_summary(summary: dict[str, float]) -> None:
    assert set(summary) == _SUMMARY_KEYS
    assert isinstance(summary["count"], int)
    assert all(isinstance(summary[key], float) for key in _SUMMARY_KEYS - {"count"})
    assert summary["p50"] <= summary["p99"] <= summary["p99_9"] <= summary["max"]


def test_memory_is_flat_a_million_values_encode_no_bigger_than_a_thousand() -> None:
    # Cycle through 2,000 values spread over 1 us .. 10 s so every touched counter is touched
    # early; only the counts grow after that, and the encoding must not grow with them.
    values = np.geomspace(1, 10_000_000, num=2_000).astype(np.int64).tolist()
    recorder = StatsRecorder()
    record = recorder.record_op
    sizes = {}
    for total in (1_000, 1_000_000):
        recorder.drain()
        for i in range(total):
            record("inserter", "bulk_insert", values[i % 2_000], True)
        report = recorder.drain()
        sizes[total] = len(pickle.dumps(report))

    assert sizes[1_000_000] <= 2 * sizes[1_000] + 1_024
    assert sizes[1_000_000] < 32 * 1024


def test_threads_recording_at_once_lose_nothing() -> None:
    recorder = StatsRecorder()

    def user(index: int) -> None:
        for i in range(5_000):
            recorder.record_op(_CLASSES[index % 3], "simple_select", 100 + i, i % 10 != 0)

    threads = [threading.Thread(target=user, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    results = _aggregate(recorder.drain())
    assert results["total_operations"] == 30_000
    assert results["failed_operations"] == 3_000
    assert results["latency_ms"]["count"] == 30_000
