"""The simulated user: a loop that plans, executes, times and records operations.

One user is one thread with its own store handle and its own stream. The loop checks the
stop flag and backpressure *before* drawing, so neither ever consumes a draw; it decides a
disk-budget substitution after drawing and records it; and it times each op from the moment
it was due, so queueing behind backpressure is visible.
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from stress.metadb import MetaDb
from stress.operations import OpResult, execute
from stress.profiles import WRITE_OPS
from stress.stats import StatsRecorder
from stress.workload import PlanDigest, PlannedOp, UserPlan, substitute_read

__all__ = ["Controls", "UserResult", "UserRunner", "UserSpec"]

_LAST_OPS = 10
_PAUSE_POLL_S = 0.05


class Flag(Protocol):
    """A threading or multiprocessing Event."""

    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...
    def set(self) -> None: ...
    def clear(self) -> None: ...


@dataclass(frozen=True)
class Controls:
    """Flags the coordinator sets and every user reads."""

    stop: Flag
    #: Backpressure: users wait before their next op while it is set.
    pause: Flag
    #: The disk budget is spent: writes become simple selects (recorded, not drawn).
    disk_over: Flag


@dataclass(frozen=True)
class UserSpec:
    user_id: int
    user_class: str
    database_idx: int
    process_idx: int
    #: Run exactly this many ops (replay) or at most this many (STRESS_MAX_OPS_PER_USER).
    ops_limit: int | None = None
    #: Replay: substitute exactly these op indexes and ignore the disk budget.
    forced_substitutions: frozenset[int] | None = None


@dataclass
class UserResult:
    user_id: int
    user_class: str
    database_idx: int
    process_idx: int
    ops_executed: int = 0
    plan_digest: str = ""
    substitutions: list[int] = field(default_factory=list)
    #: Traceback of an unexpected exception: a harness error, not a store failure.
    harness_error: str | None = None
    last_ops: list[str] = field(default_factory=list)


OnWrite = Callable[[UserSpec, PlannedOp, OpResult], None]


class UserRunner:
    """Runs one user until the stop flag, its op limit, or a harness error."""

    def __init__(
        self,
        spec: UserSpec,
        plan: UserPlan,
        store: MetaDb,
        recorder: StatsRecorder,
        controls: Controls,
        digest_sink: BinaryIO | None = None,
        on_write: OnWrite | None = None,
    ) -> None:
        self.spec = spec
        self.plan = plan
        self.store = store
        self.recorder = recorder
        self.controls = controls
        self.digest = PlanDigest()
        self.result = UserResult(spec.user_id, spec.user_class, spec.database_idx, spec.process_idx)
        self._sink = digest_sink
        self._on_write = on_write
        # (index, op kind, substituted): formatted only when the user ends, off the hot path.
        self._last_ops: deque[tuple[int, str, bool]] = deque(maxlen=_LAST_OPS)

    def run(self) -> UserResult:
        """The loop; never raises (an unexpected exception is recorded as a harness error)."""
        try:
            self._loop()
        except Exception:
            self.result.harness_error = traceback.format_exc()
        finally:
            self.store.close()
            self.result.plan_digest = self.digest.hexdigest()
            self.result.last_ops = [
                f"#{index} {kind}{' (substituted)' if sub else ''}"
                for index, kind, sub in self._last_ops
            ]
        return self.result

    def _loop(self) -> None:
        limit = self.spec.ops_limit
        stop = self.controls.stop
        while limit is None or self.result.ops_executed < limit:
            if stop.is_set():
                return
            self._wait_out_backpressure()
            if stop.is_set():
                return
            op = self.plan.next_op()
            self._run_one(op)
            if op.think_s > 0 and stop.wait(op.think_s):
                return

    def _wait_out_backpressure(self) -> None:
        pause = self.controls.pause
        if not pause.is_set():
            return
        started = time.perf_counter_ns()
        while pause.is_set() and not self.controls.stop.is_set():
            self.controls.stop.wait(_PAUSE_POLL_S)
        waited_us = (time.perf_counter_ns() - started) // 1000
        self.recorder.record_value("backpressure_wait", self.spec.user_class, "all", waited_us)

    def _substitute(self, op: PlannedOp) -> bool:
        forced = self.spec.forced_substitutions
        if forced is not None:
            return op.index in forced
        return op.kind in WRITE_OPS and self.controls.disk_over.is_set()

    def _run_one(self, op: PlannedOp) -> None:
        substituted = self._substitute(op)
        executed = substitute_read(op) if substituted else op
        started = time.perf_counter_ns()
        result = execute(self.store, executed, self.spec.user_id)
        micros = (time.perf_counter_ns() - started) // 1000
        user_class, kind = self.spec.user_class, executed.kind.value
        self.recorder.record_op(
            user_class, kind, micros, result.ok, result.rows_inserted, result.rows_queried
        )
        if result.error_class is not None:
            self.recorder.record_error(user_class, kind, result.error_class, result.message or "")
        if substituted:
            self.result.substitutions.append(op.index)
        if result.written and self._on_write is not None:
            self._on_write(self.spec, executed, result)
        op_digest = self.digest.update(op, substituted, self.plan.draws.consumed)
        if self._sink is not None:
            self._sink.write(op_digest)
        self.result.ops_executed += 1
        self._last_ops.append((op.index, kind, substituted))
