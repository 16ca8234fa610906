"""The stall watchdog: alone, and in the coordinator's loop driven by a fake clock and pool."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from typing import Any

from monitor_helpers import FakeClock

from stress.controls import thread_controls
from stress.engine.coordinator import RunClock, coordinate
from stress.engine.messages import Done, Stats, WorkerMessage
from stress.engine.stall import StalledUser, StallWatchdog
from stress.engine.users import UserProgress, UserResult, UserSpec
from stress.observe.progress import ProgressReporter
from stress.observe.stats import StatsRecorder
from stress.outcomes import StopReason


def test_no_progress_longer_than_the_bound_is_reported() -> None:
    watchdog = StallWatchdog(30.0)
    assert watchdog.observe(0.0, {0: 0, 1: 0}, paused=False) is None
    assert watchdog.observe(10.0, {0: 5, 1: 0}, paused=False) is None
    assert watchdog.observe(40.0, {0: 5, 1: 0}, paused=False) is None  # exactly the bound
    assert watchdog.observe(40.5, {0: 5, 1: 0}, paused=False) == 30.5
    stall = watchdog.stall(40.5, [StalledUser(1, 0, ()), StalledUser(0, 5, ("#4 bulk_insert",))])
    assert stall.to_dict() == {
        "at_s": 40.5,
        "since_s": 10.0,
        "no_progress_s": 30.5,
        "bound_s": 30.0,
        "users": [
            {"user_id": 0, "ops_executed": 5, "last_ops": ["#4 bulk_insert"]},
            {"user_id": 1, "ops_executed": 0, "last_ops": []},
        ],
    }


def test_time_under_backpressure_does_not_count() -> None:
    watchdog = StallWatchdog(30.0)
    watchdog.observe(0.0, {0: 1}, paused=False)
    assert watchdog.observe(25.0, {0: 1}, paused=True) is None
    assert watchdog.observe(50.0, {0: 1}, paused=True) is None
    # The wait starts again from the last time users were seen paused.
    assert watchdog.observe(60.0, {0: 1}, paused=False) is None
    assert watchdog.observe(79.0, {0: 1}, paused=False) is None
    assert watchdog.observe(80.5, {0: 1}, paused=False) == 30.5


@dataclass
class _Spec:
    worker_idx: int
    users: tuple[UserSpec, ...]


@dataclass
class _FakePool:
    """One worker of two users; each reports an op a second until ``progress_until`` s."""

    clock: FakeClock
    progress_until: float
    specs: list[_Spec] = field(default_factory=list)
    controls: Any = field(default_factory=thread_controls)
    slots: None = None
    on_crash: str = "stop"
    restarts: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        users = (UserSpec(0, "inserter", 0, 0), UserSpec(1, "query", 0, 0))
        self.specs = [_Spec(0, users)]
        self.current = {0: self.specs[0]}
        self._started = self.clock.t
        self._done = False

    def start(self) -> None:
        pass

    def receive(self, timeout: float) -> list[WorkerMessage]:
        self.clock.t += max(timeout, 0.01)
        if self.controls.stop.is_set():
            if self._done:
                return []
            self._done = True
            results = tuple(UserResult(u.user_id, u.user_class, 0, 0) for u in self.specs[0].users)
            return [Done(0, StatsRecorder().drain(), results)]
        ops = int(min(self.clock.t - self._started, self.progress_until))
        progress = tuple(UserProgress(u, ops, (f"#{ops} op",), False) for u in (0, 1))
        return [Stats(0, StatsRecorder().drain(), progress)]

    def reap(self, done: set[int]) -> tuple[list[Any], dict[int, Any]]:
        return [], {}

    def finish(self, grace_s: float) -> list[int]:
        return []


def _coordinate(progress_until: float, duration_s: float, bound_s: float | None) -> Any:
    clock = FakeClock()
    pool = _FakePool(clock, progress_until)
    reporter = ProgressReporter(io.StringIO(), duration_s, None, is_tty=False)
    run_clock = RunClock(duration_s, 5.0, bound_s)
    result = coordinate(
        pool,  # type: ignore[arg-type]
        run_clock,
        reporter,
        threading.Event(),
        time_source=clock,
    )
    return result, pool


def test_a_run_whose_users_stop_moving_ends_stalled() -> None:
    result, pool = _coordinate(progress_until=20.0, duration_s=600.0, bound_s=30.0)

    assert result.stop_reason == StopReason.STALLED
    assert result.stall is not None
    # The last op came at 20 s (reported within a tick); the run saw the stall at 50 s.
    assert 19.0 <= result.stall.since_s <= 20.5
    assert 30.0 < result.stall.no_progress_s <= 30.5
    assert result.elapsed_s < 52.0
    assert [u.last_ops for u in result.stall.users] == [("#20 op",), ("#20 op",)]
    assert pool.controls.stop.is_set()


def test_a_run_that_keeps_moving_ends_by_its_duration() -> None:
    result, _ = _coordinate(progress_until=10_000.0, duration_s=120.0, bound_s=30.0)

    assert result.stop_reason == StopReason.DURATION
    assert result.stall is None


def test_without_a_bound_there_is_no_watchdog() -> None:
    result, _ = _coordinate(progress_until=1.0, duration_s=60.0, bound_s=None)

    assert result.stop_reason == StopReason.DURATION
