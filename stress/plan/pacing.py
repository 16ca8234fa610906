"""When each op starts: closed loop (think times) or open loop (Poisson arrivals at a rate).

Closed loop is the default and the ancestor's shape: a user runs an op, thinks, runs the next.
Its latency is the call alone, and a slow store slows the offered load with it (coordinated
omission, by nature of the loop).

Open loop (``STRESS_TARGET_OPS_PER_SEC``) follows pgbench's ``--rate``: each user gets Poisson
arrivals at ``rate / users`` from its own arrival stream, and every op has a scheduled start
whether or not the previous one has finished. Response time is counted from that scheduled
start, so queueing behind a slow store shows; the call alone is ``service`` time and the delay
before the call is ``schedule_lag``. With a latency limit, an op already later than the limit
when its turn comes is skipped (``--latency-limit``): it still takes its place in the plan, so
the op stream and replay stay exact.

The arrival stream is separate from the op stream (:func:`stress.plan.draws.arrival_seed_sequence`),
so a closed and an open run of one seed plan the very same ops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from stress.config import Settings
from stress.summary import OpenLoopSection, RunStats

__all__ = [
    "LATE_AFTER_S",
    "LATE_OPS",
    "OVER_LIMIT_OPS",
    "SKIPPED_OPS",
    "ArrivalSchedule",
    "Pacing",
    "open_loop_section",
]

#: An op that starts more than this after its scheduled time is counted late, in seconds:
#: above the wake-up jitter of a sleeping thread, below any latency worth reporting.
LATE_AFTER_S = 0.001

#: Counter names in ``results["counters"]``.
LATE_OPS: Final = "late_ops"
SKIPPED_OPS: Final = "skipped_ops"
OVER_LIMIT_OPS: Final = "over_limit_ops"


@dataclass(frozen=True)
class Pacing:
    """How a run paces its users (the same for every user)."""

    #: Arrivals per second of each user; None = closed loop.
    rate_per_user: float | None = None
    #: Latency limit in seconds; None = none.
    latency_limit_s: float | None = None

    @classmethod
    def of_run(
        cls, target_ops_per_sec: float | None, users: int, latency_limit_ms: float | None
    ) -> Pacing:
        rate = None if target_ops_per_sec is None else target_ops_per_sec / max(users, 1)
        limit = None if latency_limit_ms is None else latency_limit_ms / 1000
        return cls(rate, limit)

    @property
    def open_loop(self) -> bool:
        return self.rate_per_user is not None


class ArrivalSchedule:
    """The scheduled starts of one user's ops, in clock seconds.

    One uniform per op, so after ``position`` ops the stream is at uniform ``position`` and a
    restarted user resumes it in O(1) (:meth:`stress.plan.draws.Draws.resumed`).
    """

    def __init__(self, global_seed: int, user_id: int, rate_per_s: float, position: int = 0):
        # Imported here: the run reads this module (its summary section) before its first
        # line, and the streams bring numpy.
        from stress.plan.draws import Draws, arrival_seed_sequence

        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s={rate_per_s} must be above 0")
        self._draws = Draws.resumed(arrival_seed_sequence(global_seed, user_id), position)
        self._mean_gap_s = 1.0 / rate_per_s
        self._last_s = 0.0

    def start_at(self, now_s: float) -> None:
        """Anchor the schedule: the first op is due one gap after ``now_s``."""
        self._last_s = now_s

    def next_due(self) -> float:
        """The scheduled start of the next op (draws one gap)."""
        self._last_s += self._draws.exponential(self._mean_gap_s)
        return self._last_s


def open_loop_section(settings: Settings, results: RunStats) -> OpenLoopSection | None:
    """The summary's ``open_loop`` section (None in closed loop), from the run's ``results``."""
    if settings.target_ops_per_sec is None:
        return None
    counters: Mapping[str, int] = results.get("counters", {})
    return {
        "target_ops_per_sec": settings.target_ops_per_sec,
        "achieved_ops_per_sec": results["throughput_ops_per_sec"],
        "latency_limit_ms": settings.latency_limit_ms,
        "late_after_ms": LATE_AFTER_S * 1000,
        LATE_OPS: counters.get(LATE_OPS, 0),
        SKIPPED_OPS: counters.get(SKIPPED_OPS, 0),
        OVER_LIMIT_OPS: counters.get(OVER_LIMIT_OPS, 0),
    }
