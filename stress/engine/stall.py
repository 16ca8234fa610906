"""The stall watchdog: a run in which no user completes an op for too long is a finding.

A run whose users stopped making progress (every worker killed again before it got going, a
lock held longer than the busy timeout lets anyone wait it out, a deadlocked engine) would
otherwise run out its clock and pass. The coordinator shows the watchdog, every loop turn, the
number of ops every user has completed so far and whether backpressure pauses them; time
under a pause is the monitor's business (``STRESS_MAX_STALL_S``) and does not count here.
When no op completed for longer than ``STRESS_MAX_NO_PROGRESS_S``, the run stops ``Stalled``
and the summary's ``stall`` entry says when, for how long, and each user's last ops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stress.summary import StallEntry

__all__ = ["Stall", "StallWatchdog", "StalledUser"]


@dataclass(frozen=True)
class StalledUser:
    user_id: int
    ops_executed: int
    last_ops: tuple[str, ...]


@dataclass(frozen=True)
class Stall:
    """What the run saw: no op completed from ``since_s`` to ``at_s`` (seconds into the run)."""

    at_s: float
    since_s: float
    bound_s: float
    users: tuple[StalledUser, ...]

    @property
    def no_progress_s(self) -> float:
        return self.at_s - self.since_s

    def to_dict(self) -> StallEntry:
        """The summary's ``stall`` entry."""
        return {
            "at_s": round(self.at_s, 3),
            "since_s": round(self.since_s, 3),
            "no_progress_s": round(self.no_progress_s, 3),
            "bound_s": self.bound_s,
            "users": [
                {"user_id": u.user_id, "ops_executed": u.ops_executed, "last_ops": list(u.last_ops)}
                for u in self.users
            ],
        }


class StallWatchdog:
    """Remembers when the users last moved on; says how long ago once that exceeds the bound."""

    def __init__(self, bound_s: float) -> None:
        self.bound_s = bound_s
        self._total: int | None = None
        self._since = 0.0

    def observe(self, t_s: float, ops_by_user: Mapping[int, int], paused: bool) -> float | None:
        """Seconds without progress at ``t_s`` if more than the bound, else None.

        ``ops_by_user`` is every user's completed-op count; a pause restarts the wait, since
        users held by backpressure are not expected to move.
        """
        total = sum(ops_by_user.values())
        if paused or total != self._total:
            self._total, self._since = total, t_s
            return None
        quiet = t_s - self._since
        return quiet if quiet > self.bound_s else None

    def stall(self, t_s: float, users: Sequence[StalledUser]) -> Stall:
        """The record of the stall seen at ``t_s``."""
        ordered = tuple(sorted(users, key=lambda user: user.user_id))
        return Stall(t_s, self._since, self.bound_s, ordered)
