"""The ``writer-loop`` connection strategy: one connection per process, commits in groups.

The original's planned fix for write amplification (docs/metadb-store.md): rather than every
caller taking the write lock for its own row, one long-lived connection per process and
database writes for every caller, and writes that arrive together are committed together, in
one ``BEGIN IMMEDIATE`` ... ``COMMIT``. Nothing waits on purpose:

- a caller that finds nothing queued and no group in flight commits its own write at once,
  on the shared connection, in its own thread (a group of one: handing it to another thread
  and waking the caller after would cost about as much as the write itself);
- a caller that finds a group in flight queues its write and waits; the process's writer
  thread takes every write queued by then and commits them as the next group.

So with one caller each group is one write, written with no hand-over (one row: one
autocommit ``INSERT``, as ``long-lived`` writes it); with many, the writes that queue behind a
commit share the next one. One group is in flight at a time (``_busy``),
whoever writes it.

Acknowledgement stays honest: a caller's write returns only after the commit of its group has
returned (durable as the store's ``synchronous`` setting makes any commit). A group whose
commit fails is rolled back whole, and every write in it comes back with the failure, for its
caller to spool exactly as the other strategies do. Ids are reserved (``row`` and ``block``)
in their own committed transactions before the group's, so a rolled-back group never gives
back ids its spooled rows carry. A write of a caller's own making that the engine refuses (a
constraint) fails alone: the group is rolled back and retried without it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from stress.metadb.engines import Connection, is_store_failure
from stress.metadb.ids import IdAllocator
from stress.metadb.inserts import insert_one, insert_rows, rollback_quietly, transact

__all__ = ["WriteRequest", "WriterLoop", "writer_loop"]

#: Rows committed together at most; a bigger batch is one group on its own.
MAX_GROUP_ROWS = 2000


@dataclass(eq=False)
class WriteRequest:
    """One caller's rows, waiting for their group's commit."""

    table: str
    row_jsons: list[str]
    #: Set once the request is finished; made only for a queued request (a caller that
    #: writes at once is finished when :meth:`WriterLoop.submit` returns, and making an
    #: Event costs about 3 us).
    done: threading.Event | None = None
    #: Reserved ids (``None``: the engine assigns them); set once, kept across a retry.
    reserved: range | None = None
    reserved_yet: bool = False
    #: Ids of the committed rows, in order; set before it is finished, on success.
    ids: tuple[int, ...] = ()
    #: What kept the rows out, set before it is finished, on failure.
    error: BaseException | None = None
    #: The writer has taken it into a group: it can no longer be withdrawn.
    taken: bool = False
    finished: bool = False

    def finish(self) -> None:
        """The request's group committed or failed (or it was withdrawn): its caller may go."""
        self.finished = True
        if self.done is not None:
            self.done.set()

    def wait(self) -> None:
        """Until the request is finished."""
        if self.done is not None:
            self.done.wait()


def _never_interrupted() -> None:
    # A group is not interrupted mid-way: it holds other callers' writes too (see cancel).
    return None


