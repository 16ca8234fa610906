"""A user's plan: the operation sequence drawn from its own stream, and its digest.

``UserPlan.next_op()`` is a pure function of (global seed, user id, profile, limits) and of
how many ops came before: it never looks at time, the store or any shared state. What the
run decides at run time (the disk budget turning a write into a read) is applied afterwards
by :func:`substitute_read`, which draws nothing, and is recorded so a replay can apply it at
the same op.

A profile made mostly of single inserts is planned a run of single inserts at a time
(:mod:`stress.plan.ahead`): the same ops, several times faster to draw.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import xxhash

from stress.controls import Flag
from stress.metadb import ANALYTICS, AnalyticsQuery
from stress.plan.ahead import SingleInsertRuns
from stress.plan.draws import Draws, user_seed_sequence
from stress.plan.ops import PlannedOp, QuerySpec
from stress.plan.payloads import row_factory
from stress.plan.profiles import OP_ORDER, OpKind, Profile

__all__ = [
    "PLAN_FORMAT_VERSION",
    "PlanAbandoned",
    "PlanDigest",
    "PlanLimits",
    "PlannedOp",
    "QuerySpec",
    "UserPlan",
    "substitute_read",
]

#: Bumped by any deliberate change to what a seed plans; replay files record it, and the
#: files under replay/ are regenerated when it changes.
PLAN_FORMAT_VERSION = 2

_RECENT = "recent_rows"
_POINT = "point_lookup"
_SNAPSHOT_SHARE = 0.25
#: Rows of a bulk insert drawn at once, between two looks at the stop flag (about 3 ms of
#: drawing; a chunk's uniforms are held in memory while it is drawn).
_STOP_CHECK_ROWS = 1000


class PlanAbandoned(Exception):
    """The run stopped while a bulk op's rows were drawn: the op is dropped, never run.

    Drawing 50,000 rows takes a fifth of a second or more on a loaded machine, and a run must
    stop within one. The plan is not drawn from again: its stream is part-way into an op no
    one will see.
    """


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """The settings a plan depends on (profile values, when set, take precedence)."""

    batch_min: int
    batch_max: int
    think_min_ms: float
    think_max_ms: float
    query_complexity_max: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PlanLimits:
        """The limits of a run's configuration (settings dumped, or replay.json's config)."""
        return cls(
            config["batch_min"],
            config["batch_max"],
            config["think_min_ms"],
            config["think_max_ms"],
            config["query_complexity_max"],
        )


def _recent_rows(table: str, limit: int) -> QuerySpec:
    return QuerySpec(
        _RECENT, f"SELECT id, row_json FROM {table} ORDER BY id DESC LIMIT ?", (limit,)
    )


def substitute_read(op: PlannedOp) -> PlannedOp:
    """The simple select that replaces a write past the disk budget. Draws nothing."""
    table = op.table if op.table is not None else "ticks"
    return PlannedOp(
        op.index, OpKind.SIMPLE_SELECT, table, op.think_s, query=_recent_rows(table, 10)
    )


class UserPlan:
    """The endless operation sequence of one user."""

    def __init__(self, global_seed: int, user_id: int, profile: Profile, limits: PlanLimits):
        self.user_id = user_id
        self.profile = profile
        self.draws = Draws(user_seed_sequence(global_seed, user_id))
        self._batch = (
            profile.batch_min if profile.batch_min is not None else limits.batch_min,
            profile.batch_max if profile.batch_max is not None else limits.batch_max,
        )
        self._think_ms = (
            profile.think_min_ms if profile.think_min_ms is not None else limits.think_min_ms,
            profile.think_max_ms if profile.think_max_ms is not None else limits.think_max_ms,
        )
        self._aggregates = _queries_between(1, 1)
        top = max(2, min(limits.query_complexity_max, 5))
        self._joins = (
            _queries_between(2, top) if limits.query_complexity_max >= 2 else self._aggregates
        )
        self._read_tables = profile.single_insert_tables or profile.bulk_insert_tables
        self._op_sums = profile.cumulative_op_weights()
        # The profile's pick_table for single inserts, precomputed: it runs once per op.
        self._single_tables = tuple(table for table, _ in profile.single_insert_tables)
        self._single_sums = profile.cumulative_table_weights(OpKind.SINGLE_INSERT)
        self._seed = (global_seed, user_id)
        self._next_index = 0
        self._stop: Flag | None = None
        single_share = dict(profile.op_weights)[OpKind.SINGLE_INSERT]
        self._runs = (
            SingleInsertRuns(self._op_sums, self._single_tables, self._single_sums, self._think_ms)
            if SingleInsertRuns.worth_it(single_share, self._single_tables)
            else None
        )
        #: Single inserts planned ahead (reversed: the next is last), each with the count of
        #: uniforms it takes, not yet consumed.
        self._ahead: list[tuple[PlannedOp, int]] = []

    def stop_on(self, flag: Flag) -> None:
        """From now on, raise :class:`PlanAbandoned` mid-draw of a bulk op once ``flag`` is set.

        What is planned does not change: only whether a drawing is finished.
        """
        self._stop = flag

    def resume_at(self, index: int, consumed: int) -> None:
        """Continue as if ``index`` ops had been drawn, using ``consumed`` uniforms.

        A plan holds no other state than its next index and its stream's position, so this
        is exact; ``consumed`` must be ``draws.consumed`` as it was after op ``index - 1``.
        """
        self.draws = Draws.resumed(user_seed_sequence(*self._seed), consumed)
        self._next_index = index
        self._ahead = []

    def next_op(self) -> PlannedOp:
        """Draw the next op: kind, then its parameters, then its think time, in that order."""
        draws = self.draws
        index = self._next_index
        self._next_index += 1
        draws_at = draws.consumed
        ahead = self._ahead
        if not ahead and self._runs is not None:
            ahead.extend(reversed(self._runs.walk(draws, index)))
        if ahead:
            op, takes = ahead.pop()
            draws.skip(takes)
            return op
        # The profile's pick_op, inlined: this runs once per op of every user.
        kind = OP_ORDER[bisect_right(self._op_sums, draws.uniform())]
        op = self._draw_body(index, kind)
        if self._think_ms[1] > 0:
            op.think_s = draws.between(*self._think_ms) / 1000
        op.draws_at = draws_at
        return op

    def _draw_body(self, index: int, kind: OpKind) -> PlannedOp:
        draws = self.draws
        if kind is OpKind.SINGLE_INSERT:
            table = self._single_tables[bisect_right(self._single_sums, draws.uniform())]
            return PlannedOp(index, kind, table, 0.0, (row_factory(table).make(draws),))
        if kind is OpKind.BULK_INSERT:
            table = self.profile.pick_table(kind, draws.uniform())
            count = draws.integer(*self._batch)
            return PlannedOp(index, kind, table, 0.0, self._bulk_rows(table, count))
        if kind is OpKind.SIMPLE_SELECT:
            return self._draw_select(index)
        if kind is OpKind.AGGREGATE or kind is OpKind.COMPLEX_JOIN:
            choices = self._aggregates if kind is OpKind.AGGREGATE else self._joins
            chosen = choices[draws.integer(0, len(choices) - 1)]
            snapshot = kind is OpKind.COMPLEX_JOIN and draws.chance(_SNAPSHOT_SHARE)
            query = QuerySpec(chosen.name, chosen.sql, (), snapshot)
            return PlannedOp(index, kind, None, 0.0, query=query)
        ddl_columns, ddl_rows = draws.integer(1, 4), draws.integer(1, 10)
        return PlannedOp(index, kind, None, 0.0, ddl_columns=ddl_columns, ddl_rows=ddl_rows)

    def _bulk_rows(self, table: str, count: int) -> tuple[dict[str, Any], ...]:
        factory, draws, stop = row_factory(table), self.draws, self._stop
        # Drawn a chunk at a time, in bulk (the same rows as one by one, several times faster).
        rows: list[dict[str, Any]] = []
        for start in range(0, count, _STOP_CHECK_ROWS):
            if stop is not None and count > _STOP_CHECK_ROWS and stop.is_set():
                raise PlanAbandoned()
            rows.extend(factory.make_many(draws, min(_STOP_CHECK_ROWS, count - start)))
        return tuple(rows)

    def _draw_select(self, index: int) -> PlannedOp:
        draws = self.draws
        tables = self._read_tables
        table = tables[draws.skewed(len(tables), 1.5)][0] if tables else "ticks"
        if draws.chance(0.5):
            query = _recent_rows(table, draws.integer(1, 100))
        else:
            sql = f"SELECT id, row_json FROM {table} WHERE id = ?"
            query = QuerySpec(_POINT, sql, (draws.integer(1, 5_000),))
        return PlannedOp(index, OpKind.SIMPLE_SELECT, table, 0.0, query=query)


def _queries_between(low: int, high: int) -> tuple[AnalyticsQuery, ...]:
    return tuple(q for q in ANALYTICS.values() if low <= q.complexity <= high)


_AS_PLANNED, _SUBSTITUTED, _SKIPPED = b"-", b"S", b"K"


class PlanDigest:
    """A hash chain over the ops a user ran: ``h_i = H(h_{i-1} || op_i || how it ran)``.

    "How it ran" is ``-`` (as planned), ``S`` (substituted by the disk budget) or ``K``
    (skipped by the latency limit). The final value is the user's ``plan_digest``; the per-op
    values (8 bytes each), kept in a side file, let a replay name the first op that diverged.
    """

    __slots__ = ("_state",)

    def __init__(self, state: bytes | None = None) -> None:
        """A fresh chain, or one continued from ``state`` (a restarted user's last value)."""
        self._state = xxhash.xxh3_128_digest(b"stress-plan") if state is None else state

    @property
    def state(self) -> bytes:
        """The chain's current 16 bytes."""
        return self._state

    def update(
        self, op: PlannedOp, substituted: bool, consumed: int, skipped: bool = False
    ) -> bytes:
        """Fold one op in; returns the 8-byte per-op digest."""
        tail = _SKIPPED if skipped else _SUBSTITUTED if substituted else _AS_PLANNED
        message = b"".join((self._state, op.canonical(), tail, consumed.to_bytes(8, "little")))
        # XXH3-128: not a cryptographic hash, and it need not be: the chain detects accidental
        # divergence, and at ~40 ns an op (BLAKE2b: ~600 ns) it keeps the simulator's cost
        # per op inside its budget.
        self._state = xxhash.xxh3_128_digest(message)
        return self._state[:8]

    def update_planned(self, op: PlannedOp, consumed: int) -> bytes:
        """:meth:`update` of an op run as planned: the same bytes, in fewer steps (every
        single insert of a run comes here)."""
        self._state = state = xxhash.xxh3_128_digest(
            b"".join((self._state, op.canonical(), _AS_PLANNED, consumed.to_bytes(8, "little")))
        )
        return state[:8]

    def hexdigest(self) -> str:
        return self._state.hex()
