"""Each user's progress read from its ledger: how recovery is timed when users run as threads.

With worker processes each user's committed op count is in shared memory (the restart
journal's slots). Threads keep no such journal, but every user writes its ledger: an intent
record before each write op, then one outcome record per row (persisted, spooled or failed),
each with its status byte last. The number of outcome records is how far a user's writes
have come back from the store. Only writes count here, so a user that only reads never
moves; the recovery tracker waits only on users that had moved before the fault. That is
what a lock fault blocks (in WAL mode readers go on); a kill needs worker processes.

Each call reads only the records written since the last one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stress.oracle.ledger import INTENT, LEDGER_DTYPE

__all__ = ["LedgerProgress"]

#: Records read per user and call at most (a later call reads on).
_CHUNK = 65_536


@dataclass
class LedgerProgress:
    #: user id -> its ledger file.
    ledgers: Mapping[int, Path]
    #: user id -> (records read so far, outcome records among them).
    done: dict[int, tuple[int, int]] = field(default_factory=dict)

    def positions(self) -> dict[int, int]:
        """user id -> outcome records in its ledger so far (a write op adds at least one)."""
        for user, path in self.ledgers.items():
            read, outcomes = self.done.get(user, (0, 0))
            more, landed = _landed(path, read)
            self.done[user] = (read + more, outcomes + landed)
        return {user: outcomes for user, (_, outcomes) in self.done.items()}


def _landed(path: Path, start: int) -> tuple[int, int]:
    """From record ``start`` up to the first not yet written: (records, outcome records)."""
    try:
        with path.open("rb") as handle:
            handle.seek(start * LEDGER_DTYPE.itemsize)
            raw = handle.read(_CHUNK * LEDGER_DTYPE.itemsize)
    except FileNotFoundError:
        return 0, 0
    whole = len(raw) - len(raw) % LEDGER_DTYPE.itemsize
    status = np.frombuffer(raw[:whole], dtype=LEDGER_DTYPE)["status"]
    ends = np.flatnonzero(status == 0)
    if ends.size:
        status = status[: ends[0]]
    return len(status), int(np.count_nonzero(status > INTENT))
