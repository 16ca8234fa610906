"""The flags the coordinator sets and every user reads: stop, backpressure pause, disk over.

One flag goes the other way: ``disk_full``, which a user sets when the disk had no room for
a write, its ledger or its spool, and the coordinator reads to end the run.

With users as threads they are ``threading.Event`` objects. Across worker processes they are
bytes of one shared-memory array (:class:`SharedFlag`), never ``multiprocessing.Event``: an
Event takes a process-shared lock on every ``is_set()``, users call it before every op, and a
worker killed with SIGKILL while holding that lock would leave it held for ever, freezing every
other worker and the coordinator. A byte in shared memory has no lock to lose; waiting on it
polls, in slices short enough that a stop is seen within :data:`POLL_S`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["POLL_S", "Controls", "Flag", "SharedFlag", "process_controls", "thread_controls"]

#: Longest a :class:`SharedFlag` wait sleeps before looking at the flag again, in seconds.
POLL_S = 0.02


class Flag(Protocol):
    """A threading Event, or anything that behaves like one."""

    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...
    def set(self) -> None: ...
    def clear(self) -> None: ...


@dataclass(frozen=True)
class Controls:
    """Flags the coordinator sets and every user reads."""

    stop: Flag
    #: Backpressure: users wait before their next op while it is set.
    pause: Flag
    #: The disk budget is spent: writes become simple selects (recorded, not drawn).
    disk_over: Flag
    #: Worker processes set up their users, say they are ready, and start them only once
    #: this is set, so every user starts together and the run's clock starts with them
    #: (starting a process takes about half a second here). None: start at once (threads).
    go: Flag | None = None
    #: Set by a user that found the disk full (the store, its ledger or the spool had no
    #: room): the run stops with ``ResourceLimit``, cause ``disk``.
    disk_full: Flag = field(default_factory=threading.Event)


class SharedFlag:
    """One byte of a shared-memory array, used as a lock-free, process-shared flag.

    A one-byte store or load is atomic, and every writer of a flag writes the same value (the
    coordinator, or users setting ``disk_full``), so no lock is needed.
    """

    __slots__ = ("_cells", "_index")

    def __init__(self, cells: Any, index: int) -> None:
        self._cells = cells
        self._index = index

    def is_set(self) -> bool:
        return bool(self._cells[self._index])

    def set(self) -> None:
        self._cells[self._index] = 1

    def clear(self) -> None:
        self._cells[self._index] = 0

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            if deadline is None:
                time.sleep(POLL_S)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, POLL_S))
        return True

    def __getstate__(self) -> tuple[Any, int]:
        return (self._cells, self._index)

    def __setstate__(self, state: tuple[Any, int]) -> None:
        self._cells, self._index = state


def thread_controls() -> Controls:
    """Controls for users that are threads of this process."""
    return Controls(threading.Event(), threading.Event(), threading.Event())


def process_controls(context: Any) -> Controls:
    """Controls shared with worker processes of ``context`` (a multiprocess context).

    The array must reach the workers as a ``Process`` argument (shared memory is inherited
    at start, it cannot be sent through a pipe later).
    """
    cells = context.RawArray("b", 5)
    flags = [SharedFlag(cells, index) for index in range(5)]
    return Controls(flags[0], flags[1], flags[2], flags[3], flags[4])
