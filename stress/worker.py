"""A worker: the users of one process, run as threads, reporting to the coordinator.

With ``STRESS_PROCESSES=0`` the single worker runs in a thread of the main process; with N,
each of N processes runs one. Either way the worker sends ``("stats", idx, report)`` every
interval and ``("done", idx, report, results)`` at the end, so the coordinator has one code
path and its memory stays flat (reports are fixed-size histograms, never raw latencies).
"""

from __future__ import annotations

import signal
import threading
import traceback
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from stress.metadb import MetaDb, StoreOptions
from stress.profiles import Profile
from stress.stats import StatsRecorder
from stress.users import Controls, UserResult, UserRunner, UserSpec
from stress.workload import PlanLimits, UserPlan

__all__ = ["DatabasePlace", "ReportQueue", "WorkerSpec", "run_worker", "worker_process_main"]


class ReportQueue(Protocol):
    def put(self, item: Any) -> None: ...


@dataclass(frozen=True)
class DatabasePlace:
    """Where database ``index`` lives: its meta.db file and its spool home."""

    index: int
    path: Path
    home: Path


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


def run_worker(spec: WorkerSpec, controls: Controls, reports: ReportQueue) -> None:
    """Run every user of ``spec`` to its end, reporting stats as it goes."""
    recorder = StatsRecorder()
    with ExitStack() as files:
        runners = [_runner(spec, user, recorder, controls, files) for user in spec.users]
        threads = [
            threading.Thread(target=runner.run, name=f"user-{runner.spec.user_id}", daemon=True)
            for runner in runners
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(spec.report_interval_s)
                if thread.is_alive():
                    reports.put(("stats", spec.worker_idx, recorder.drain()))
    results: list[UserResult] = [runner.result for runner in runners]
    reports.put(("done", spec.worker_idx, recorder.drain(), results))


def _runner(
    spec: WorkerSpec,
    user: UserSpec,
    recorder: StatsRecorder,
    controls: Controls,
    files: ExitStack,
) -> UserRunner:
    place = spec.databases[user.database_idx]
    store = MetaDb(place.path, place.home, spec.store_options)
    plan = UserPlan(spec.global_seed, user.user_id, spec.profiles[user.user_class], spec.limits)
    sink = files.enter_context((spec.plans_dir / f"user-{user.user_id}.digests").open("wb"))
    return UserRunner(user, plan, store, recorder, controls, sink)


def worker_process_main(spec: WorkerSpec, controls: Controls, reports: ReportQueue) -> None:
    """Entry point of a worker process.

    Ctrl-C reaches the whole process group; only the coordinator acts on it (it sets the stop
    flag), so every worker still reports what its users did before exiting.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        run_worker(spec, controls, reports)
    except BaseException:
        reports.put(("crashed", spec.worker_idx, traceback.format_exc()))
        raise
