"""The benches' mode runner: N workers as threads of this process or as processes, released
together, paced from one scheduled start.

Every bench hands :func:`run_workers` a module-level worker function and one task per worker;
each worker gets a :class:`Lane`: the scheduled start (CLOCK_MONOTONIC ns, one clock for every
process on Linux) and a shared ticket counter, so workers take the next op of one sequence as
the original's threads did with an atomic counter. :func:`pace` sleeps until an op's scheduled
time and returns it, so latency counts from the schedule, not from when a late worker got to it.

``processes`` forks each worker from a ``forkserver`` (clean and single-threaded; the parent
may have used a SQLite connection and may have threads, which ``fork`` would copy mid-state),
preloaded with the worker's module, so a worker starts in milliseconds. A worker that dies
without reporting gets ``on_death``'s report instead; a bench never crashes on a worker.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Barrier
from typing import Any, Literal, Protocol, TypeVar, get_args

__all__ = [
    "MODES",
    "Lane",
    "Mode",
    "monotonic_ns",
    "pace",
    "run_workers",
]

#: How bench workers run: threads of this process (the original's) or processes.
Mode = Literal["threads", "processes"]
MODES: tuple[Mode, ...] = get_args(Mode)

T = TypeVar("T")
R = TypeVar("R")

# Generous: a worker imports nothing (preloaded) and builds its rows before the barrier.
_START_TIMEOUT_S = 120.0
# How often the parent checks that processes it still waits for are alive, s.
_POLL_S = 0.5
# Lead from the moment every worker is up to the scheduled start, ns: time to be released.
_LEAD_NS = 20_000_000


def monotonic_ns() -> int:
    # CLOCK_MONOTONIC is one system-wide clock on Linux, so stamps from different processes
    # can be compared; perf_counter promises nothing across processes.
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def pace(start_ns: int, seq: int, rate: float) -> int:
    """Sleep until op ``seq``'s scheduled time at ``rate`` ops/s from ``start_ns``; return it."""
    scheduled = start_ns + int(seq * 1e9 / rate)
    delay = scheduled - monotonic_ns()
    if delay > 0:
        time.sleep(delay / 1e9)
    return scheduled


class _Counter(Protocol):
    def take(self) -> int: ...


class _ThreadTickets:
    def __init__(self) -> None:
        self._next = itertools.count()
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            return next(self._next)


class _ProcessTickets:
    """A counter in shared memory, handed to each process when it starts."""

    def __init__(self, value: Synchronized[int]) -> None:
        self._value = value

    def take(self) -> int:
        with self._value.get_lock():
            ticket = self._value.value
            self._value.value = ticket + 1
        return ticket


@dataclass(frozen=True)
class Lane:
    """What a worker shares with the others: its index, the start, the next op's ticket."""

    index: int
    #: The scheduled start, CLOCK_MONOTONIC ns.
    start_ns: int
    tickets: _Counter

    def take(self) -> int:
        """The next op of the run's one sequence (0, 1, 2, ... over every worker)."""
        return self.tickets.take()


Worker = Callable[[T, Lane], R]


def run_workers(
    mode: Mode,
    worker: Worker[T, R],
    tasks: Sequence[T],
    on_death: Callable[[int, str], R],
    preload: Sequence[str] = (),
) -> tuple[list[R], int]:
    """Run ``worker(task, lane)`` for each task at once; return reports (in task order) and
    the scheduled start (CLOCK_MONOTONIC ns).

    ``preload``: modules the fork server imports besides the worker's (say ``turso``, so a
    process does not load a native library after the start); missing ones are skipped.
    """
    if mode == "threads":
        return _run_threads(worker, tasks, on_death)
    return _run_processes(worker, tasks, on_death, preload)


def _released(ready: Any, go: Any, start: Any) -> int:
    ready.wait(timeout=_START_TIMEOUT_S)
    go.wait(timeout=_START_TIMEOUT_S)
    return int(start.value)


class _Start:
    value = 0


