"""Who a user is and where it runs: the one fact the run settles before anything starts.

Its own light module: the run announces its users (``stress run``'s first line) before the
store, the workers and the statistics behind :mod:`stress.engine.users` are imported.
"""

from __future__ import annotations

from dataclasses import dataclass

from stress.engine.journal import ResumePoint

__all__ = ["UserSpec"]


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
    #: Replay: skip exactly these op indexes and ignore the latency limit.
    forced_skips: frozenset[int] | None = None
    #: Restart after a crash: continue from here instead of from op 0.
    resume: ResumePoint | None = None
