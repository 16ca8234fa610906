"""The coordinator: starts the workers, gathers their reports, decides when the run stops.

It owns the run's clock. Every loop turn it takes the reports that arrived, checks the stop
conditions (duration, user abort, a worker gone), keeps the disk-budget flag current, and at
each log interval closes a timeline entry and updates the progress display. It never blocks
longer than a tenth of a second, so a signal or a dead worker is noticed at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import multiprocess

from stress.progress import ProgressReporter
from stress.stats import StatsAggregator, StatsReport
from stress.users import Controls, UserResult
from stress.worker import WorkerSpec, run_worker, worker_process_main

__all__ = ["CoordinatorResult", "RunClock", "StopReason", "WorkerPool", "coordinate"]

_POLL_S = 0.1
#: How long users get to finish their op in flight after the stop flag, before the
#: coordinator gives up on a worker (a 10,000-row batch on a slow disk can take a while).
_STOP_GRACE_S = 30.0


class StopReason:
    DURATION = "DurationElapsed"
    OP_LIMIT = "OpLimitReached"
    USER_ABORT = "UserAbort"
    CRASH = "CrashDetected"
    RESOURCE = "ResourceLimit"
    HARNESS = "HarnessError"


@dataclass
class CoordinatorResult:
    stop_reason: str
    elapsed_s: float
    aggregator: StatsAggregator
    users: list[UserResult]
    harness_errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunClock:
    """When the run stops on its own: after ``duration_s`` (None: when every user is done)."""

    duration_s: float | None
    log_interval_s: float


class WorkerPool:
    """The workers as threads (``processes=0``) or processes, behind one interface."""

    def __init__(self, specs: list[WorkerSpec], processes: int) -> None:
        self.specs = specs
        self.in_processes = processes > 0
        if self.in_processes:
            # forkserver: workers fork from a clean server process, never from a coordinator
            # that already runs threads (forking a threaded process can copy a held lock).
            self._ctx = multiprocess.get_context("forkserver")
            self.controls = Controls(self._ctx.Event(), self._ctx.Event(), self._ctx.Event())
            self.reports: Any = self._ctx.Queue()
        else:
            self.controls = Controls(threading.Event(), threading.Event(), threading.Event())
            self.reports = queue.Queue()
        self.handles: dict[int, Any] = {}

    def start(self) -> None:
        for spec in self.specs:
            if self.in_processes:
                handle = self._ctx.Process(
                    target=worker_process_main,
                    args=(spec, self.controls, self.reports),
                    name=f"stress-worker-{spec.worker_idx}",
                )
            else:
                handle = threading.Thread(
                    target=run_worker,
                    args=(spec, self.controls, self.reports),
                    name=f"stress-worker-{spec.worker_idx}",
                    daemon=True,
                )
            handle.start()
            self.handles[spec.worker_idx] = handle

    def dead_without_report(self, done: set[int]) -> dict[int, Any]:
        """Workers that ended without their final report: crashed."""
        return {
            idx: handle
            for idx, handle in self.handles.items()
            if idx not in done and not handle.is_alive() and self.in_processes
        }

    def finish(self) -> None:
        """Join every worker; a process still alive after the grace is terminated."""
        for handle in self.handles.values():
            handle.join(_STOP_GRACE_S)
            if self.in_processes and handle.is_alive():
                handle.terminate()
                handle.join(5)


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
    stop_reason: str | None = None
    stopped_at: float | None = None


def coordinate(
    pool: WorkerPool,
    clock: RunClock,
    progress: ProgressReporter,
    abort: threading.Event,
    on_tick: Callable[[float], str | None] = lambda elapsed: None,
) -> CoordinatorResult:
    """Run the workers to the end and return what they reported.

    ``on_tick(elapsed_s)`` runs every loop turn (the resource checks hang off it); returning
    a stop reason ends the run with it.
    """
    loop = _Loop(pool, clock, progress, abort, on_tick)
    started = time.monotonic()
    pool.start()
    next_log = started + clock.log_interval_s
    while len(loop.done) < len(pool.specs):
        _take_reports(loop, timeout=max(0.0, min(_POLL_S, next_log - time.monotonic())))
        elapsed = time.monotonic() - started
        _check_stop(loop, elapsed)
        _check_workers(loop)
        if time.monotonic() >= next_log:
            loop.aggregator.close_interval(elapsed)
            progress.update(loop.aggregator.live(), elapsed)
            next_log += clock.log_interval_s
        if loop.stopped_at is not None and elapsed - loop.stopped_at > _STOP_GRACE_S:
            loop.harness_errors.append("workers did not stop within the grace period")
            break
    pool.finish()
    _take_reports(loop, timeout=0.0)
    elapsed = time.monotonic() - started
    progress.finish()
    reason = loop.stop_reason or (
        StopReason.OP_LIMIT if clock.duration_s is None else StopReason.DURATION
    )
    if loop.harness_errors and loop.stop_reason is None:
        reason = StopReason.HARNESS
    return CoordinatorResult(reason, elapsed, loop.aggregator, loop.users, loop.harness_errors)


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
    if not loop.pool.dead_without_report(loop.done):
        return
    # A worker flushes its final report into the pipe before it exits: read what is there
    # before calling an exited worker crashed.
    _take_reports(loop, timeout=0.0)
    for idx, handle in loop.pool.dead_without_report(loop.done).items():
        loop.done.add(idx)
        loop.harness_errors.append(f"worker {idx} exited with status {handle.exitcode}")
        _stop(loop, StopReason.CRASH, loop.stopped_at or 0.0)


def _take_reports(loop: _Loop, timeout: float) -> None:
    """Merge every report waiting now (waiting up to ``timeout`` for the first)."""
    wait = timeout
    while True:
        try:
            message = (
                loop.pool.reports.get(timeout=wait) if wait > 0 else loop.pool.reports.get_nowait()
            )
        except queue.Empty:
            return
        wait = 0.0
        _handle(loop, message)


def _handle(loop: _Loop, message: tuple[Any, ...]) -> None:
    kind, worker_idx = message[0], message[1]
    if kind == "stats":
        loop.aggregator.merge(message[2])
    elif kind == "done":
        report: StatsReport = message[2]
        loop.aggregator.merge(report)
        loop.users.extend(message[3])
        loop.done.add(worker_idx)
    elif kind == "crashed":
        loop.done.add(worker_idx)
        loop.harness_errors.append(f"worker {worker_idx} raised:\n{message[2]}")
        _stop(loop, StopReason.HARNESS, loop.stopped_at or 0.0)
