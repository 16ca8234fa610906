"""Backpressure: limits, hysteresis, the stall stop, the event log, and the monitor's record."""

from __future__ import annotations

import threading

import pytest
from monitor_helpers import FakeClock, sample

from stress.observe.backpressure import LIFT_RATIO, MAX_EVENTS, Backpressure, Limits
from stress.observe.monitor import Monitor, ResourceSample
from stress.outcomes import StopReason

LIMITS = Limits(memory_mb=1000, cpu_percent=90, wal_mb=64, disk_mb=500, max_stall_s=60)


def _backpressure(limits: Limits = LIMITS) -> tuple[Backpressure, threading.Event, threading.Event]:
    pause, disk_over = threading.Event(), threading.Event()
    return Backpressure(limits, pause, disk_over), pause, disk_over


@pytest.mark.parametrize(("cause", "limit"), [("memory", 1000.0), ("cpu", 90.0), ("wal", 64.0)])
def test_each_pause_cause_sets_the_flag_above_its_limit_and_lifts_below_90_percent(
    cause: str, limit: float
) -> None:
    bp, pause, disk_over = _backpressure()
    bp.observe(0.0, {cause: limit})  # at the limit: not above it
    assert not pause.is_set()
    bp.observe(1.0, {cause: limit * 1.01})
    assert pause.is_set() and bp.active() == [cause]
    # Between 90% and 100% of the limit the pause holds: no flapping around the limit.
    for t, share in ((2.0, 0.99), (3.0, 0.95), (4.0, 0.91), (5.0, LIFT_RATIO)):
        bp.observe(t, {cause: limit * share})
        assert pause.is_set(), share
    bp.observe(6.0, {cause: limit * 0.89})
    assert not pause.is_set() and bp.active() == []
    assert not disk_over.is_set()


def test_a_value_hovering_at_the_limit_makes_one_transition_not_one_per_sample() -> None:
    bp, pause, _ = _backpressure()
    for step in range(100):
        bp.observe(step * 0.25, {"cpu": 89.0 if step % 2 else 91.0})
    assert pause.is_set()
    assert [e["transition"] for e in bp.events] == ["on"]


def test_pause_stays_while_any_cause_is_on() -> None:
    bp, pause, _ = _backpressure()
    bp.observe(0.0, {"memory": 1200.0, "cpu": 95.0})
    bp.observe(1.0, {"memory": 500.0, "cpu": 95.0})
    assert pause.is_set() and bp.active() == ["cpu"]
    bp.observe(2.0, {"memory": 500.0, "cpu": 10.0})
    assert not pause.is_set()
    report = bp.report(2.0)
    assert report["paused_s_by_cause"] == {"memory": 1.0, "cpu": 2.0, "wal": 0.0}
    assert report["paused_s"] == 2.0


def test_disk_over_sets_its_own_flag_and_is_not_a_pause() -> None:
    bp, pause, disk_over = _backpressure()
    bp.observe(0.0, {"disk": 501.0})
    assert disk_over.is_set() and not pause.is_set()
    bp.observe(100.0, {"disk": 460.0})  # above 90%: still over
    assert disk_over.is_set() and not bp.stalled
    bp.observe(101.0, {"disk": 449.0})
    assert not disk_over.is_set()
    assert bp.report(101.0)["disk_over_s"] == 101.0


def test_unmeasured_values_change_nothing() -> None:
    bp, pause, _ = _backpressure()
    bp.observe(0.0, {"cpu": 95.0})
    bp.observe(1.0, {"cpu": None})
    assert pause.is_set()


def test_every_transition_is_logged_with_value_limit_and_seconds_held() -> None:
    bp, _, _ = _backpressure()
    bp.observe(1.5, {"wal": 70.0})
    bp.observe(4.0, {"wal": 10.0})
    assert bp.events == [
        {
            "t_s": 1.5,
            "cause": "wal",
            "transition": "on",
            "value": 70.0,
            "limit": 64.0,
            "held_s": None,
        },
        {
            "t_s": 4.0,
            "cause": "wal",
            "transition": "off",
            "value": 10.0,
            "limit": 64.0,
            "held_s": 2.5,
        },
    ]


def test_a_cause_still_on_at_the_end_is_counted_up_to_the_end() -> None:
    bp, _, _ = _backpressure()
    bp.observe(10.0, {"memory": 2000.0})
    report = bp.report(25.0)
    assert report["paused_s_by_cause"]["memory"] == 15.0
    assert report["paused_s"] == 15.0
    assert report["active_at_end"] == ["memory"]


def test_a_pause_held_past_max_stall_is_a_stall() -> None:
    bp, _, _ = _backpressure(Limits(1000, 90, 64, 500, max_stall_s=60))
    bp.observe(0.0, {"memory": 2000.0})
    bp.observe(59.0, {"memory": 2000.0, "cpu": 95.0})
    assert not bp.stalled
    # Causes change over, but the pause never lifted: the stall counts from its start.
    bp.observe(60.5, {"memory": 10.0, "cpu": 95.0})
    assert bp.stalled


