"""The simulator's own cost per op, part by part, for ``stress bench overhead``.

Each part of a single-insert op is timed on its own over the same ops, in one thread: the
plan (drawing the op), the digest (chain update and side-file write), the ledger (intent
and outcome records), the stats (recording the latency, folded each interval as a run does)
and the store (``MetaDb.record``). The loop is the user loop itself (``UserRunner``,
``execute``, the clock reads), timed over the ops already drawn and the store's answers
already given, less the stats and digest parts it includes and less the calls to the
stand-ins for the plan and the store (those calls are in the plan and store parts). Parts
are timed in CPU seconds of this thread, which a loaded machine disturbs far less than wall
time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stress.engine.users import HAND_OVER_OPS, Controls, UserRunner, UserSpec
from stress.metadb import MetaDb, StoreOptions, WriteOutcome
from stress.observe.hdrbulk import new_buffer
from stress.observe.stats import StatsRecorder, op_keys
from stress.oracle.ledger import LedgerWriter
from stress.plan.profiles import OpKind, Profile
from stress.plan.workload import PlanDigest, PlanLimits, PlannedOp, UserPlan

__all__ = ["PARTS", "measure_parts"]

#: The parts measured alone, in the order they are printed (``loop`` is the remainder).
PARTS = ("plan", "digest", "ledger", "stats", "store")

_LIMITS = PlanLimits(1, 1, 0.0, 0.0, 1)
#: Ops between two stats drains: about one log interval at the store's speed.
_DRAIN_EVERY = 20_000


def _timed(work: Callable[[], object]) -> float:
    """CPU seconds of this thread over ``work``: on a loaded machine, far steadier than wall."""
    started = time.thread_time()
    work()
    return time.thread_time() - started


def measure_parts(
    folder: Path, profile: Profile, ops: int, options: StoreOptions, seed: int
) -> dict[str, float]:
    """Seconds each part of :data:`PARTS` took over ``ops`` ops of ``profile`` (single inserts)."""
    table = profile.single_insert_tables[0][0]
    plan = UserPlan(seed, 0, profile, _LIMITS)
    planned: list[PlannedOp] = []
    seconds = {"plan": _timed(lambda: planned.extend(plan.next_op() for _ in range(ops)))}
    consumed = plan.draws.consumed

    def digest() -> None:
        chain = PlanDigest()
        with (folder / "parts.digests").open("wb") as sink:
            for op in planned:
                sink.write(chain.update_planned(op, consumed))

    seconds["digest"] = _timed(digest)
    outcomes: list[WriteOutcome] = []
    with MetaDb.open(folder / "parts.db", folder, options) as store:
        record = store.record
        seconds["store"] = _timed(
            lambda: outcomes.extend(record(table, op.rows[0]) for op in planned)
        )

    def ledger() -> None:
        writer = LedgerWriter(folder / "parts.bin")
        for op, outcome in zip(planned, outcomes, strict=True):
            writer.intent(op.index, table, 1, op.draws_at)
            writer.outcome_of(op.index, outcome)
        writer.close()

    seconds["ledger"] = _timed(ledger)

    def stats() -> None:
        # What a user records for a single insert that landed (UserRunner._run_single): its
        # latency in a buffer, handed to the recorder in batches (by count here; a run also
        # hands over every 10 ms, smaller batches at a slow store).
        recorder, keys = StatsRecorder(), op_keys("bench", OpKind.SINGLE_INSERT)
        landed = new_buffer()
        for index in range(len(planned)):
            landed.append(30 + index % 50)
            if len(landed) >= HAND_OVER_OPS:
                recorder.record_landed(keys, landed, 1)
                landed = new_buffer()
            if index % _DRAIN_EVERY == _DRAIN_EVERY - 1:
                recorder.drain()
        recorder.record_landed(keys, landed, 1)
        recorder.drain()

    seconds["stats"] = _timed(stats)
    seconds["user"] = _user_loop(profile, planned, outcomes, seed)
    return seconds


class _Replayed(UserPlan):
    """The ops already drawn, handed out again: the loop's time holds no drawing.

    ``next_op`` is the list iterator's own ``__next__`` (a C call): the call itself is the
    plan's, already in the plan part, and a Python method here would count it twice.
    """

    def __init__(self, seed: int, profile: Profile, ops: list[PlannedOp]) -> None:
        super().__init__(seed, 0, profile, _LIMITS)
        self.next_op = iter(ops).__next__  # type: ignore[method-assign]


class _Answers:
    """The store's answers already given, handed out again: the loop's time holds no SQLite."""

    def __init__(self, outcomes: list[WriteOutcome]) -> None:
        self._outcomes = iter(outcomes)

    def record(self, table: str, row: object) -> WriteOutcome:
        return next(self._outcomes)

    def close(self) -> None:
        pass


def _user_loop(
    profile: Profile, planned: list[PlannedOp], outcomes: list[WriteOutcome], seed: int
) -> float:
    """One :class:`UserRunner` (stats and digest, no files) over the drawn ops and answers."""
    events = Controls(threading.Event(), threading.Event(), threading.Event())
    spec = UserSpec(0, profile.name, 0, 0, ops_limit=len(planned))
    store: Any = _Answers(outcomes)
    plan = _Replayed(seed, profile, planned)
    runner = UserRunner(spec, plan, store, StatsRecorder(), events)
    # The store's double is a Python method: its calls are the store's, already in the store
    # part. Timed alone (called from C, so no loop of ours is timed with them) and taken out.
    double = _Answers(outcomes)
    tables = [str(op.table) for op in planned]
    rows = [op.rows[0] for op in planned]
    calls = _timed(lambda: deque(map(double.record, tables, rows), maxlen=0))
    return _timed(runner.run) - calls