def _run_threads(
    worker: Worker[T, R], tasks: Sequence[T], on_death: Callable[[int, str], R]
) -> tuple[list[R], int]:
    ready, go = threading.Barrier(len(tasks) + 1), threading.Barrier(len(tasks) + 1)
    start, tickets = _Start(), _ThreadTickets()
    reports: dict[int, R] = {}

    def main(index: int, task: T) -> None:
        try:
            lane = Lane(index, _released(ready, go, start), tickets)
            reports[index] = worker(task, lane)
        except BaseException as exc:  # counted by the bench, never raised here
            reports[index] = on_death(index, f"{type(exc).__name__}: {exc}")

    threads = [
        threading.Thread(target=main, args=(i, task), name=f"bench-worker-{i}", daemon=True)
        for i, task in enumerate(tasks)
    ]
    for thread in threads:
        thread.start()
    start_ns = _release(ready, go, start)
    for thread in threads:
        thread.join()
    return [reports[i] for i in range(len(tasks))], start_ns


def _release(ready: Any, go: Any, start: Any) -> int:
    """Wait until every worker is up, set the start a little ahead, and let them go."""
    # A broken barrier (a worker never came up) is not the parent's to raise: workers that
    # are up see it too and report; the missing ones count as died.
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait(timeout=_START_TIMEOUT_S)
    start.value = monotonic_ns() + _LEAD_NS
    with contextlib.suppress(threading.BrokenBarrierError):
        go.wait(timeout=_START_TIMEOUT_S)
    return int(start.value)


def _context(modules: Sequence[str]) -> ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    # Imported once in the fork server; every worker forked from it starts with the bench's
    # module, and through it the store, loaded. Ignored if the server already runs.
    ctx.set_forkserver_preload(list(modules))
    return ctx


def _process_main(
    worker: Worker[T, R],
    task: T,
    index: int,
    rendezvous: tuple[Barrier, Barrier, Any, Synchronized[int]],
    results: Queue[tuple[int, R | str]],
) -> None:
    """Entry point of a worker process: always sends a report, or the error that stopped it."""
    ready, go, start, tickets = rendezvous
    try:
        lane = Lane(index, _released(ready, go, start), _ProcessTickets(tickets))
        results.put((index, worker(task, lane)))
    except BaseException as exc:  # the bench counts it
        results.put((index, f"{type(exc).__name__}: {exc}"))


def _run_processes(
    worker: Worker[T, R],
    tasks: Sequence[T],
    on_death: Callable[[int, str], R],
    preload: Sequence[str],
) -> tuple[list[R], int]:
    ctx = _context([worker.__module__, *preload])
    ready, go = ctx.Barrier(len(tasks) + 1), ctx.Barrier(len(tasks) + 1)
    start, tickets = ctx.Value("q", 0), ctx.Value("q", 0)
    results: Queue[tuple[int, R | str]] = ctx.Queue()
    processes = [
        ctx.Process(
            target=_process_main,
            args=(worker, task, i, (ready, go, start, tickets), results),
            name=f"bench-worker-{i}",
            daemon=True,
        )
        for i, task in enumerate(tasks)
    ]
    for process in processes:
        process.start()
    start_ns = _release(ready, go, start)
    reports = _collect(results, processes, on_death)
    for process in processes:
        process.join()
    results.close()
    return reports, start_ns


def _collect(
    results: Queue[tuple[int, R | str]],
    processes: Sequence[BaseProcess],
    on_death: Callable[[int, str], R],
) -> list[R]:
    reports: dict[int, R | str] = {}
    all_exited = False
    while len(reports) < len(processes):
        try:
            index, report = results.get(timeout=_POLL_S)
        except queue.Empty:
            if all_exited:
                break  # every worker exited and the pipe stayed empty a full poll: done
            # A worker flushes its report before it exits, so one more poll after the last
            # exit reads everything that was ever sent.
            all_exited = not any(process.is_alive() for process in processes)
            continue
        reports[index] = report
    out: list[R] = []
    for index, process in enumerate(processes):
        report = reports.get(index, f"WorkerDied: exit code {process.exitcode} before reporting")
        out.append(on_death(index, report) if isinstance(report, str) else report)
    return out
