"""Id allocation strategies for JSON-row tables.

- ``row``: the original's allocator: every row reserves its id with one serial upsert on the
  ``ids`` table, a write transaction of its own before the insert (write amplification x2).
- ``block``: a process leases a block of ids per table in one upsert and spends it locally,
  leasing again when it runs dry. Ids stay unique across processes; a crash leaves gaps.
- ``rowid``: SQLite assigns the id at insert; the baseline with no allocator at all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from stress.metadb.engines import Connection

__all__ = ["ID_STRATEGIES", "IdAllocator", "IdStrategy", "make_allocator"]

#: The id strategies, declared here once: settings, benches and tools import them.
IdStrategy = Literal["row", "block", "rowid"]
ID_STRATEGIES: tuple[IdStrategy, ...] = get_args(IdStrategy)

_RESERVE_SQL = (
    "INSERT INTO ids (name, id) VALUES (?, ?) "
    "ON CONFLICT(name) DO UPDATE SET id = id + excluded.id RETURNING id"
)

#: Runs ``fn(conn)`` inside ``BEGIN IMMEDIATE`` ... ``COMMIT`` and returns its result.
Transact = Callable[[Connection, Callable[[Connection], int]], int]


def reserve_range(conn: Connection, table: str, count: int) -> range:
    """Reserve ``count`` consecutive ids for ``table``; the caller holds the write lock."""
    high = int(conn.execute(_RESERVE_SQL, (table, count)).fetchone()[0])
    return range(high - count + 1, high + 1)


class IdAllocator:
    """Hands out ids for one strategy; ``None`` means the engine assigns them (rowid)."""

    strategy: IdStrategy = "rowid"

    def take(self, conn: Connection, table: str, count: int, transact: Transact) -> range | None:
        return None


class _RowAllocator(IdAllocator):
    strategy: IdStrategy = "row"

    def take(self, conn: Connection, table: str, count: int, transact: Transact) -> range | None:
        high = transact(conn, lambda c: reserve_range(c, table, count).stop - 1)
        return range(high - count + 1, high + 1)


@dataclass
class _Lease:
    next_id: int
    end: int  # exclusive


class _BlockAllocator(IdAllocator):
    """Leases are per process and table: shared by every handle of this process on the file."""

    strategy: IdStrategy = "block"

    def __init__(self, db_key: str, block_size: int) -> None:
        self._db_key = db_key
        self._block_size = block_size

    def take(self, conn: Connection, table: str, count: int, transact: Transact) -> range | None:
        if count > self._block_size:
            # A big batch leases exactly what it needs rather than wasting a block's tail.
            high = transact(conn, lambda c: reserve_range(c, table, count).stop - 1)
            return range(high - count + 1, high + 1)
        key = (_pid[0], self._db_key, table)
        with _LEASE_LOCK:
            lease = _LEASES.get(key)
            if lease is None or lease.end - lease.next_id < count:
                high = transact(conn, lambda c: reserve_range(c, table, self._block_size).stop - 1)
                # The unspent tail of an old lease is a gap, which the strategy allows.
                lease = _Lease(high - self._block_size + 1, high + 1)
                _LEASES[key] = lease
            start = lease.next_id
            lease.next_id += count
        return range(start, start + count)


# Process-wide lease table, keyed by pid so a forked child never reuses its parent's lease.
_LEASE_LOCK = threading.Lock()
_LEASES: dict[tuple[int, str, str], _Lease] = {}
# This process's pid, kept current across fork: os.getpid() is a system call (glibc no
# longer caches it), about a quarter of a lease hand-out on every single-row write.
_pid = [os.getpid()]


def _refresh_pid() -> None:
    _pid[0] = os.getpid()


os.register_at_fork(after_in_child=_refresh_pid)


def make_allocator(strategy: IdStrategy, db_key: str, block_size: int) -> IdAllocator:
    """The allocator for ``strategy`` on the database identified by ``db_key``."""
    if strategy == "row":
        return _RowAllocator()
    if strategy == "block":
        return _BlockAllocator(db_key, block_size)
    return IdAllocator()
