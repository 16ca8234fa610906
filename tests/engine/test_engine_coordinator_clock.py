"""The coordinator's deadlines on its injected clock: workers' start-up, the stop grace, and the
progress line sharing that clock. A scripted pool plays the workers in fake time; nothing
waits for real time, so minutes of run take milliseconds.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from typing import Any

from monitor_helpers import FakeClock

from stress.controls import Controls
from stress.engine.coordinator import READY_TIMEOUT_S, CoordinatorResult, RunClock, coordinate
from stress.engine.messages import Crashed, Done, Ready, Stats, WorkerMessage
from stress.engine.pool import STOP_GRACE_S
from stress.engine.users import UserProgress, UserResult, UserSpec
from stress.observe.progress import ProgressReporter
from stress.observe.stats import StatsRecorder
from stress.outcomes import StopReason

_START = 1000.0
_GIVE_UP_S = 3600.0
#: The scripted workers' pids: worker N is pid _PID_BASE + N.
_PID_BASE = 1000


@dataclass
class _Spec:
    worker_idx: int
    users: tuple[UserSpec, ...]


@dataclass
class _Worker:
    """What one scripted worker does, in fake seconds from the pool's start."""

    #: When it says it is ready; None: never.
    ready_at: float | None = 0.0
    #: When it raises before it is ready (a ``Crashed`` report); None: never.
    crashes_at: float | None = None
    #: Whether it ends its users at the stop (False: an op that never returns).
    stops: bool = True
    said_ready: bool = False
    finished: bool = False


@dataclass
class _ScriptedPool:
    """Worker processes in fake time: a receive moves the clock by its timeout."""

    clock: FakeClock
    workers: list[_Worker]
    controls: Controls = field(
        default_factory=lambda: Controls(
            threading.Event(), threading.Event(), threading.Event(), go=threading.Event()
        )
    )
    slots: None = None
    on_crash: str = "stop"
    restarts: dict[int, int] = field(default_factory=dict)
    #: Fake time at which the go flag was first seen set.
    go_at: float | None = None
    #: The grace the coordinator left :meth:`finish` (None until called).
    finish_grace_s: float | None = None

    def __post_init__(self) -> None:
        self.specs = [_Spec(i, (UserSpec(i, "inserter", 0, i),)) for i in range(len(self.workers))]
        self.current = {spec.worker_idx: spec for spec in self.specs}

    def start(self) -> None:
        self._started = self.clock.t

    def receive(self, timeout: float) -> list[WorkerMessage]:
        self.clock.t += max(timeout, 0.001)
        # Every scripted run ends within minutes of fake time; past that, a deadline is being
        # read from real time, and the test would spin until it passed.
        assert self.clock.t - _START < _GIVE_UP_S, "a deadline is not on the injected clock"
        go = self.controls.go
        assert go is not None
        if go.is_set() and self.go_at is None:
            self.go_at = self.clock.t
        messages: list[WorkerMessage] = []
        for idx, worker in enumerate(self.workers):
            if not worker.finished:
                messages += self._turn(idx, worker, go.is_set())
        return messages

    def _turn(self, idx: int, worker: _Worker, going: bool) -> list[WorkerMessage]:
        since = self.clock.t - self._started
        if not going:
            if worker.crashes_at is not None and since >= worker.crashes_at:
                worker.finished = True
                return [Crashed(idx, "Traceback ...\nOSError: no such file\n")]
            if worker.ready_at is not None and since >= worker.ready_at and not worker.said_ready:
                worker.said_ready = True
                return [Ready(idx)]
            return []
        if self.controls.stop.is_set() and worker.stops:
            worker.finished = True
            results = (UserResult(idx, "inserter", 0, idx, ops_executed=1),)
            return [Done(idx, StatsRecorder().drain(), results)]
        progress = (UserProgress(idx, 1, ("#0 bulk_insert",), False),)
        return [Stats(idx, StatsRecorder().drain(), progress)]

    def reap(self, done: set[int]) -> tuple[list[Any], dict[int, Any]]:
        return [], {}

    def finish(self, grace_s: float) -> list[int]:
        """As the real pool: the pids of the workers still running, killed after the grace."""
        self.finish_grace_s = grace_s
        return [_PID_BASE + idx for idx, worker in enumerate(self.workers) if not worker.finished]