def test_a_pause_that_lifts_in_time_is_no_stall() -> None:
    bp, _, _ = _backpressure(Limits(1000, 90, 64, 500, max_stall_s=60))
    for start in (0.0, 100.0, 200.0):
        bp.observe(start, {"cpu": 95.0})
        bp.observe(start + 59.0, {"cpu": 10.0})
    assert not bp.stalled


def test_the_event_log_is_capped_but_the_seconds_stay_exact() -> None:
    bp, _, _ = _backpressure()
    for step in range(MAX_EVENTS):
        bp.observe(2.0 * step, {"cpu": 95.0})
        bp.observe(2.0 * step + 1, {"cpu": 10.0})
    assert len(bp.events) == MAX_EVENTS
    assert bp.events_dropped == MAX_EVENTS
    assert bp.report(2.0 * MAX_EVENTS)["paused_s_by_cause"]["cpu"] == MAX_EVENTS


class _Samples:
    """A sampler that hands out prepared samples."""

    def __init__(self, samples: list[ResourceSample]) -> None:
        self._samples = iter(samples)

    def sample(self) -> ResourceSample:
        return next(self._samples)


def _monitor(clock: FakeClock, limits: Limits = LIMITS, cap: int = 1000) -> Monitor:
    bp = Backpressure(limits, threading.Event(), threading.Event())
    return Monitor(_Samples([]), bp, clock, interval_s=0.25, timeline_cap=cap)


def test_monitor_times_samples_with_its_clock_and_stops_the_run_on_a_stall() -> None:
    clock = FakeClock()
    monitor = _monitor(clock, Limits(1000, 90, 64, 500, max_stall_s=2))
    for _ in range(9):  # 0 .. 2.0 s: held 2 s, not longer
        monitor.observe(sample(memory_mb=1500))
        assert monitor.check(0.0) is None
        clock.advance(0.25)
    monitor.observe(sample(memory_mb=1500))
    assert monitor.check(0.0) == StopReason.RESOURCE
    assert monitor.backpressure.events[0]["t_s"] == 0.0


def test_monitor_keeps_peaks_per_process_and_per_database() -> None:
    clock = FakeClock()
    monitor = _monitor(clock)
    first = ResourceSample(
        {"coordinator": 10 * 2**20, "worker-0": 30 * 2**20}, None, 1.0, 5 * 2**20, (2**20, 0)
    )
    second = ResourceSample(
        {"coordinator": 20 * 2**20, "worker-0": 5 * 2**20}, 150.0, 0.5, 4 * 2**20, (0, 3 * 2**20)
    )
    monitor.observe(first)
    clock.advance(0.25)
    monitor.observe(second)
    figures = monitor.figures()
    assert figures == {
        "peak_memory_mb": 40.0,
        "peak_cpu_percent": 150.0,
        "peak_load": 1.0,
        "disk_used_mb": 5.0,
    }
    section = monitor.resources_section()
    assert section["peak_rss_mb_by_process"] == {"coordinator": 20.0, "worker-0": 30.0}
    assert section["peak_wal_mb_by_database"] == [1.0, 3.0]
    assert section["cpu_unit"] == "percent of one core (100 = one core)"
    assert [entry["t_s"] for entry in section["timeline"]] == [0.0, 0.25]


def test_the_timeline_stays_bounded_and_keeps_every_peak() -> None:
    clock = FakeClock()
    monitor = _monitor(clock, cap=10)
    for step in range(1000):
        spike = step == 537
        monitor.observe(sample(cpu=95.0 if spike else 5.0, memory_mb=900.0 if spike else 50.0))
        clock.advance(0.25)
    timeline = monitor.timeline.entries
    assert len(timeline) <= 10
    assert sum(entry["samples"] for entry in timeline) == 1000
    assert max(entry["cpu_percent"] for entry in timeline) == 95.0
    assert max(entry["rss_mb"] for entry in timeline) == 900.0
    assert any(entry["backpressure"] == ["cpu"] for entry in timeline)
    assert timeline[-1]["t_s"] == 999 * 0.25


def test_a_monitor_whose_sampler_fails_stops_the_run_as_a_harness_error() -> None:
    class Broken:
        def sample(self) -> ResourceSample:
            raise RuntimeError("psutil went away")

    bp = Backpressure(LIMITS, threading.Event(), threading.Event())
    monitor = Monitor(Broken(), bp, FakeClock(), interval_s=0.25)
    monitor.start()
    monitor.stop()
    assert monitor.check(0.0) == StopReason.HARNESS
    assert monitor.error is not None and "psutil went away" in monitor.error
