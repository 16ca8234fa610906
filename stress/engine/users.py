"""The simulated user: a loop that plans, executes, times and records operations.

One user is one thread with its own store handle and its own stream. The loop checks the
stop flag and backpressure *before* drawing, so neither ever consumes a draw; it decides a
disk-budget substitution (or, in open loop, a latency-limit skip) after drawing and records
it, so a replay can force the same decision at the same op.

Timing: in closed loop an op's latency is the call alone. In open loop (see
:mod:`stress.plan.pacing`) it is the response time from the op's *scheduled* start, so queueing
behind a slow store or behind backpressure shows; the call alone is recorded as ``service``
and the delay before it as ``schedule_lag``. All times come from an injected
:class:`~stress.clock.Clock`.
"""

from __future__ import annotations

import traceback
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import BinaryIO

from stress.clock import Clock, SystemClock
from stress.controls import Controls, Flag
from stress.engine.journal import ResumePoint, UserJournal
from stress.engine.operations import OpResult, execute, write_result
from stress.engine.userspec import UserSpec
from stress.metadb import DISK_FULL, MetaDb, is_no_room
from stress.observe.hdrbulk import SecondsBuffer, micros_of
from stress.observe.stats import (
    BACKPRESSURE_WAIT,
    SCHEDULE_LAG,
    SERVICE,
    STORE_ERROR_COUNTER,
    StatsRecorder,
    op_keys,
)
from stress.oracle.ledger import LedgerWriter
from stress.plan.pacing import (
    LATE_AFTER_S,
    LATE_OPS,
    OVER_LIMIT_OPS,
    SKIPPED_OPS,
    ArrivalSchedule,
    Pacing,
)
from stress.plan.profiles import WRITE_OPS, OpKind
from stress.plan.workload import PlanAbandoned, PlanDigest, PlannedOp, UserPlan, substitute_read

__all__ = [
    "HAND_OVER_OPS",
    "Controls",
    "Flag",
    "UserProgress",
    "UserResult",
    "UserRunner",
    "UserSpec",
]


_LAST_OPS = 10
_PAUSE_POLL_S = 0.05
_HOW = {0: "", 1: " (substituted)", 2: " (skipped)"}
_SINGLE = OpKind.SINGLE_INSERT
#: How long, and how many, single inserts' latencies wait before the recorder gets them: a
#: report (every log interval) may count an op up to this late, never loses one.
_HAND_OVER_S = 0.01
HAND_OVER_OPS = 256


@dataclass
class UserResult:
    user_id: int
    user_class: str
    database_idx: int
    process_idx: int
    #: Ops taken from the plan: run, substituted or skipped (the replay runs as many).
    ops_executed: int = 0
    plan_digest: str = ""
    substitutions: list[int] = field(default_factory=list)
    #: Op indexes skipped by the latency limit (open loop).
    skipped: list[int] = field(default_factory=list)
    #: Ops in flight at the stop that the run interrupted (rolled back, never acknowledged;
    #: not in ``ops_executed``: the plan ends before them).
    interrupted: int = 0
    #: Traceback of an unexpected exception: a harness error, not a store failure.
    harness_error: str | None = None
    last_ops: list[str] = field(default_factory=list)
    #: The first sign of a full disk this user met (the store's, the ledger's or the spool's
    #: message); a ledger or side file with no room also ended the user there.
    disk_full: str | None = None


