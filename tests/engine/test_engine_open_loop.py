"""Open-loop rate: response time from the scheduled start, service time, lag, late and skipped.

Every test here runs one user on a fake clock with a fake store whose every call takes a fixed
service time, so queueing is exact and a minute of schedule runs in milliseconds.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from monitor_helpers import LIMITS, FakeClock, fake_execute, profile, stub_store

from stress.controls import Controls
from stress.engine.users import UserResult, UserRunner, UserSpec
from stress.observe.stats import SCHEDULE_LAG, SERVICE, StatsAggregator, StatsRecorder
from stress.plan.pacing import LATE_OPS, OVER_LIMIT_OPS, SKIPPED_OPS, ArrivalSchedule, Pacing
from stress.plan.workload import UserPlan

SEED = 31337
SERVICE_S = 0.020  # capacity: 50 ops/s


def _run_user(
    monkeypatch: pytest.MonkeyPatch,
    ops: int,
    rate: float | None,
    limit_s: float | None = None,
    forced_skips: frozenset[int] | None = None,
    service_s: float = SERVICE_S,
) -> tuple[UserResult, dict[str, Any]]:
    clock = FakeClock()
    monkeypatch.setattr("stress.engine.users.execute", fake_execute(clock, service_s))
    recorder = StatsRecorder()
    spec = UserSpec(0, "query", 0, 0, ops_limit=ops, forced_skips=forced_skips)
    arrivals = None if rate is None else ArrivalSchedule(SEED, 0, rate)
    runner = UserRunner(
        spec,
        UserPlan(SEED, 0, profile("query"), LIMITS),
        stub_store(clock, service_s),
        recorder,
        Controls(threading.Event(), threading.Event(), threading.Event()),
        clock=clock,
        pacing=Pacing(rate, limit_s),
        arrivals=arrivals,
    )
    result = runner.run()
    assert result.harness_error is None, result.harness_error
    aggregator = StatsAggregator()
    aggregator.merge(recorder.drain())
    return result, aggregator.results(clock.now())


def _metric_p99(results: dict[str, Any], metric: str) -> float:
    by_op = results["metrics"][metric]["query"]
    return max(summary["p99"] for summary in by_op.values())


def test_response_time_grows_with_the_queue_while_service_time_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Offered 100 ops/s to a store that serves 50: the queue grows by half an op per op.
    _, short = _run_user(monkeypatch, 200, rate=100.0)
    _, long = _run_user(monkeypatch, 400, rate=100.0)
    _, light = _run_user(monkeypatch, 400, rate=10.0)
    for results in (short, long, light):
        assert _metric_p99(results, SERVICE) == pytest.approx(SERVICE_S * 1000, rel=0.01)
    # Overloaded, the last op waits for about half of the ops before it: 2 s at 200, 4 s at 400.
    assert short["latency_ms"]["p99"] > 1500
    assert long["latency_ms"]["p99"] > 1.8 * short["latency_ms"]["p99"]
    assert _metric_p99(long, SCHEDULE_LAG) > 1.8 * _metric_p99(short, SCHEDULE_LAG)
    # Below capacity, response time stays near service time.
    assert light["latency_ms"]["p99"] < 5 * SERVICE_S * 1000
    assert long["counters"][LATE_OPS] > 390


def test_closed_loop_hides_the_queue_that_open_loop_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    _, closed = _run_user(monkeypatch, 400, rate=None)
    assert closed["latency_ms"]["p99"] == pytest.approx(SERVICE_S * 1000, rel=0.01)
    assert "service" not in closed["metrics"]  # in closed loop latency is the call alone


def test_closed_and_open_runs_of_one_seed_plan_the_same_ops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed, _ = _run_user(monkeypatch, 150, rate=None)
    opened, _ = _run_user(monkeypatch, 150, rate=5.0)
    assert opened.skipped == []
    assert opened.plan_digest == closed.plan_digest


def test_ops_later_than_the_limit_are_skipped_yet_take_their_place_in_the_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, results = _run_user(monkeypatch, 300, rate=100.0, limit_s=0.1)
    assert 0 < len(result.skipped) < 300
    assert result.ops_executed == 300
    counters = results["counters"]
    assert counters[SKIPPED_OPS] == len(result.skipped)
    assert results["total_operations"] == 300 - len(result.skipped)
    # Skipping sheds the queue: an op runs only if it starts within the limit of its schedule,
    # so no response time exceeds the limit plus one service time.
    assert results["latency_ms"]["max"] <= (0.1 + SERVICE_S) * 1000 * 1.001
    assert 0 < counters[OVER_LIMIT_OPS] < results["total_operations"]

    # Replayed with the same skips forced, on a store twice as fast: the same plan.
    replayed, _ = _run_user(
        monkeypatch, 300, rate=100.0, forced_skips=frozenset(result.skipped), service_s=0.01
    )
    assert replayed.skipped == result.skipped
    assert replayed.plan_digest == result.plan_digest

    # Without the skips, the digest differs: the skips are part of what the chain proves.
    unskipped, _ = _run_user(monkeypatch, 300, rate=100.0, forced_skips=frozenset())
    assert unskipped.plan_digest != result.plan_digest


def test_a_latency_limit_in_closed_loop_counts_but_never_skips(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, results = _run_user(monkeypatch, 50, rate=None, limit_s=0.015)
    assert result.skipped == []
    assert results["counters"][OVER_LIMIT_OPS] == 50
