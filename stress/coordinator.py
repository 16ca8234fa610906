"""The coordinator: starts the workers, gathers their reports, decides when the run stops.

It owns the run's clock. Every loop turn it takes the reports that arrived, checks the stop
conditions (duration, user abort, the monitor's verdict, a harness error), looks for workers
that died, and at each log interval closes a timeline entry and updates the progress display.
It never blocks longer than a tenth of a second, and with worker processes it also wakes the
moment one dies (see :mod:`stress.pool`), so a dead worker is seen well within a second.
What follows a death is in :mod:`stress.crashes`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stress.crashes import (
    RESTART,
    STOP,
    CrashRecord,
    crash_record,
    dead_user_results,
    made_progress,
    resumed_spec,
)
from stress.pool import STOP_GRACE_S, WorkerPool
from stress.progress import ProgressReporter
from stress.stats import StatsAggregator
from stress.users import UserProgress, UserResult

__all__ = ["CoordinatorResult", "RunClock", "StopReason", "WorkerPool", "coordinate"]

_POLL_S = 0.1


class StopReason:
    DURATION = "DurationElapsed"
    OP_LIMIT = "OpLimitReached"
    USER_ABORT = "UserAbort"
    CRASH = "CrashDetected"
    RESOURCE = "ResourceLimit"
    HARNESS = "HarnessError"
    INVARIANT = "InvariantViolation"


@dataclass
class CoordinatorResult:
    stop_reason: str
    elapsed_s: float
    aggregator: StatsAggregator
    users: list[UserResult]
    harness_errors: list[str] = field(default_factory=list)
    crashes: list[CrashRecord] = field(default_factory=list)


@dataclass(frozen=True)
class RunClock:
    """When the run stops on its own: after ``duration_s`` (None: when every user is done)."""

    duration_s: float | None
    log_interval_s: float


@dataclass
class _Loop:
    pool: WorkerPool
    clock: RunClock
    progress: ProgressReporter
    abort: threading.Event
    on_tick: Callable[[float], str | None]
    aggregator: StatsAggregator = field(default_factory=StatsAggregator)
    done: set[int] = field(default_factory=set)
    users: list[UserResult] = field(default_factory=list)
    harness_errors: list[str] = field(default_factory=list)
    #: Each user's latest progress from its worker's periodic reports.
    user_progress: dict[int, UserProgress] = field(default_factory=dict)
    crashes: list[CrashRecord] = field(default_factory=list)
    stop_reason: str | None = None
    stopped_at: float | None = None
    elapsed: float = 0.0


def coordinate(
    pool: WorkerPool,
    clock: RunClock,
    progress: ProgressReporter,
    abort: threading.Event,
    on_tick: Callable[[float], str | None] = lambda elapsed: None,
) -> CoordinatorResult:
    """Run the workers to the end and return what they reported.

    ``on_tick(elapsed_s)`` runs every loop turn (the monitor's verdict hangs off it);
    returning a stop reason ends the run with it.
    """
    loop = _Loop(pool, clock, progress, abort, on_tick)
    started = time.monotonic()
    pool.start()
    next_log = started + clock.log_interval_s
    while len(loop.done) < len(pool.specs):
        wait = max(0.0, min(_POLL_S, next_log - time.monotonic()))
        for message in pool.receive(wait):
            _handle(loop, message)
        loop.elapsed = time.monotonic() - started
        _check_stop(loop, loop.elapsed)
        _check_workers(loop)
        if time.monotonic() >= next_log:
            loop.aggregator.close_interval(loop.elapsed)
            progress.update(loop.aggregator.live(), loop.elapsed)
            next_log += clock.log_interval_s
        if loop.stopped_at is not None and loop.elapsed - loop.stopped_at > STOP_GRACE_S:
            loop.harness_errors.append("workers did not stop within the grace period")
            break
    pool.finish()
    for message in pool.receive(0.0):
        _handle(loop, message)
    elapsed = time.monotonic() - started
    progress.finish()
    return CoordinatorResult(
        _final_reason(loop), elapsed, loop.aggregator, loop.users, loop.harness_errors, loop.crashes
    )


def _final_reason(loop: _Loop) -> str:
    if loop.stop_reason is not None:
        return loop.stop_reason
    if loop.harness_errors or any(user.harness_error for user in loop.users):
        return StopReason.HARNESS
    return StopReason.OP_LIMIT if loop.clock.duration_s is None else StopReason.DURATION


def _stop(loop: _Loop, reason: str, elapsed: float) -> None:
    if loop.stop_reason is None:
        loop.stop_reason = reason
        loop.stopped_at = elapsed
        loop.pool.controls.stop.set()


def _check_stop(loop: _Loop, elapsed: float) -> None:
    if loop.abort.is_set():
        _stop(loop, StopReason.USER_ABORT, elapsed)
    duration = loop.clock.duration_s
    if duration is not None and elapsed >= duration:
        _stop(loop, StopReason.DURATION, elapsed)
    reason = loop.on_tick(elapsed)
    if reason is not None:
        _stop(loop, reason, elapsed)


def _check_workers(loop: _Loop) -> None:
    # A worker flushes its final report into its pipe before it exits: read what is there
    # before calling an exited worker crashed.
    messages, exited = loop.pool.reap(loop.done)
    for message in messages:
        _handle(loop, message)
    for idx, handle in exited.items():
        if idx not in loop.done:
            _on_crash(loop, idx, handle)


def _on_crash(loop: _Loop, idx: int, handle: Any) -> None:
    pool, slots = loop.pool, loop.pool.slots
    assert slots is not None  # only worker processes can die on their own
    spec = pool.current[idx]
    restart = pool.on_crash == RESTART and loop.stop_reason is None and _not_looping(pool, idx)
    action = RESTART if restart else STOP
    loop.crashes.append(crash_record(spec, handle, loop.elapsed, loop.user_progress, slots, action))
    if restart:
        pool.restart(resumed_spec(spec, slots))
        return
    loop.done.add(idx)
    loop.users.extend(dead_user_results(spec, slots, loop.user_progress))
    _stop(loop, StopReason.CRASH, loop.elapsed)


def _not_looping(pool: WorkerPool, idx: int) -> bool:
    """A first crash, or one after the restarted worker moved at least one user on."""
    if not pool.restarts.get(idx):
        return True
    assert pool.slots is not None
    return made_progress(pool.current[idx], pool.slots)


def _handle(loop: _Loop, message: tuple[Any, ...]) -> None:
    kind, worker_idx = message[0], message[1]
    if kind == "stats":
        loop.aggregator.merge(message[2])
        progress: tuple[UserProgress, ...] = message[3]
        for user in progress:
            loop.user_progress[user.user_id] = user
            if user.harness_error:
                _stop(loop, StopReason.HARNESS, loop.elapsed)
    elif kind == "done":
        loop.aggregator.merge(message[2])
        results: list[UserResult] = message[3]
        loop.users.extend(results)
        loop.done.add(worker_idx)
        if any(user.harness_error for user in results):
            _stop(loop, StopReason.HARNESS, loop.elapsed)
    elif kind == "crashed":
        loop.done.add(worker_idx)
        loop.harness_errors.append(f"worker {worker_idx} raised:\n{message[2]}")
        _stop(loop, StopReason.HARNESS, loop.elapsed)
