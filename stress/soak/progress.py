"""Each user's progress read from its ledger: how recovery is timed when users run as threads.

With worker processes each user's committed op count is in shared memory (the restart
journal's slots). Threads keep no such journal, but every user writes its ledger: an intent
record before each write op, then one outcome record per row (persisted, spooled or failed),
each with its status byte last. The number of persisted records is how many of a user's rows
have landed in the store: a spooled write has not (it waits for a replay). Only writes count
here, so a user that only reads never moves; the recovery tracker waits only on users that
had written before the fault. A write lock is what a lock fault takes (in WAL mode readers go
on); a kill needs worker processes. One reader for both modes, so a recovery means the same.

Each call reads only the records written since the last one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stress.oracle.ledger import LEDGER_DTYPE, PERSISTED

__all__ = ["LedgerProgress"]

#: Records read per user and call at most (a later call reads on).
_CHUNK = 65_536


@dataclass
class LedgerProgress:
    #: user id -> its ledger file.
    ledgers: Mapping[int, Path]
    #: user id -> (records read so far, persisted records among them).
    done: dict[int, tuple[int, int]] = field(default_factory=dict)

    def positions(self) -> dict[int, int]:
        """user id -> persisted records in its ledger so far (rows landed in the store)."""
        for user, path in self.ledgers.items():
            read, outcomes = self.done.get(user, (0, 0))
            more, landed = _landed(path, read)
            self.done[user] = (read + more, outcomes + landed)
        return {user: outcomes for user, (_, outcomes) in self.done.items()}


def _landed(path: Path, start: int) -> tuple[int, int]:
    """From record ``start`` up to the first not yet written: (records, persisted records)."""
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
    return len(status), int(np.count_nonzero(status == PERSISTED))
