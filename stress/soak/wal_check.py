"""The ``wal_checkpoint`` invariant: the WAL's backlog comes back near zero, without blocking.

At a boundary each database gets a PASSIVE checkpoint: it copies what it can back into the
file and never waits (SQLite calls no busy handler for it), so neither a lock fault nor a
user's transaction holds the boundary, and the check never stops a user. What it reports is
the backlog: WAL frames not yet copied back (``log - checkpointed``), in MB. A backlog is
normal for a moment (a reader's snapshot pins frames; a user is mid-commit), so one boundary
above the bound is only noted; the invariant fails when a database is still above it at the
next boundary too: the WAL did not come back near its baseline within one epoch.

The WAL *file* only shrinks on a TRUNCATE checkpoint, which needs the write lock; its size is
the soak's ``wal_high_water_mb`` figure (a soft limit), not this invariant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from stress.artifacts import DatabasePlace
from stress.metadb import MetaDb, MetaDbError, StoreOptions
from stress.soak.invariants import InvariantResult

__all__ = ["WalCheck"]

_MB = 2**20
#: Bytes of a WAL frame besides its page.
_FRAME_HEADER = 24


@dataclass
class WalCheck:
    bound_mb: float
    #: Databases above the bound at the last boundary (index -> backlog MB).
    above: dict[int, float] = field(default_factory=dict)

    def check(self, places: Iterable[DatabasePlace]) -> InvariantResult:
        worst, where, stuck = 0.0, "", []
        now_above: dict[int, float] = {}
        for place in places:
            backlog = _backlog_mb(place)
            if backlog is None:
                continue  # the file could not be opened now: quick_check reports that
            if backlog > worst:
                worst, where = backlog, f"db-{place.index}"
            if backlog > self.bound_mb:
                now_above[place.index] = backlog
                if place.index in self.above:
                    stuck.append(f"db-{place.index}")
        self.above = now_above
        if stuck:
            detail = (
                f"{', '.join(stuck)}: WAL backlog {worst:.2f} MB above the {self.bound_mb:g} MB "
                "bound at two boundaries in a row"
            )
        elif now_above:
            detail = f"{where}: WAL backlog {worst:.2f} MB after a passive checkpoint (noted)"
        else:
            detail = f"WAL backlog after a passive checkpoint at most {worst:.2f} MB"
        return InvariantResult("wal_checkpoint", not stuck, round(worst, 3), detail)


def _backlog_mb(place: DatabasePlace) -> float | None:
    """MB of WAL frames a PASSIVE checkpoint could not copy back; None if unreadable."""
    try:
        with MetaDb(place.path, place.home, StoreOptions(busy_timeout_ms=0)) as store:
            result = store.checkpoint("PASSIVE")
            page = int(store.query("PRAGMA page_size").rows[0][0])
    except MetaDbError:
        return None
    if result.log_frames < 0:
        return 0.0  # not in WAL mode now (SQLite answers -1)
    return (result.log_frames - result.checkpointed_frames) * (page + _FRAME_HEADER) / _MB
