"""A worker: the users of one process, run as threads, reporting to the coordinator.

With ``STRESS_PROCESSES=0`` the single worker runs in a thread of the main process; with N,
each of N processes runs one. Either way the worker sends a :class:`~stress.engine.messages.Stats`
every interval and a :class:`~stress.engine.messages.Done` at the end, so the coordinator has
one code path and its memory stays flat (reports are fixed-size histograms, never raw
latencies). Each report names every user's op count and last ops, so a worker killed without
warning can still be described.

A worker process reports through a pipe of its own (:class:`PipeReports`), not a queue shared
by every worker: a worker killed in the middle of a message then garbles only its own pipe,
which the coordinator drops, instead of a channel every other worker still writes to. In a
process the users also keep the restart journal (:mod:`stress.engine.journal`).
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

import multiprocess

from stress.artifacts import DatabasePlace
from stress.clock import SystemClock
from stress.controls import Controls
from stress.engine.journal import ProgressSlots, UserJournal, digests_path, marks_path
from stress.engine.messages import Crashed, Done, Ready, Stats, WorkerMessage
from stress.engine.users import UserRunner, UserSpec
from stress.metadb import MetaDb, StoreOptions, is_no_room
from stress.mutants import MutantSpec, apply_mutant
from stress.observe.memory import HeapTrimmer, limit_arenas
from stress.observe.stats import StatsRecorder
from stress.oracle.ledger import LedgerWriter, ledger_path
from stress.plan.draws import mutant_seed_sequence
from stress.plan.pacing import ArrivalSchedule, Pacing
from stress.plan.profiles import Profile
from stress.plan.workload import PlanLimits, UserPlan

__all__ = [
    "CoordinatorGone",
    "DatabasePlace",
    "PipeReports",
    "ReportQueue",
    "WorkerSpec",
    "run_worker",
    "run_worker_thread",
    "worker_process_main",
]


_READY_POLL_S = 0.01
#: From the stop on, how often the users' ops in flight are interrupted again, in seconds.
_INTERRUPT_EVERY_S = 0.02
#: How often the worker looks at the stop flag while its users run, in seconds.
_USERS_POLL_S = 0.02
#: How long an orphaned worker's users get to finish their op in flight before it exits.
_ORPHAN_GRACE_S = 10.0


class ReportQueue(Protocol):
    def put(self, item: WorkerMessage) -> None: ...


class CoordinatorGone(Exception):
    """The coordinator died (e.g. ``kill -9``): nobody reads this worker's reports any more."""


