"""The meta.db store handle: connections, schema check, writers, spool on failure.

A :class:`MetaDb` is one handle on one file with one set of strategies. It is not shared
between threads: each simulated user opens its own, as each short-lived process of the
original did. Writers never raise for store-side failures (a lock held past the busy timeout,
a full disk): the rows go to the error spool and the outcome says so. Programming errors (an
unknown table, an invalid record) raise.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from stress.metadb import maintenance, spool
from stress.metadb.analytics import ANALYTICS, snapshot_rows
from stress.metadb.codec import codec_for
from stress.metadb.engines import (
    DISK_FULL,
    INTERRUPTED,
    Connection,
    ConnectionMode,
    ConnectOptions,
    EngineName,
    Interrupted,
    classify_failure,
    configure_writes,
    connect,
    is_no_room,
    is_store_failure,
)
from stress.metadb.errors import (
    EngineError,
    InvalidQueryError,
    InvalidRecordError,
    SchemaTooNewError,
)
from stress.metadb.ids import IdStrategy, make_allocator
from stress.metadb.inserts import insert_one, insert_rows, rollback_quietly, transact
from stress.metadb.records import Record
from stress.metadb.schema import JSON_TABLES, SCHEMA_VERSION, migration_statements
from stress.metadb.writer_loop import WriteRequest, WriterLoop, release_loop, writer_loop
from stress.metadb.writers import TableWriters

__all__ = [
    "BatchOutcome",
    "MetaDb",
    "QueryResult",
    "StoreOptions",
    "WriteOutcome",
    "WriteStatus",
    "transact",
]

WriteStatus = Literal["persisted", "spooled", "failed"]


@dataclass(frozen=True)
class StoreOptions:
    """The strategies of one handle; comparing them is what users come for."""

    engine: EngineName = "sqlite"
    #: ``per-op`` opens, configures, acts and closes for every operation (the original's
    #: shape); ``long-lived`` keeps one connection for the handle's life; ``writer-loop``
    #: hands JSON-row writes to the process's writer thread, which commits them in groups
    #: (every other operation uses the handle's own long-lived connection).
    connection: ConnectionMode = "per-op"
    ids: IdStrategy = "row"
    #: How long a statement waits for a lock before it fails, ms.
    busy_timeout_ms: int = 10_000
    #: Ids leased at once per process and table by the ``block`` strategy.
    id_block_size: int = 256
    read_only: bool = False
    #: turso only: open with pyturso's experimental multi-process WAL, so several processes
    #: can share the file; every process on the file must set it alike.
    multiprocess_wal: bool = False
    #: Receives every SQL statement the engine runs (sqlite only), for tests and debugging.
    trace: Callable[[str], None] | None = None


@dataclass(frozen=True)
class WriteOutcome:
    """What became of one write: persisted (with its id), spooled, or failed (spool too)."""

    table: str
    status: WriteStatus
    id: int | None = None
    error_class: str | None = None
    reason: str | None = None
    #: The exact JSON text handed to the engine (for a caller's own ledger).
    row_json: str | None = None

    @property
    def persisted(self) -> bool:
        return self.status == "persisted"

    @classmethod
    def _persisted(cls, table: str, row_id: int, row_json: str) -> WriteOutcome:
        """The outcome of a write that landed, built for the hot path: a frozen dataclass's
        ``__init__`` sets each field through ``object.__setattr__`` (about 1 us for six, 5%
        of a whole single-row write); one update of the instance dict does the same."""
        outcome = object.__new__(cls)
        outcome.__dict__.update(
            table=table,
            status="persisted",
            id=row_id,
            error_class=None,
            reason=None,
            row_json=row_json,
        )
        return outcome


@dataclass(frozen=True)
class BatchOutcome:
    """What became of a batch written in one transaction: all rows share the status."""

    table: str
    status: WriteStatus
    count: int
    #: Ids of the rows in order: assigned when persisted, reserved (or empty) when spooled.
    ids: tuple[int, ...] = ()
    error_class: str | None = None
    reason: str | None = None
    #: The exact JSON text of each row handed to the engine, in order.
    row_jsons: tuple[str, ...] = ()

    @property
    def persisted(self) -> bool:
        return self.status == "persisted"


@dataclass(frozen=True)
class QueryResult:
    """Rows of a query with their column names."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


