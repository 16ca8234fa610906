"""The ``recovery`` invariant: seconds from each fault until writes land again where it struck.

Fed the injector's events (``t_s, kind, worker_idx, database_idx``) and, at each look, every
user's rows persisted so far (:mod:`stress.soak.progress`, the same with worker processes and
with threads). A kill strikes its worker's users, a lock the users of its database; of those,
the users that had written before the fault are its writers (a user that only reads has no
write to land, and in WAL mode a write lock does not block it). The fault is recovered from
when one of its writers lands a row in the store after it: the restarted worker writes
again, the locked database takes writes again. Not when every one of them has: a user that
writes once in twenty ops, behind complex joins of seconds each on a loaded machine, takes
longer than any fault to write again, and that is its pace, not a recovery. A single user
stuck for good is the stall watchdog's (``STRESS_MAX_STALL_S``).

A fault can be cut short: the same worker killed again (or the same database locked again)
before its users wrote. Its recovery cannot be measured any more, and the new fault's clock
starts; it is counted apart, and is a failure only if it had already outlasted the bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stress.soak.invariants import InvariantResult

__all__ = ["RecoveryTracker"]


@dataclass
class _Pending:
    kind: str
    #: The worker (kill) or database (lock) it struck.
    target: int
    t_s: float
    users: frozenset[int]
    start: dict[int, int]


@dataclass
class RecoveryTracker:
    users_of_worker: Mapping[int, frozenset[int]]
    users_of_database: Mapping[int, frozenset[int]]
    seen: int = 0
    pending: list[_Pending] = field(default_factory=list)
    #: (kind, seconds to recover) of every fault recovered from.
    recovered: list[tuple[str, float]] = field(default_factory=list)
    #: (kind, seconds it had been pending) of every fault cut short by the next on its target.
    cut_short: list[tuple[str, float]] = field(default_factory=list)

    def observe(
        self, now_s: float, events: list[Mapping[str, Any]], positions: Mapping[int, int]
    ) -> None:
        for event in events[self.seen :]:
            self._struck(event, positions)
        self.seen = len(events)
        for fault in list(self.pending):
            if any(positions.get(u, 0) > fault.start[u] for u in fault.users):
                self.recovered.append((fault.kind, max(now_s - fault.t_s, 0.0)))
                self.pending.remove(fault)

    def _struck(self, event: Mapping[str, Any], positions: Mapping[int, int]) -> None:
        kind, t_s = str(event["kind"]), float(event["t_s"])
        if kind == "kill":
            target = int(event["worker_idx"])
            users = self.users_of_worker.get(target, frozenset())
        else:
            target = int(event["database_idx"])
            users = self.users_of_database.get(target, frozenset())
        for fault in [f for f in self.pending if (f.kind, f.target) == (kind, target)]:
            self.cut_short.append((fault.kind, max(t_s - fault.t_s, 0.0)))
            self.pending.remove(fault)
        start = {user: positions.get(user, 0) for user in users}
        waited = frozenset(user for user in users if start[user] > 0)
        self.pending.append(_Pending(kind, target, t_s, waited, start))

    def check(self, now_s: float, bound_s: float) -> InvariantResult:
        late = [
            (now_s - f.t_s, f"the {f.kind} at {f.t_s:.0f} s ({_target(f)})")
            for f in self.pending
            if now_s - f.t_s > bound_s
        ]
        late += [(s, f"a {kind} cut short") for kind, s in self.cut_short if s > bound_s]
        late += [(s, f"a {kind}") for kind, s in self.recovered if s > bound_s]
        worst = max([s for _, s in self.recovered] + [s for s, _ in late], default=0.0)
        if late:
            age, which = max(late)
            detail = f"{which} not recovered from within {age:.1f} s (bound {bound_s:.0f} s)"
        else:
            detail = f"{len(self.recovered)} fault(s) recovered, slowest {worst:.1f} s"
        if self.cut_short:
            detail += f"; {len(self.cut_short)} cut short by the next fault on the same target"
        return InvariantResult("recovery", not late, round(worst, 2), detail)


def _target(fault: _Pending) -> str:
    return f"worker {fault.target}" if fault.kind == "kill" else f"database {fault.target}"