class PipeReports:
    """The sending end of one worker's pipe, with a queue's ``put``."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def put(self, item: WorkerMessage) -> None:
        try:
            self._connection.send(item)
        except (BrokenPipeError, ConnectionResetError):
            # Only the coordinator holds the reading end, so a broken pipe means it is gone.
            raise CoordinatorGone from None


def _coordinator_alive() -> bool:
    """False once the process that started this one has died (always True in threads).

    A worker waiting for the go flag sends nothing, so it would never see a broken pipe.
    """
    parent = multiprocess.parent_process()
    return parent is None or bool(parent.is_alive())


@dataclass(frozen=True)
class WorkerSpec:
    worker_idx: int
    global_seed: int
    users: tuple[UserSpec, ...]
    profiles: dict[str, Profile]
    limits: PlanLimits
    store_options: StoreOptions
    databases: tuple[DatabasePlace, ...]
    plans_dir: Path
    report_interval_s: float
    #: Where each user's write ledger goes (``user-N.bin``); None runs without one.
    ledger_dir: Path | None = None
    pacing: Pacing = field(default_factory=Pacing)
    #: The store mutant every user's store gets (``STRESS_MUTANT``); None = the real store.
    mutant: MutantSpec | None = None


def run_worker(
    spec: WorkerSpec,
    controls: Controls,
    reports: ReportQueue,
    slots: ProgressSlots | None = None,
    trimmer: HeapTrimmer | None = None,
) -> None:
    """Run every user of ``spec`` to its end, reporting stats as it goes.

    With ``slots`` (worker processes) each user keeps the restart journal; with ``trimmer``
    the process's heap is trimmed between reports (threads share the coordinator's).
    """
    recorder = StatsRecorder()
    with ExitStack() as files:
        runners = [_runner(spec, user, recorder, controls, files, slots) for user in spec.users]
        threads = [
            threading.Thread(target=runner.run, name=f"user-{runner.spec.user_id}", daemon=True)
            for runner in runners
        ]
        try:
            _wait_for_go(spec, controls, reports)
            for thread in threads:
                thread.start()
            users = list(zip(runners, threads, strict=True))
            _watch(spec, controls, reports, recorder, users, trimmer)
        except CoordinatorGone:
            # Nobody else will stop these users now; each ends after its op in flight, so its
            # ledger holds the op's outcome (a ``stress verify`` of the folder reads it).
            controls.stop.set()
            for thread in threads:
                if thread.ident is not None:
                    thread.join(_ORPHAN_GRACE_S)
            raise
    results = tuple(runner.result for runner in runners)
    reports.put(Done(spec.worker_idx, recorder.drain(), results))


def _watch(
    spec: WorkerSpec,
    controls: Controls,
    reports: ReportQueue,
    recorder: StatsRecorder,
    users: list[tuple[UserRunner, threading.Thread]],
    trimmer: HeapTrimmer | None = None,
) -> None:
    """Report every interval until the users end; from the stop on, interrupt their ops.

    A user sees the stop before its next op, but an op in flight (a 50,000-row batch) can run
    for seconds: its statement is interrupted, again every :data:`_INTERRUPT_EVERY_S` (an
    engine interrupts only a statement running at that instant), until every user is gone.
    """
    stop = controls.stop
    next_report = time.monotonic() + spec.report_interval_s
    while alive := [(runner, thread) for runner, thread in users if thread.is_alive()]:
        if stop.is_set():
            for runner, _ in alive:
                runner.store.interrupt()
            alive[0][1].join(_INTERRUPT_EVERY_S)
            continue
        # Woken the moment a user ends (a join returns then), so a run limited by op counts
        # ends when its users do: not at the next report, nor at the next look of a poll
        # (10 ms on average, 1-2% of the overhead bench's ops/s). The stop is seen within a
        # poll: a user sees it itself before its next op, only interrupts wait for this.
        alive[0][1].join(max(0.0, min(_USERS_POLL_S, next_report - time.monotonic())))
        if time.monotonic() >= next_report and not stop.is_set():
            progress = tuple(runner.progress() for runner, _ in users)
            reports.put(Stats(spec.worker_idx, recorder.drain(), progress))
            next_report += spec.report_interval_s
            if trimmer is not None:
                trimmer.tick()


def _wait_for_go(spec: WorkerSpec, controls: Controls, reports: ReportQueue) -> None:
    """Say this worker is ready, then wait until every worker is (or the run is stopping)."""
    go = controls.go
    if go is None or go.is_set():
        return  # threads, or a restarted worker joining a run that is under way
    reports.put(Ready(spec.worker_idx))
    while not go.wait(_READY_POLL_S) and not controls.stop.is_set():
        if not _coordinator_alive():
            raise CoordinatorGone


def _runner(
    spec: WorkerSpec,
    user: UserSpec,
    recorder: StatsRecorder,
    controls: Controls,
    files: ExitStack,
    slots: ProgressSlots | None,
) -> UserRunner:
    place = spec.databases[user.database_idx]
    store = apply_mutant(
        MetaDb(place.path, place.home, spec.store_options),
        spec.mutant,
        mutant_seed_sequence(spec.global_seed, user.user_id),
    )
    plan = UserPlan(spec.global_seed, user.user_id, spec.profiles[user.user_class], spec.limits)
    sink, journal = _journal_files(spec, user, files, slots, controls)
    ledger = None
    if spec.ledger_dir is not None:
        # A restarted user reopens its ledger and appends after the last whole record.
        ledger = LedgerWriter(ledger_path(spec.ledger_dir, user.user_id))
    arrivals = None
    if spec.pacing.rate_per_user is not None:
        position = user.resume.ops if user.resume is not None else 0
        arrivals = ArrivalSchedule(
            spec.global_seed, user.user_id, spec.pacing.rate_per_user, position
        )
    return UserRunner(
        user,
        plan,
        store,
        recorder,
        controls,
        sink,
        ledger,
        clock=SystemClock(),
        pacing=spec.pacing,
        arrivals=arrivals,
        journal=journal,
    )


def _journal_files(
    spec: WorkerSpec,
    user: UserSpec,
    files: ExitStack,
    slots: ProgressSlots | None,
    controls: Controls,
) -> tuple[BinaryIO, UserJournal | None]:
    """The digest side file, and in a process the rest of the restart journal.

    A resumed user appends to the files the coordinator cut back to its last commit.
    """
    digests = digests_path(spec.plans_dir, user.user_id)
    mode: Literal["ab", "wb"] = "ab" if user.resume is not None else "wb"
    if slots is None:
        sink: BinaryIO = digests.open(mode)
        files.callback(_close_side_file, sink, controls)
        return sink, None
    # Unbuffered: a record must reach the kernel before the slot commit that counts it.
    sink = digests.open(mode, buffering=0)
    files.callback(_close_side_file, sink, controls)
    marks = marks_path(spec.plans_dir, user.user_id).open(mode, buffering=0)
    files.callback(_close_side_file, marks, controls)
    return sink, UserJournal(slots, user.user_id, marks)


def _close_side_file(handle: BinaryIO, controls: Controls) -> None:
    """Close a digest or journal file; on a full disk its buffered tail is lost, and said so.

    The per-op digests only locate where a replay diverged (the plan digest in replay.json
    decides); losing their tail must not turn a full disk into a harness error.
    """
    try:
        handle.close()
    except OSError as exc:
        if not is_no_room(exc):
            raise
        controls.disk_full.set()


def run_worker_thread(spec: WorkerSpec, controls: Controls, reports: ReportQueue) -> None:
    """Entry point of the worker thread (no processes): a failure is reported, not lost."""
    try:
        run_worker(spec, controls, reports)
    except Exception:
        reports.put(Crashed(spec.worker_idx, traceback.format_exc()))


def worker_process_main(
    spec: WorkerSpec, controls: Controls, reports: ReportQueue, slots: ProgressSlots
) -> None:
    """Entry point of a worker process.

    Ctrl-C reaches the whole process group; only the coordinator acts on it (it sets the stop
    flag), so every worker still reports what its users did before exiting.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A group-wide SIGTERM (``timeout``, a CI runner) is the coordinator's to act on too.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    limit_arenas()  # before the user threads start (see stress.observe.memory)
    try:
        run_worker(spec, controls, reports, slots, HeapTrimmer())
    except CoordinatorGone:
        return  # quietly: there is nobody left to tell, and a traceback would only alarm
    except BaseException:
        with suppress(CoordinatorGone):
            reports.put(Crashed(spec.worker_idx, traceback.format_exc()))
        raise