def _run(
    workers: list[_Worker], duration_s: float, progress: ProgressReporter | None = None
) -> tuple[CoordinatorResult, _ScriptedPool]:
    clock = FakeClock(_START)
    pool = _ScriptedPool(clock, workers)
    reporter = progress or ProgressReporter(io.StringIO(), duration_s, None, is_tty=False)
    result = coordinate(
        pool,  # type: ignore[arg-type]
        RunClock(duration_s, 5.0),
        reporter,
        threading.Event(),
        time_source=clock,
    )
    return result, pool


def test_the_run_clock_starts_when_the_last_worker_is_ready() -> None:
    result, pool = _run([_Worker(ready_at=2.0), _Worker(ready_at=45.0)], duration_s=10.0)

    assert result.stop_reason == StopReason.DURATION
    assert result.harness_errors == []
    assert pool.go_at is not None and pool.go_at - _START >= 45.0
    # The 45 s the second worker took to start are not counted in the run's 10 s.
    assert 10.0 <= result.elapsed_s < 10.5
    assert sorted(user.user_id for user in result.users) == [0, 1]


def test_a_worker_never_ready_ends_the_run_as_a_harness_error_after_the_timeout() -> None:
    result, pool = _run([_Worker(ready_at=1.0), _Worker(ready_at=None)], duration_s=10.0)

    assert result.stop_reason == StopReason.HARNESS
    assert result.harness_errors == [f"workers not ready within {READY_TIMEOUT_S:.0f} s"]
    # The go flag is set even so: waiting workers must get going to see the stop and report.
    assert pool.go_at is not None
    assert READY_TIMEOUT_S <= pool.go_at - _START < READY_TIMEOUT_S + 0.5
    assert pool.controls.stop.is_set()
    assert sorted(user.user_id for user in result.users) == [0, 1]


def test_a_worker_that_fails_while_starting_does_not_hold_the_others_back() -> None:
    result, pool = _run(
        [_Worker(ready_at=1.0), _Worker(ready_at=None, crashes_at=3.0)], duration_s=10.0
    )

    assert result.stop_reason == StopReason.HARNESS
    assert len(result.harness_errors) == 1
    assert result.harness_errors[0].startswith("worker 1 raised:\nTraceback")
    assert pool.go_at is not None and pool.go_at - _START < 4.0


def test_workers_that_do_not_stop_are_given_up_on_after_the_grace() -> None:
    result, pool = _run([_Worker(), _Worker(stops=False)], duration_s=10.0)

    # The run stopped for its duration; one worker never ended its op in flight, and was
    # killed at once: the coordinator had already waited the grace for it.
    assert result.stop_reason == StopReason.DURATION
    assert result.harness_errors == [
        "workers did not stop within the grace period",
        f"worker pid {_PID_BASE + 1} did not stop: killed (SIGKILL)",
    ]
    assert pool.finish_grace_s == 0.0
    assert 10.0 + STOP_GRACE_S < result.elapsed_s < 10.0 + STOP_GRACE_S + 0.5
    assert [user.user_id for user in result.users] == [0]


def test_the_progress_line_repaints_on_the_coordinators_clock() -> None:
    """Each log interval of fake time repaints the terminal line. On real time the whole run
    takes milliseconds, so the repaint throttle (0.1 s) would hold every update back."""
    stream, shared = io.StringIO(), FakeClock(_START)
    reporter = ProgressReporter(stream, 20.0, None, is_tty=True, clock=shared)
    pool = _ScriptedPool(shared, [_Worker()])
    coordinate(
        pool,  # type: ignore[arg-type]
        RunClock(20.0, 5.0),
        reporter,
        threading.Event(),
        time_source=shared,
    )

    paints = stream.getvalue().split("\r\x1b[2K")[1:]
    shown = [paint.split(" ]")[0] for paint in paints]
    assert shown == ["[ 5.0s / 20.0s", "[ 10.0s / 20.0s", "[ 15.0s / 20.0s", "[ 20.0s / 20.0s"]