@dataclass(frozen=True)
class UserProgress:
    """One user in a worker's periodic report: what the coordinator knows if the worker dies."""

    user_id: int
    ops_executed: int
    last_ops: tuple[str, ...]
    harness_error: bool


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
        ledger: LedgerWriter | None = None,
        *,
        clock: Clock | None = None,
        pacing: Pacing | None = None,
        arrivals: ArrivalSchedule | None = None,
        journal: UserJournal | None = None,
    ) -> None:
        self.spec = spec
        self.plan = plan
        self.store = store
        self.recorder = recorder
        self.controls = controls
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._now = self.clock.now  # bound once: read twice per op
        self.pacing = pacing if pacing is not None else Pacing()
        if self.pacing.open_loop and arrivals is None:
            raise ValueError("an open-loop user needs its ArrivalSchedule")
        self.digest = PlanDigest()
        self.result = UserResult(spec.user_id, spec.user_class, spec.database_idx, spec.process_idx)
        self._arrivals = arrivals
        self._sink = digest_sink
        self._ledger = ledger
        self._journal = journal
        # (index, op kind, how: 0 planned, 1 substituted, 2 skipped): formatted only when
        # asked for, off the hot path.
        self._last_ops: deque[tuple[int, str, int]] = deque(maxlen=_LAST_OPS)
        self._single_keys = op_keys(spec.user_class, _SINGLE)
        #: Latencies of single inserts that landed, handed to the recorder every
        #: :data:`_HAND_OVER_S` or :data:`HAND_OVER_OPS` (one lock per batch, not per op).
        self._landed: SecondsBuffer = array("d")
        self._hand_over_at = 0.0
        self._latency_limit_s = self.pacing.latency_limit_s
        if spec.resume is not None:
            self._resume(spec.resume)
        plan.stop_on(controls.stop)

    def _resume(self, point: ResumePoint) -> None:
        self.plan.resume_at(point.ops, point.consumed)
        self.digest = PlanDigest(point.digest_state)
        self.result.ops_executed = point.ops
        self.result.substitutions = list(point.substitutions)
        self.result.skipped = list(point.skipped)

    def run(self) -> UserResult:
        """The loop; never raises (an unexpected exception is recorded as a harness error).

        A file of the user's own (its ledger, its digest or journal file) with no room left
        ends the user as a full disk, not a harness error: the ledger refuses an op before it
        reaches the store, so nothing acknowledged goes unrecorded.
        """
        try:
            if self.pacing.open_loop:
                self._open_loop()
            else:
                self._closed_loop()
        except PlanAbandoned:
            pass  # the stop came while an op was drawn: it never ran, nothing records it
        except Exception as exc:
            if is_no_room(exc):
                self._disk_full(str(exc))
            else:
                self.result.harness_error = traceback.format_exc()
        finally:
            self._hand_over()
            self.store.close()
            if self._ledger is not None:
                self._ledger.close()
            self.result.plan_digest = self.digest.hexdigest()
            self.result.last_ops = self._format_last_ops()
        return self.result

    def progress(self) -> UserProgress:
        """A snapshot for the worker's periodic report (called from the worker's thread)."""
        return UserProgress(
            self.spec.user_id,
            self.result.ops_executed,
            tuple(self._format_last_ops()),
            self.result.harness_error is not None,
        )

    def _disk_full(self, what: str) -> None:
        """Record the first sign of a full disk and tell the coordinator, which ends the run."""
        if self.result.disk_full is None:
            self.result.disk_full = what
        self.controls.disk_full.set()

    def _format_last_ops(self) -> list[str]:
        # list() of a deque copies it in one C call, safe while the user thread appends.
        return [f"#{index} {kind}{_HOW[how]}" for index, kind, how in list(self._last_ops)]

    def _more(self) -> bool:
        limit = self.spec.ops_limit
        return limit is None or self.result.ops_executed < limit

    def _closed_loop(self) -> None:
        # Locals and inlined checks: this loop is the simulator's cost per op.
        stop, pause, plan, result = self.controls.stop, self.controls.pause, self.plan, self.result
        limit = self.spec.ops_limit
        disk_over, forced = self.controls.disk_over, self.spec.forced_substitutions
        while limit is None or result.ops_executed < limit:
            if stop.is_set():
                return
            if pause.is_set():
                self._wait_out_backpressure()
                if stop.is_set():
                    return
            op = plan.next_op()
            if stop.is_set():
                return  # drawn, never run: the stop came first
            # _substitute(), inlined for the commonest op: a single insert run as planned.
            if op.kind is _SINGLE and (
                op.index not in forced if forced is not None else not disk_over.is_set()
            ):
                self._run_single(op)
            else:
                self._run_one(op, None)
            if op.think_s > 0 and self.clock.wait(stop, op.think_s):
                return

    def _open_loop(self) -> None:
        # The plan's think times are drawn (the plan is the same in both modes) and ignored.
        assert self._arrivals is not None  # checked in __init__
        arrivals, clock, stop = self._arrivals, self.clock, self.controls.stop
        arrivals.start_at(clock.now())
        while self._more():
            due = arrivals.next_due()
            if clock.wait(stop, due - clock.now()):
                return
            self._wait_out_backpressure()
            if stop.is_set():
                return
            op = self.plan.next_op()
            if stop.is_set():
                return  # drawn, never run: the stop came first
            if self._skip(op, clock.now() - due):
                self._skip_one(op)
            else:
                self._run_one(op, due)

    def _wait_out_backpressure(self) -> None:
        pause = self.controls.pause
        if not pause.is_set():
            return
        started = self.clock.now()
        while pause.is_set() and not self.clock.wait(self.controls.stop, _PAUSE_POLL_S):
            pass
        waited = _micros(self.clock.now() - started)
        self.recorder.record_value(BACKPRESSURE_WAIT, self.spec.user_class, "all", waited)

    def _substitute(self, op: PlannedOp) -> bool:
        """A replay substitutes what it recorded; a run, writes once the disk budget is spent."""
        forced = self.spec.forced_substitutions
        if forced is not None:
            return op.index in forced
        return self.controls.disk_over.is_set() and op.kind in WRITE_OPS

    def _skip(self, op: PlannedOp, lag_s: float) -> bool:
        forced = self.spec.forced_skips
        if forced is not None:
            return op.index in forced
        limit = self.pacing.latency_limit_s
        return limit is not None and lag_s > limit

    def _run_one(self, op: PlannedOp, due: float | None) -> None:
        substituted = self._substitute(op)
        executed = substitute_read(op) if substituted else op
        ledger = self._ledger
        if ledger is not None and executed.rows and executed.table is not None:
            ledger.intent(op.index, executed.table, len(executed.rows), op.draws_at)
        now = self._now
        started = now()
        result = execute(self.store, executed, self.spec.user_id)
        ended = now()
        if ledger is not None and result.written is not None:
            ledger.outcome_of(op.index, result.written)
        self._after(op, executed, result, (started, ended), due, substituted)

    def _run_single(self, op: PlannedOp) -> None:
        """:meth:`_run_one` for a single insert run as planned in closed loop, in fewer calls:
        what a row that landed needs, inlined; any other answer goes on as in ``_run_one``.

        The store is called here, not through :func:`execute`: a test double of ``execute``
        must stand in for the store too (``tests/monitor_helpers.py``)."""
        table, ledger = op.table, self._ledger
        assert table is not None  # planned inserts always name their table
        if ledger is not None:
            ledger.intent(op.index, table, 1, op.draws_at)
        now = self._now
        started = now()
        # execute()'s single insert, inlined (its call and its OpResult cost 0.6 us an op).
        outcome = self.store.record(table, op.rows[0])
        ended = now()
        if outcome.status != "persisted":
            if ledger is not None:
                ledger.outcome_of(op.index, outcome)
            self._after(op, op, write_result(outcome, op), (started, ended), None, False)
            return
        if ledger is not None:
            ledger.landed(op.index, outcome)
        # _after() and _record() of a row that landed, inlined; its latency (in seconds,
        # made micros with the others' at the hand-over) goes to the recorder with those of
        # the last few milliseconds.
        landed = self._landed
        landed.append(ended - started)
        if len(landed) >= HAND_OVER_OPS or ended >= self._hand_over_at:
            self._hand_over(ended)
        limit = self._latency_limit_s
        if limit is not None and ended - started > limit:
            self.recorder.count(OVER_LIMIT_OPS)
        self._journal_op(op, _SINGLE, 0)

    def _hand_over(self, now: float | None = None) -> None:
        """Give the recorder the latencies of the single inserts that landed since the last
        time (the run's end included: nothing stays behind)."""
        if self._landed:
            self.recorder.record_landed(self._single_keys, micros_of(self._landed), 1)
            self._landed = array("d")
        if now is not None:
            self._hand_over_at = now + _HAND_OVER_S

    def _after(
        self,
        op: PlannedOp,
        executed: PlannedOp,
        result: OpResult,
        call: tuple[float, float],
        due: float | None,
        substituted: bool,
    ) -> None:
        """Everything after the store's answer: the failure signs, the stats, the journal."""
        if result.error_class is not None and result.disk_full:
            self._disk_full(result.message or DISK_FULL)
        # An OpKind is a str (StrEnum): using it as the name avoids the enum's slow .value.
        kind: str = executed.kind
        if result.interrupted:
            # Cut short by the stop, rolled back: not one of the ops run (as if the stop had
            # come before it), so the replay stops before it too. Its rows are in the ledger
            # as failed, not in the spool; its time says nothing about the store.
            self.result.interrupted += 1
            return
        self._record(kind, result, call, due)
        if substituted:
            self.result.substitutions.append(op.index)
        self._journal_op(op, kind, 1 if substituted else 0)

    def _record(
        self, kind: str, result: OpResult, call: tuple[float, float], due: float | None
    ) -> None:
        started, ended = call
        user_class, recorder = self.spec.user_class, self.recorder
        since = started if due is None else due
        recorder.record_op(
            user_class,
            kind,
            int((ended - since) * 1_000_000),  # _micros(), inlined: once per op
            result.ok,
            result.rows_inserted,
            result.rows_queried,
        )
        if due is not None:
            recorder.record_value(SERVICE, user_class, kind, _micros(ended - started))
            recorder.record_value(SCHEDULE_LAG, user_class, kind, _micros(started - due))
            if started - due > LATE_AFTER_S:
                recorder.count(LATE_OPS)
        limit = self.pacing.latency_limit_s
        if limit is not None and ended - since > limit:
            recorder.count(OVER_LIMIT_OPS)
        if result.error_class is not None:
            recorder.record_error(user_class, kind, result.error_class, result.message or "")
        if result.cause is not None:
            recorder.count(STORE_ERROR_COUNTER + result.cause)

    def _skip_one(self, op: PlannedOp) -> None:
        """An op too late to matter: it takes its place in the plan and digest, unexecuted."""
        self.result.skipped.append(op.index)
        self.recorder.count(SKIPPED_OPS)
        self._journal_op(op, op.kind, 2)

    def _journal_op(self, op: PlannedOp, kind: str, how: int) -> None:
        """Fold the op into the digest chain and the restart journal (order: see journal.py)."""
        journal, consumed, digest = self._journal, self.plan.draws.consumed, self.digest
        if how == 0:  # as planned: every single insert of a run comes here
            op_digest = digest.update_planned(op, consumed)
        else:
            if journal is not None:
                journal.mark(op.index, skipped=how == 2)
            op_digest = digest.update(op, how == 1, consumed, skipped=how == 2)
        if self._sink is not None:
            self._sink.write(op_digest)
        self.result.ops_executed += 1
        if journal is not None:
            journal.commit(self.result.ops_executed, consumed, digest.state)
        self._last_ops.append((op.index, kind, how))


def _micros(seconds: float) -> int:
    return int(seconds * 1_000_000)
