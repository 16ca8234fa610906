"""The coordinator: starts the workers, gathers their reports, decides when the run stops.

It owns the run's clock. Every loop turn it takes the reports that arrived, checks the stop
conditions (duration, user abort, the monitor's verdict, a harness error), looks for workers
that died, and at each log interval closes a timeline entry and updates the progress display.
It never blocks longer than a tenth of a second, and with worker processes it also wakes the
moment one dies (see :mod:`stress.engine.pool`), so a dead worker is seen well within a second.
What follows a death is in :mod:`stress.engine.crashes`. Injected faults
(:mod:`stress.engine.injector`) strike from the same loop; a worker killed by one restarts
and is not a crash.

Every time the loop reads (the run's elapsed time, the wait for workers to be ready, the stop
grace) comes from an injected :class:`~stress.clock.Clock`, so the stall watchdog
(:mod:`stress.engine.stall`) and those deadlines are tested without waiting. Workers' reports are
the typed messages of :mod:`stress.engine.messages`. At the stop, lock holders of the lock fault
end at once: a user waiting out the busy timeout for their lock would otherwise hold the run
past its deadline (the workers interrupt ops still running, see :mod:`stress.engine.worker`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, assert_never

from stress.clock import Clock, SystemClock
from stress.engine.crashes import (
    RESTART,
    STOP,
    CrashRecord,
    crash_record,
    dead_user_results,
    made_progress,
    resumed_spec,
)
from stress.engine.injector import FaultInjector
from stress.engine.messages import Crashed, Done, Ready, Stats, WorkerMessage
from stress.engine.pool import STOP_GRACE_S, WorkerPool
from stress.engine.stall import Stall, StalledUser, StallWatchdog
from stress.engine.users import UserProgress, UserResult
from stress.observe.progress import ProgressReporter
from stress.observe.stats import StatsAggregator
from stress.outcomes import StopReason
from stress.summary import CrashAction

__all__ = ["CoordinatorResult", "RunClock", "WorkerPool", "coordinate"]

_POLL_S = 0.1
#: How long worker processes may take to start and report ready before the run gives up.
READY_TIMEOUT_S = 120.0


@dataclass
class CoordinatorResult:
    stop_reason: StopReason
    elapsed_s: float
    aggregator: StatsAggregator
    users: list[UserResult]
    harness_errors: list[str] = field(default_factory=list)
    crashes: list[CrashRecord] = field(default_factory=list)
    #: Set when the run stopped ``Stalled``.
    stall: Stall | None = None


@dataclass(frozen=True)
class RunClock:
    """When the run stops on its own: after ``duration_s`` (None: when every user is done),
    or after ``max_no_progress_s`` without any user completing an op (None: never)."""

    duration_s: float | None
    log_interval_s: float
    max_no_progress_s: float | None = None


@dataclass
class _Loop:
    pool: WorkerPool
    clock: RunClock
    progress: ProgressReporter
    abort: threading.Event
    on_tick: Callable[[float], StopReason | None]
    faults: FaultInjector | None = None
    #: The loop's only source of time (see the module docstring).
    time: Clock = field(default_factory=SystemClock)
    watchdog: StallWatchdog | None = None
    stall: Stall | None = None
    aggregator: StatsAggregator = field(default_factory=StatsAggregator)
    done: set[int] = field(default_factory=set)
    users: list[UserResult] = field(default_factory=list)
    harness_errors: list[str] = field(default_factory=list)
    #: Each user's latest progress from its worker's periodic reports.
    user_progress: dict[int, UserProgress] = field(default_factory=dict)
    crashes: list[CrashRecord] = field(default_factory=list)
    stop_reason: StopReason | None = None
    stopped_at: float | None = None
    elapsed: float = 0.0


def coordinate(
    pool: WorkerPool,
    clock: RunClock,
    progress: ProgressReporter,
    abort: threading.Event,
    on_tick: Callable[[float], StopReason | None] = lambda elapsed: None,
    faults: FaultInjector | None = None,
    time_source: Clock | None = None,
    on_interval: Callable[[Mapping[int, UserProgress]], None] | None = None,
    aggregator: StatsAggregator | None = None,
) -> CoordinatorResult:
    """Run the workers to the end and return what they reported.

    ``on_tick(elapsed_s)`` runs every loop turn (the monitor's verdict hangs off it);
    returning a stop reason ends the run with it. ``faults`` strikes while the run goes on.
    ``time_source`` is the loop's clock (the system's by default): every time the coordinator
    reads comes from it.
    ``on_interval`` gets each user's last reported progress at every log interval (the
    runner keeps replay.json current with it). ``aggregator`` merges the reports (a fresh one
    by default; the runner's writes the per-interval HDR logs).
    """
    time = time_source or SystemClock()
    now = time.now
    bound = clock.max_no_progress_s
    watchdog = StallWatchdog(bound) if bound is not None else None
    loop = _Loop(pool, clock, progress, abort, on_tick, faults, time, watchdog)
    if aggregator is not None:
        loop.aggregator = aggregator
    targets = _LoopTargets(loop)
    pool.start()
    _start_together(loop)
    started = now()
    next_log = started + clock.log_interval_s
    grace_s = STOP_GRACE_S  # what pool.finish() may still wait for the workers
    while len(loop.done) < len(pool.specs):
        wait = max(0.0, min(_POLL_S, next_log - now()))
        for message in pool.receive(wait):
            _handle(loop, message)
        loop.elapsed = now() - started
        _check_stop(loop, loop.elapsed)
        if faults is not None and loop.stop_reason is None:
            faults.tick(loop.elapsed, targets)
        _check_progress(loop, targets)
        _check_workers(loop)
        if now() >= next_log:
            loop.aggregator.close_interval(loop.elapsed)
            progress.update(loop.aggregator.live(), loop.elapsed)
            if on_interval is not None:
                on_interval(loop.user_progress)
            next_log += clock.log_interval_s
        if loop.stopped_at is not None and loop.elapsed - loop.stopped_at > STOP_GRACE_S:
            loop.harness_errors.append("workers did not stop within the grace period")
            grace_s = 0.0  # spent waiting here already
            break
    if faults is not None:
        faults.close()
    for pid in pool.finish(grace_s):
        loop.harness_errors.append(f"worker pid {pid} did not stop: killed (SIGKILL)")
    for message in pool.receive(0.0):
        _handle(loop, message)
    elapsed = now() - started
    progress.finish()
    return CoordinatorResult(
        _final_reason(loop),
        elapsed,
        loop.aggregator,
        loop.users,
        loop.harness_errors,
        loop.crashes,
        loop.stall,
    )


def _check_progress(loop: _Loop, targets: _LoopTargets) -> None:
    """Stop the run ``Stalled`` when no user completed an op for longer than the bound."""
    if loop.watchdog is None or loop.stop_reason is not None:
        return
    positions = targets.positions()
    paused = loop.pool.controls.pause.is_set()
    if loop.watchdog.observe(loop.elapsed, positions, paused) is None:
        return
    users = []
    for user_id, ops in positions.items():
        report = loop.user_progress.get(user_id)
        users.append(StalledUser(user_id, ops, report.last_ops if report is not None else ()))
    loop.stall = loop.watchdog.stall(loop.elapsed, users)
    _stop(loop, StopReason.STALLED, loop.elapsed)


def _start_together(loop: _Loop) -> None:
    """Wait until every worker process is ready, then let all their users go at once.

    The run's clock starts after this, so a short run is not eaten by process start-up.
    """
    go = loop.pool.controls.go
    if go is None:
        return
    ready: set[int] = set()
    deadline = loop.time.now() + READY_TIMEOUT_S
    expected = {spec.worker_idx for spec in loop.pool.specs}
    while not expected <= ready | loop.done and not loop.abort.is_set():
        for message in loop.pool.receive(_POLL_S):
            match message:
                case Ready(worker_idx=idx):
                    ready.add(idx)
                case _:
                    _handle(loop, message)
        _check_workers(loop)
        if loop.time.now() > deadline:
            loop.harness_errors.append(f"workers not ready within {READY_TIMEOUT_S:.0f} s")
            _stop(loop, StopReason.HARNESS, 0.0)
            break
    go.set()


def _final_reason(loop: _Loop) -> StopReason:
    if loop.stop_reason is not None:
        return loop.stop_reason
    if loop.harness_errors or any(user.harness_error for user in loop.users):
        return StopReason.HARNESS
    return StopReason.OP_LIMIT if loop.clock.duration_s is None else StopReason.DURATION


def _stop(loop: _Loop, reason: StopReason, elapsed: float) -> None:
    if loop.stop_reason is None:
        loop.stop_reason = reason
        loop.stopped_at = elapsed
        loop.pool.controls.stop.set()
        if loop.faults is not None:
            loop.faults.end_locks()


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
    if loop.faults is not None and loop.faults.was_injected(handle.pid):
        _after_injected_kill(loop, idx, handle.pid)
        return
    restart = pool.on_crash == RESTART and loop.stop_reason is None and _not_looping(pool, idx)
    action: CrashAction = RESTART if restart else STOP
    loop.crashes.append(crash_record(spec, handle, loop.elapsed, loop.user_progress, slots, action))
    if restart:
        pool.restart(resumed_spec(spec, slots))
        return
    loop.done.add(idx)
    loop.users.extend(dead_user_results(spec, slots, loop.user_progress))
    _stop(loop, StopReason.CRASH, loop.elapsed)


def _after_injected_kill(loop: _Loop, idx: int, pid: int) -> None:
    """A kill the run injected: not a finding, so the worker restarts whatever on_crash says."""
    pool, slots, faults = loop.pool, loop.pool.slots, loop.faults
    assert slots is not None and faults is not None  # only injected kills come here
    spec = pool.current[idx]
    restart = loop.stop_reason is None
    faults.kill_settled(pid, restarted=restart)
    if restart:
        pool.restart(resumed_spec(spec, slots))
        return
    loop.done.add(idx)
    loop.users.extend(dead_user_results(spec, slots, loop.user_progress))


class _LoopTargets:
    """The fault injector's view of the run: users' positions, and killing a worker."""

    def __init__(self, loop: _Loop) -> None:
        self._loop = loop

    def positions(self) -> dict[int, int]:
        # Process workers commit each user's position after every op (stress.engine.journal); with
        # threads, the last periodic report is the best there is.
        slots, reported = self._loop.pool.slots, self._loop.user_progress
        positions = {}
        for spec in self._loop.pool.current.values():
            for user in spec.users:
                committed = slots.read(user.user_id) if slots is not None else None
                report = reported.get(user.user_id)
                fallback = report.ops_executed if report is not None else 0
                positions[user.user_id] = committed[0] if committed is not None else fallback
        return positions

    def kill(self, worker_idx: int) -> int | None:
        return self._loop.pool.kill(worker_idx)


def _not_looping(pool: WorkerPool, idx: int) -> bool:
    """A first crash, or one after the restarted worker moved at least one user on."""
    if not pool.restarts.get(idx):
        return True
    assert pool.slots is not None
    return made_progress(pool.current[idx], pool.slots)


def _handle(loop: _Loop, message: WorkerMessage) -> None:
    match message:
        case Stats(report=report, progress=progress):
            loop.aggregator.merge(report)
            for user in progress:
                loop.user_progress[user.user_id] = user
                if user.harness_error:
                    _stop(loop, StopReason.HARNESS, loop.elapsed)
        case Done(worker_idx=idx, report=report, results=results):
            loop.aggregator.merge(report)
            loop.users.extend(results)
            loop.done.add(idx)
            if any(user.harness_error for user in results):
                _stop(loop, StopReason.HARNESS, loop.elapsed)
        case Crashed(worker_idx=idx, traceback=text):
            loop.done.add(idx)
            loop.harness_errors.append(f"worker {idx} raised:\n{text}")
            _stop(loop, StopReason.HARNESS, loop.elapsed)
        case Ready():
            # Only _start_together waits for these; one read elsewhere (in the last messages
            # of a worker that died while starting) says nothing the exit does not.
            pass
        case _:
            assert_never(message)