class WriterLoop:
    """The shared connection and writer thread of one process on one database."""

    def __init__(
        self, open_connection: Callable[[], Connection], allocator: IdAllocator, name: str
    ) -> None:
        self._open_connection = open_connection
        self._allocator = allocator
        self._conn: Connection | None = None
        self._pending: deque[WriteRequest] = deque()
        # Held through the lock itself (cheaper than entering the Condition); the writer
        # thread waits on the Condition over it.
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._users = 0
        self._stopping = False
        #: A group is being written (by a caller or the thread): the connection is taken.
        self._busy = False
        #: Groups committed or failed, and the writes in them (for benches and tests).
        self.groups = 0
        self.writes = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- callers ---------------------------------------------------------------------------

    def submit(self, table: str, row_jsons: list[str]) -> WriteRequest:
        """Write ``row_jsons`` now if the connection is free (the request comes back
        finished), else queue them for the next group; then :meth:`WriteRequest.wait`."""
        request = WriteRequest(table, row_jsons)
        with self._lock:
            direct = not (self._busy or self._pending or self._stopping)
            if direct:
                self._busy = request.taken = True
            else:
                request.done = threading.Event()
                self._pending.append(request)
                self._wakeup.notify()
        if direct:
            self._write_now(request)
        return request

    def _write_now(self, request: WriteRequest) -> None:
        """Commit ``request`` as a group of one in the caller's thread, then let the writer
        thread have the connection for whatever queued meanwhile."""
        try:
            self._commit([request])
        finally:
            self._free_connection()

    def _free_connection(self) -> None:
        """The group in flight is done: the next one may start (the writer thread's, if
        writes queued meanwhile)."""
        with self._lock:
            self._busy = False
            if self._pending or self._stopping:
                # Only then: a wake-up for nothing would cost a thread switch a write.
                self._wakeup.notify()

    def cancel(self, request: WriteRequest) -> bool:
        """Withdraw a request the writer has not taken yet (nothing of it was written)."""
        with self._lock:
            if request.taken or request.finished:
                return False
            self._pending.remove(request)
        return True

    def attach(self) -> None:
        with self._lock:
            self._users += 1

    def detach(self) -> bool:
        """One handle is done with the loop; the last one stops it. True when it stopped."""
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return False
            self._stopping = True
            self._wakeup.notify()
        self._thread.join()
        return True

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            group = self._next_group()
            if not group:
                break
            try:
                self._commit(group)
            finally:
                self._free_connection()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _next_group(self) -> list[WriteRequest]:
        """Every write queued now, up to :data:`MAX_GROUP_ROWS` rows, once no group is in
        flight (the connection is then the thread's until it clears ``_busy``); empty when
        stopping."""
        with self._wakeup:
            while self._busy or (not self._pending and not self._stopping):
                self._wakeup.wait()
            group: list[WriteRequest] = []
            rows = 0
            while self._pending and (
                not group or rows + len(self._pending[0].row_jsons) <= MAX_GROUP_ROWS
            ):
                request = self._pending.popleft()
                request.taken = True
                group.append(request)
                rows += len(request.row_jsons)
            self._busy = bool(group)
            return group

    def _commit(self, group: list[WriteRequest]) -> None:
        """Commit ``group``, then release its callers; a culprit's own error fails it alone."""
        culprit: WriteRequest | None = None
        try:
            culprit = self._write(group)
        except BaseException as exc:  # the thread must outlive any failure: callers wait
            if isinstance(exc, Exception) and is_store_failure(exc):
                self._drop_connection()
            for request in group:
                request.error = exc
        self.groups += 1
        self.writes += len(group)
        if culprit is not None:
            # Its caller gets the error; the others go back to the front, ahead of new writes.
            group.remove(culprit)
            culprit.finish()
            with self._lock:
                self._pending.extendleft(reversed(group))
                for request in group:
                    request.taken = False
                self._wakeup.notify()
            return
        for request in group:
            request.finish()

    def _write(self, group: list[WriteRequest]) -> WriteRequest | None:
        """Reserve ids, insert every request in one transaction; the request whose own rows
        the engine refused (not a store failure), with its error set, else ``None``."""
        if self._conn is None:
            self._conn = self._open_connection()
        conn = self._conn
        for request in group:
            if not request.reserved_yet:
                # Committed on its own: a rolled-back group keeps the ids its rows carry.
                request.reserved = self._allocator.take(
                    conn, request.table, len(request.row_jsons), transact
                )
                request.reserved_yet = True
        if len(group) == 1 and len(group[0].row_jsons) == 1:
            return self._write_one(conn, group[0])
        conn.execute("BEGIN IMMEDIATE")
        try:
            for request in group:
                try:
                    request.ids = insert_rows(
                        conn, request.table, request.row_jsons, request.reserved, _never_interrupted
                    )
                except Exception as exc:
                    if is_store_failure(exc):
                        raise
                    rollback_quietly(conn)
                    request.error = exc
                    return request
            conn.execute("COMMIT")
        except BaseException:
            rollback_quietly(conn)
            raise
        return None

    @staticmethod
    def _write_one(conn: Connection, request: WriteRequest) -> WriteRequest | None:
        """A group of one row: one autocommit ``INSERT``, which commits on its own (see
        :func:`insert_one`), not three statements; the request if the engine refused it."""
        try:
            request.ids = (insert_one(conn, request.table, request.row_jsons[0], request.reserved),)
        except Exception as exc:
            if is_store_failure(exc):
                raise
            request.error = exc
            return request
        return None

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # A connection that failed may not close cleanly either.
            with contextlib.suppress(Exception):
                conn.close()


# -- one loop per process and database ---------------------------------------------------------

_LOOPS_LOCK = threading.Lock()
_LOOPS: dict[tuple[object, ...], WriterLoop] = {}


def writer_loop(
    key: tuple[object, ...], open_connection: Callable[[], Connection], allocator: IdAllocator
) -> WriterLoop:
    """The running loop for ``key`` in this process (started on first use), attached once
    more: the caller detaches it with :func:`release_loop` when done."""
    full_key = (os.getpid(), *key)
    with _LOOPS_LOCK:
        loop = _LOOPS.get(full_key)
        if loop is None:
            loop = WriterLoop(open_connection, allocator, f"metadb-writer-{os.getpid()}")
            _LOOPS[full_key] = loop
        loop.attach()
    return loop


def release_loop(key: tuple[object, ...], loop: WriterLoop) -> None:
    """Detach one handle from ``loop``; the last one stops its thread and closes its
    connection (and the next handle starts a new one)."""
    full_key = (os.getpid(), *key)
    with _LOOPS_LOCK:
        if loop.detach() and _LOOPS.get(full_key) is loop:
            del _LOOPS[full_key]
