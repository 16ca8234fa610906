"""A worker process that died: what the summary says of it, and how its users go on.

The coordinator learns of the death within a poll (it waits on every worker's process
sentinel). It then knows, without any help from the dead process, its users, its exit status
or signal, each user's last ops (from the last periodic report) and each user's exact
position (from the restart journal in shared memory, see :mod:`stress.engine.journal`).

``STRESS_ON_CRASH=stop`` ends the run with ``CrashDetected`` and closes the dead users'
records at their last committed op, so the replay file still pins every user exactly.
``restart`` starts the worker again with a :class:`~stress.engine.journal.ResumePoint` per user.
A worker that dies again before any of its users took one more op is in a crash loop: the
run stops instead of restarting it for ever.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from stress.engine.journal import ProgressSlots, resume_point
from stress.engine.users import UserProgress, UserResult
from stress.engine.worker import WorkerSpec
from stress.plan.workload import PlanDigest
from stress.summary import CrashAction, CrashEntry

__all__ = [
    "RESTART",
    "STOP",
    "CrashRecord",
    "crash_record",
    "dead_user_results",
    "exit_description",
    "made_progress",
    "resumed_spec",
]

RESTART: Final = "restart"
STOP: Final = "stop"


@dataclass
class CrashRecord:
    """One worker process that ended without its final report."""

    worker_idx: int
    pid: int | None
    #: Exit status of a process that exited, None when a signal ended it.
    exit_code: int | None
    #: Name of the signal that ended it (``SIGKILL``), None when it exited.
    signal: str | None
    #: Seconds into the run when the coordinator saw it.
    t_s: float
    users: list[int]
    #: Ops each user had taken from its plan at its last commit.
    ops_executed: dict[int, int] = field(default_factory=dict)
    #: Each user's last ops as of the worker's last periodic report.
    last_ops: dict[int, list[str]] = field(default_factory=dict)
    #: ``stop`` (the run ended), ``restart`` (the worker was started again).
    action: CrashAction = STOP

    def to_dict(self) -> CrashEntry:
        return {
            "worker_idx": self.worker_idx,
            "pid": self.pid,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "t_s": round(self.t_s, 3),
            "users": self.users,
            "ops_executed": {str(k): v for k, v in self.ops_executed.items()},
            "last_ops": {str(k): v for k, v in self.last_ops.items()},
            "action": self.action,
        }


def exit_description(exitcode: int | None) -> tuple[int | None, str | None]:
    """``(exit_code, signal name)`` from a ``Process.exitcode`` (negative: killed by signal)."""
    if exitcode is None or exitcode >= 0:
        return exitcode, None
    try:
        return None, signal.Signals(-exitcode).name
    except ValueError:
        return None, f"signal {-exitcode}"


def crash_record(
    spec: WorkerSpec,
    handle: Any,
    t_s: float,
    progress: Mapping[int, UserProgress],
    slots: ProgressSlots | None,
    action: CrashAction,
) -> CrashRecord:
    exit_code, signal_name = exit_description(handle.exitcode)
    users = [user.user_id for user in spec.users]
    record = CrashRecord(spec.worker_idx, handle.pid, exit_code, signal_name, t_s, users)
    record.action = action
    for user_id in users:
        committed = slots.read(user_id) if slots is not None else None
        reported = progress.get(user_id)
        record.ops_executed[user_id] = (
            committed[0] if committed else reported.ops_executed if reported else 0
        )
        record.last_ops[user_id] = list(reported.last_ops) if reported else []
    return record


def resumed_spec(spec: WorkerSpec, slots: ProgressSlots) -> WorkerSpec:
    """``spec`` with each user continuing from its last commit (side files cut back to it)."""
    users = tuple(
        dataclasses.replace(user, resume=resume_point(slots, spec.plans_dir, user.user_id))
        for user in spec.users
    )
    return dataclasses.replace(spec, users=users)


def made_progress(spec: WorkerSpec, slots: ProgressSlots) -> bool:
    """Whether any user of ``spec`` committed an op past where ``spec`` started it."""
    for user in spec.users:
        committed = slots.read(user.user_id)
        started = user.resume.ops if user.resume is not None else 0
        if committed is not None and committed[0] > started:
            return True
    return False


def dead_user_results(
    spec: WorkerSpec, slots: ProgressSlots, progress: Mapping[int, UserProgress]
) -> list[UserResult]:
    """Records of a dead worker's users, closed at their last committed op.

    The digest chain's value there is exact, so the replay runs these users to the same op
    and verifies them like any other.
    """
    results = []
    for user in spec.users:
        point = resume_point(slots, spec.plans_dir, user.user_id)
        result = UserResult(user.user_id, user.user_class, user.database_idx, user.process_idx)
        if point is not None:
            result.ops_executed = point.ops
            result.plan_digest = point.digest_state.hex()
            result.substitutions = list(point.substitutions)
            result.skipped = list(point.skipped)
        else:
            result.plan_digest = PlanDigest().hexdigest()
        reported = progress.get(user.user_id)
        result.last_ops = list(reported.last_ops) if reported else []
        results.append(result)
    return results
