"""Id allocation strategies for JSON-row tables.

- ``row``: the original's allocator: every row reserves its id with one serial upsert on the
  ``ids`` table, a write transaction of its own before the insert (write amplification x2).
- ``block``: a process leases a block of ids per table in one upsert and spends it locally,
  leasing again when it runs dry. Ids stay unique across processes; a crash leaves gaps.
- ``rowid``: SQLite assigns the id at insert; the baseline with no allocator at all.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Callable
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


class _Lease:
    """A block of ids ``[next, end)`` this process may hand out.

    ``ids`` is an ``itertools.count``: ``next()`` on it runs in C without releasing the GIL,
    so threads sharing the lease draw distinct ids from it without a lock. A drawn id at or
    past ``end`` is not used (its thread renews the lease under the lock instead).
    """

    __slots__ = ("end", "ids")

    def __init__(self, start: int, end: int) -> None:
        self.ids = itertools.count(start)
        self.end = end


class _BlockAllocator(IdAllocator):
    """Leases are per process and table: shared by every handle of this process on the file."""

    strategy: IdStrategy = "block"

    def __init__(self, db_key: str, block_size: int) -> None:
        self._block_size = block_size
        # This file's leases, by table: the same dict for every handle of the process on it
        # (emptied in a forked child, so a child never spends its parent's lease).
        self._leases = _LEASES.setdefault(db_key, {})

    def take(self, conn: Connection, table: str, count: int, transact: Transact) -> range | None:
        if count == 1 and _GIL:
            # The commonest case, every single-row write: one id, drawn without the lock.
            lease = self._leases.get(table)
            if lease is not None:
                row_id = next(lease.ids)
                if row_id < lease.end:
                    return range(row_id, row_id + 1)
        if count > self._block_size:
            # A big batch leases exactly what it needs rather than wasting a block's tail.
            high = transact(conn, lambda c: reserve_range(c, table, count).stop - 1)
            return range(high - count + 1, high + 1)
        with _LEASE_LOCK:
            return self._take_locked(conn, table, count, transact)

    def _take_locked(self, conn: Connection, table: str, count: int, transact: Transact) -> range:
        """``count`` consecutive ids from the lease, renewed first if it has too few left."""
        leases = self._leases
        lease = leases.get(table)
        if lease is not None:
            end, lease.end = lease.end, 0  # closed first: lock-free draws now fail over to here
            start = next(lease.ids)  # past every id a lock-free draw has used
            if end - start >= count:
                leases[table] = _Lease(start + count, end)
                return range(start, start + count)
        # The unspent tail of an old lease is a gap, which the strategy allows.
        size = self._block_size
        high = transact(conn, lambda c: reserve_range(c, table, size).stop - 1)
        leases[table] = _Lease(high - size + 1 + count, high + 1)
        return range(high - size + 1, high - size + 1 + count)


# Lock-free draws rely on the GIL making next() on a count atomic; a free-threaded Python
# (3.13t, with the GIL off) takes the lock for every id instead.
_GIL: bool = getattr(sys, "_is_gil_enabled", lambda: True)()

# This process's leases: file key -> table -> lease. The lock serialises renewals and
# multi-id takes; single ids are drawn without it (see _Lease).
_LEASE_LOCK = threading.Lock()
_LEASES: dict[str, dict[str, _Lease]] = {}


def _forget_leases() -> None:
    """In a forked child: the parent's leases are the parent's to spend (and its lock may
    have been held by a thread the child does not have)."""
    global _LEASE_LOCK
    _LEASE_LOCK = threading.Lock()
    for leases in _LEASES.values():
        leases.clear()


os.register_at_fork(after_in_child=_forget_leases)


def make_allocator(strategy: IdStrategy, db_key: str, block_size: int) -> IdAllocator:
    """The allocator for ``strategy`` on the database identified by ``db_key``."""
    if strategy == "row":
        return _RowAllocator()
    if strategy == "block":
        return _BlockAllocator(db_key, block_size)
    return IdAllocator()