class MetaDb(TableWriters):
    """One handle on a meta.db file. Construction touches nothing; :meth:`open` checks it."""

    def __init__(self, path: Path, home: Path | None = None, options: StoreOptions | None = None):
        self.path = Path(path)
        self.home = Path(home) if home is not None else self.path.parent
        self.options = options if options is not None else StoreOptions()
        self._conn: Connection | None = None
        #: The connection an operation is using now (either mode), for :meth:`interrupt`.
        self._in_use: Connection | None = None
        self._in_use_lock = threading.Lock()
        #: Set by interrupt() while an operation runs; cleared when it ends.
        self._interrupting = False
        self._db_key = str(self.path.resolve())
        self._allocator = make_allocator(self.options.ids, self._db_key, self.options.id_block_size)
        #: The process's writer thread on this file (``writer-loop``), once this handle used it.
        self._loop: WriterLoop | None = None
        #: This handle's write waiting in the loop, for :meth:`interrupt`.
        self._request: WriteRequest | None = None

    @classmethod
    def open(
        cls, path: Path, home: Path | None = None, options: StoreOptions | None = None
    ) -> MetaDb:
        """A handle whose file exists at the current schema (migrated if older).

        Raises :class:`SchemaTooNewError` for a newer file and :class:`EngineError` when the
        engine cannot open it at all.
        """
        store = cls(path, home, options)
        with store.connection():
            pass
        return store

    # -- connections -------------------------------------------------------------------

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A configured connection at the current schema; raises :class:`EngineError`.

        ``per-op`` opens a fresh one and closes it after; ``long-lived`` reuses one, and drops
        it after a store failure so the next operation starts clean.
        """
        started = time.perf_counter()
        try:
            with self._raw_connection() as conn:
                yield conn
        except Exception as exc:
            if not is_store_failure(exc):
                raise
            raise self._engine_error(exc, started) from exc

    @contextmanager
    def _raw_connection(self) -> Iterator[Connection]:
        conn = self._acquire()
        try:
            yield conn
        except BaseException as exc:
            self._release(conn, exc)
            raise
        self._release(conn, None)

    def _acquire(self) -> Connection:
        """The connection for one operation, marked in use (for :meth:`interrupt`).

        ``per-op`` opens a fresh one; the other modes keep one for the handle's life. A plain
        method pair rather than nested context managers: this runs on every write.
        """
        if self.options.connection == "per-op":
            conn = self._open_connection()
        else:
            conn = self._conn if self._conn is not None else self._open_connection()
            self._conn = conn
        # No lock needed to publish it: interrupt() either sees it or an operation that has
        # not started, which it never stops anyway (see interrupt); _release takes the lock.
        self._in_use = conn
        return conn

    def _release(self, conn: Connection, failure: BaseException | None) -> None:
        """End an operation: ``per-op`` closes; a kept one is dropped after a store failure
        so the next operation starts clean."""
        with self._in_use_lock:
            self._in_use = None
            self._interrupting = False
        if self.options.connection == "per-op":
            conn.close()
        elif failure is not None and isinstance(failure, Exception) and is_store_failure(failure):
            self._drop_connection()

    def interrupt(self) -> None:
        """Stop the statement the handle is running now, from another thread; else nothing.

        The statement fails as a store failure of class ``interrupted``: a write in flight is
        rolled back and comes back ``failed`` with that class, never persisted, and it is not
        spooled: its caller gave it up (the run's deadline), so it owes the store no
        re-ingestion, and writing thousands of spool lines would only delay the stop. A read
        raises :class:`EngineError`. Both engines support it (``sqlite3`` and ``pyturso``
        ``Connection.interrupt``). SQLite does not interrupt a statement waiting out the busy
        timeout for a lock, nor one started after this call: a caller that means to stop
        calls it until its operation has returned.
        """
        with self._in_use_lock:
            conn = self._in_use
            if conn is not None:
                self._interrupting = True
                conn.interrupt()
            self._withdraw()

    def _withdraw(self) -> None:
        """Take this handle's write back from the writer loop if no group holds it yet; a
        group in flight is never interrupted (it carries other callers' writes), so the
        caller waits for its commit, as a statement waiting on a lock is waited for."""
        request, loop = self._request, self._loop
        if request is not None and loop is not None and loop.cancel(request):
            request.error = Interrupted()
            request.finish()

    def _check_interrupt(self) -> None:
        if self._interrupting:
            raise Interrupted()

    def _open_connection(self) -> Connection:
        options = ConnectOptions(
            self.options.engine,
            self.options.busy_timeout_ms,
            self.options.read_only,
            self.options.multiprocess_wal,
            self.options.trace,
        )
        conn = connect(self.path, options)
        try:
            self._check_schema(conn, options)
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_schema(self, conn: Connection, options: ConnectOptions) -> None:
        version = _user_version(conn)
        if version > SCHEMA_VERSION:
            # Before any pragma that writes: a newer file is left exactly as it was.
            raise SchemaTooNewError(str(self.path), version, SCHEMA_VERSION)
        configure_writes(conn, options)
        if version == SCHEMA_VERSION:
            return  # the warm path: not one DDL statement, no write lock
        if not self.options.read_only:
            transact(conn, self._migrate)

    @staticmethod
    def _migrate(conn: Connection) -> None:
        # Another process may have migrated between our read and our lock: read again.
        version = _user_version(conn)
        if version >= SCHEMA_VERSION:
            return
        for statement in migration_statements(version):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        """Close the long-lived connection, if any, and let go of the writer loop (the last
        handle to let go stops its thread). The handle can be used again after."""
        self._drop_connection()
        loop, self._loop = self._loop, None
        if loop is not None:
            release_loop(self._loop_key(), loop)

    def _loop_key(self) -> tuple[object, ...]:
        return (self._db_key, self.options)

    def __enter__(self) -> MetaDb:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _engine_error(self, exc: BaseException, started: float) -> EngineError:
        waited_ms = (time.perf_counter() - started) * 1000
        error_class = classify_failure(
            exc, waited_ms, self.options.busy_timeout_ms, self.path.parent
        )
        return EngineError(self.options.engine, error_class, str(exc))

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside ``BEGIN IMMEDIATE``; commits on success, raises EngineError."""
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                rollback_quietly(conn)
                raise

    # -- JSON-row writers --------------------------------------------------------------

    def record(self, table: str, row: Record | Mapping[str, Any]) -> WriteOutcome:
        """Write one row of ``table``; store failures spool it and say so in the outcome."""
        row_json = codec_for(table).row_json(row)
        if self.options.connection == "writer-loop":
            batch = self._through_loop(table, [row_json])
            kept = batch.ids[0] if batch.ids else None
            return WriteOutcome(
                table, batch.status, kept, batch.error_class, batch.reason, row_json
            )
        started = time.perf_counter()
        reserved: range | None = None
        try:
            conn = self._acquire()
            try:
                reserved = self._allocator.take(conn, table, 1, transact)
                row_id = insert_one(conn, table, row_json, reserved)
            except BaseException as exc:
                self._release(conn, exc)
                raise
            self._release(conn, None)
        except Exception as exc:
            if not is_store_failure(exc):
                raise
            batch = self._unwritten(table, [row_json], reserved, exc, started)
            kept = batch.ids[0] if batch.ids else None
            return WriteOutcome(
                table, batch.status, kept, batch.error_class, batch.reason, row_json
            )
        return WriteOutcome._persisted(table, row_id, row_json)

    def record_batch(self, table: str, rows: Sequence[Record | Mapping[str, Any]]) -> BatchOutcome:
        """Write many rows of ``table`` in one transaction (ids reserved in one update)."""
        # One compiled call validates the whole batch (an unknown table raises even when
        # there are no rows); the text is what each row's model would dump.
        row_jsons = codec_for(table).row_jsons(rows)
        if not row_jsons:
            return BatchOutcome(table, "persisted", 0)
        if self.options.connection == "writer-loop":
            return self._through_loop(table, row_jsons)
        reserved: range | None = None
        started = time.perf_counter()
        try:
            with self._raw_connection() as conn:
                reserved = self._allocator.take(conn, table, len(row_jsons), transact)
                ids = transact(
                    conn,
                    lambda c: insert_rows(c, table, row_jsons, reserved, self._check_interrupt),
                )
        except Exception as exc:
            if not is_store_failure(exc):
                raise
            return self._unwritten(table, row_jsons, reserved, exc, started)
        return BatchOutcome(table, "persisted", len(row_jsons), ids, row_jsons=tuple(row_jsons))

    def _through_loop(self, table: str, row_jsons: list[str]) -> BatchOutcome:
        """Hand the rows to the process's writer thread; return once their group committed
        (or failed: then they are spooled here, by their caller, as on the other paths)."""
        started = time.perf_counter()
        if self._loop is None:
            self._loop = writer_loop(self._loop_key(), self._open_connection, self._allocator)
        request = self._loop.submit(table, row_jsons)
        with self._in_use_lock:
            self._request = request
        try:
            request.wait()
        finally:
            with self._in_use_lock:
                self._request = None
                self._interrupting = False
        error = request.error
        if error is None:
            return BatchOutcome(
                table, "persisted", len(row_jsons), request.ids, row_jsons=tuple(row_jsons)
            )
        if not (isinstance(error, Exception) and is_store_failure(error)):
            raise error
        return self._unwritten(table, row_jsons, request.reserved, error, started)

    def _unwritten(
        self,
        table: str,
        row_jsons: list[str],
        reserved: range | None,
        exc: BaseException,
        started: float,
    ) -> BatchOutcome:
        """The outcome of rows a store failure kept out: spooled, or failed if interrupted
        (or if even the spool failed)."""
        error = self._engine_error(exc, started)
        if error.error_class == INTERRUPTED:
            return BatchOutcome(
                table,
                "failed",
                len(row_jsons),
                (),
                INTERRUPTED,
                "interrupted by its caller before it committed: rolled back, not spooled",
                tuple(row_jsons),
            )
        entries = [
            spool.SpoolEntry(
                table,
                "insert",
                error.error_class,
                error.message,
                id=reserved[i] if reserved is not None else None,
                row_json=row_json,
            )
            for i, row_json in enumerate(row_jsons)
        ]
        status, reason, error_class = self._spool(entries, error)
        kept = tuple(reserved) if reserved is not None else ()
        return BatchOutcome(
            table, status, len(row_jsons), kept, error_class, reason, tuple(row_jsons)
        )

    def _spool(
        self, entries: list[spool.SpoolEntry], error: EngineError
    ) -> tuple[WriteStatus, str, str]:
        """Append ``entries`` to the spool: ``spooled``, or ``failed`` if even that fails.

        Returns the status, the reason and the error class: a spool that has no room makes
        the class ``disk_full`` whatever failed first, since that is why the rows are lost.
        """
        try:
            spool.append_entries(self.home, entries, self.options.engine)
        except OSError as spool_exc:
            error_class = DISK_FULL if is_no_room(spool_exc) else error.error_class
            reason = f"{error.message}; spool append failed too: {spool_exc}"
            return "failed", reason, error_class
        return "spooled", error.message, error.error_class

    # -- control-plane writers ---------------------------------------------------------

    def _write_control(
        self, entry: spool.SpoolEntry, work: Callable[[Connection], int | None]
    ) -> WriteOutcome:
        started = time.perf_counter()
        try:
            with self._raw_connection() as conn:
                row_id = transact(conn, work)
        except Exception as exc:
            if not is_store_failure(exc):
                raise
            error = self._engine_error(exc, started)
            failed = spool.SpoolEntry(
                entry.table, entry.op, error.error_class, error.message, entry.id, None, entry.data
            )
            status, reason, error_class = self._spool([failed], error)
            return WriteOutcome(entry.table, status, entry.id, error_class, reason)
        return WriteOutcome(entry.table, "persisted", row_id)

    def insert_event(self, kind: str, payload: Mapping[str, Any]) -> WriteOutcome:
        """Insert a delivery event as ``pending``; the outcome carries its id."""
        now = _now_iso()
        payload_json = orjson.dumps(dict(payload)).decode()
        data = {"ts_utc": now, "kind": kind, "payload_json": payload_json}
        entry = spool.SpoolEntry("events", "event_insert", "", "", data=data)
        return self._write_control(entry, lambda c: _insert_event(c, data))

    def mark_event(
        self, event_id: int, status: Literal["delivered", "failed"], reason: str | None = None
    ) -> WriteOutcome:
        """Mark an event ``delivered``, or ``failed`` with the reason (required then)."""
        if status not in ("delivered", "failed"):
            raise InvalidRecordError(
                "events", "status", f"must be delivered or failed, not {status!r}"
            )
        if status == "failed" and not reason:
            raise InvalidRecordError("events", "reason", "required when status is failed")
        data = {"status": status, "reason": reason, "updated_at": _now_iso()}
        entry = spool.SpoolEntry("events", "event_mark", "", "", id=event_id, data=data)
        return self._write_control(entry, lambda c: _mark_event(c, event_id, data))

    def upsert_source_cursor(self, source: str, cursor_value: str) -> WriteOutcome:
        """Set the cursor of ``source`` (created on first use)."""
        data = {"source": source, "cursor_value": cursor_value, "updated_at": _now_iso()}
        entry = spool.SpoolEntry("source_cursors", "cursor_upsert", "", "", data=data)
        return self._write_control(entry, lambda c: _upsert_cursor(c, data))

    def source_cursor(self, source: str) -> str | None:
        """The cursor of ``source``, or ``None`` if it was never set."""
        rows = self.query("SELECT cursor_value FROM source_cursors WHERE source = ?", (source,))
        return str(rows.rows[0][0]) if rows.rows else None

    # -- reads -------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> QueryResult:
        """Run a parameterised query; store failures raise :class:`EngineError`."""
        with self.connection() as conn:
            try:
                cursor = conn.execute(sql, params)
                rows = [tuple(row) for row in cursor.fetchall()]
            except Exception as exc:
                # Engines report bad SQL with the same exception types as lock and disk
                # failures; what classifies as "other" is the query's fault, not the store's.
                if is_store_failure(exc) and classify_failure(exc, 0.0, 1) != "other":
                    raise
                raise InvalidQueryError(sql, str(exc)) from exc
            columns = tuple(col[0] for col in cursor.description or ())
        return QueryResult(columns, rows)

    def analytics(self, name: str) -> QueryResult:
        """Run the named query of :data:`ANALYTICS` on the live file."""
        if name not in ANALYTICS:
            known = ", ".join(ANALYTICS)
            raise InvalidRecordError(
                "<query>", "name", f"unknown analytics {name!r}; known: {known}"
            )
        return self.query(ANALYTICS[name].sql)

    def snapshot_query(
        self,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any] = (),
        tables: Sequence[str] | None = None,
    ) -> QueryResult:
        """Copy just ``tables`` (default: those ``sql`` names) to memory and query the copy."""
        referenced = tables if tables is not None else _tables_in(sql)
        with self.connection() as conn:
            # One read transaction, so every copied table comes from the same snapshot.
            conn.execute("BEGIN")
            try:
                columns, rows = snapshot_rows(conn, referenced, sql, params)
            finally:
                rollback_quietly(conn)
        return QueryResult(columns, rows)

    # -- upkeep ------------------------------------------------------------------------

    def checkpoint(self, mode: str = "TRUNCATE") -> maintenance.CheckpointResult:
        """Checkpoint the WAL into the main file."""
        with self.connection() as conn:
            return maintenance.checkpoint(conn, mode)

    def integrity_check(self, quick: bool = False) -> list[str]:
        """``["ok"]`` when the file is sound; ``quick`` skips the index cross-checks."""
        with self.connection() as conn:
            return maintenance.integrity_check(conn, quick)

    def stats(self) -> maintenance.StoreStats:
        """Page count, freelist, file and WAL bytes, and rows per table."""
        with self.connection() as conn:
            return maintenance.store_stats(conn, self.path)

    def apply_retention(
        self, now: datetime | None = None, keep_days: int = 7
    ) -> maintenance.RetentionResult:
        """Roll ticks older than ``keep_days`` up into daily counts (one transaction)."""
        moment = now if now is not None else datetime.now(UTC)
        with self.transaction() as conn:
            return maintenance.apply_retention(conn, moment, keep_days)


def _tables_in(sql: str) -> list[str]:
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql))
    return [table for table in JSON_TABLES if table in words]


def _user_version(conn: Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _insert_event(conn: Connection, data: Mapping[str, Any]) -> int:
    cursor = conn.execute(
        "INSERT INTO events (ts_utc, kind, payload_json, status, updated_at) "
        "VALUES (?, ?, ?, 'pending', ?)",
        (data["ts_utc"], data["kind"], data["payload_json"], data["ts_utc"]),
    )
    return int(cursor.lastrowid)


def _mark_event(conn: Connection, event_id: int, data: Mapping[str, Any]) -> int:
    cursor = conn.execute(
        "UPDATE events SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
        (data["status"], data["reason"], data["updated_at"], event_id),
    )
    if cursor.rowcount == 0:
        raise InvalidRecordError("events", "id", f"no event with id {event_id}")
    return event_id


def _upsert_cursor(conn: Connection, data: Mapping[str, Any]) -> None:
    conn.execute(
        "INSERT INTO source_cursors (source, cursor_value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT(source) DO UPDATE SET cursor_value = excluded.cursor_value, "
        "updated_at = excluded.updated_at",
        (data["source"], data["cursor_value"], data["updated_at"]),
    )
    return None
