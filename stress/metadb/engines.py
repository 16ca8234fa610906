"""Engines: how a connection is opened, configured, and how its failures are classified.

Two engines speak the same DB-API: ``sqlite`` (the standard library, the default) and
``turso`` (the ``pyturso`` package, the Rust engine the original store runs on, an optional
extra). Every connection is opened in autocommit mode so the store issues its own
``BEGIN IMMEDIATE``: a writer that starts deferred and upgrades later can deadlock against
another upgrader, which SQLite reports as an immediate SQLITE_BUSY that no timeout can cure.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Protocol, get_args

from stress.metadb.errors import EngineUnavailableError

__all__ = [
    "CONNECTION_CACHE_KIB",
    "CONNECTION_MODES",
    "DISK_FULL",
    "ENGINES",
    "ERROR_CLASSES",
    "INTERRUPTED",
    "MULTIPROCESS_WAL",
    "SIDECAR_SUFFIXES",
    "Connection",
    "ConnectionMode",
    "EngineName",
    "Interrupted",
    "classify_failure",
    "configure_writes",
    "connect",
    "database_files",
    "engine_version",
    "is_no_room",
    "is_store_failure",
]

#: Page cache of one connection, in KiB: set on every connection rather than left to the
#: build's default, so a process's SQLite memory is at most this times its open connections
#: (plus what a statement's sorter holds while it runs), however big the file grows.
CONNECTION_CACHE_KIB = 2000

#: The engines, declared here once: settings, benches and tools import them.
EngineName = Literal["sqlite", "turso"]
ENGINES: tuple[EngineName, ...] = get_args(EngineName)
#: How a store handle holds its connection: a fresh one per operation (the original's shape),
#: one kept open, or (``writer-loop``) JSON-row writes made on one connection per process,
#: those that arrive together committed in one group (:mod:`stress.metadb.writer_loop`);
#: declared here, beside the engines, so reading the vocabulary is light.
ConnectionMode = Literal["per-op", "long-lived", "writer-loop"]
CONNECTION_MODES: tuple[ConnectionMode, ...] = get_args(ConnectionMode)

#: pyturso's experimental multi-process WAL, as its ``experimental_features`` names it: several
#: processes may then open one file, each coordinating through a shared ``-tshm`` file.
MULTIPROCESS_WAL = "multiprocess_wal"
#: Files an engine keeps beside a database: SQLite's WAL and its index, and turso's shared
#: coordination file of the multi-process WAL (left behind after the last close).
SIDECAR_SUFFIXES: tuple[str, ...] = ("-wal", "-shm", "-tshm")

#: The class of a write the disk (or the spool behind it) had no room for.
DISK_FULL = "disk_full"
#: The class of an operation stopped by :meth:`MetaDb.interrupt` (the run's deadline).
INTERRUPTED = "interrupted"
#: Classes a store-side failure is sorted into (the spool and every counter use these).
ERROR_CLASSES: tuple[str, ...] = (
    "lock_timeout",  # the write lock stayed held past the busy timeout
    "busy",  # SQLITE_BUSY without waiting out the timeout (snapshot conflict, zero timeout)
    DISK_FULL,
    "io_error",
    "read_only",
    "engine_refused",  # the engine will not do this at all (turso: a second process)
    "corrupt",
    INTERRUPTED,  # rolled back
    "other",
)


class Interrupted(Exception):
    """Raised by the store itself between two statements of an operation it was asked to
    interrupt (an engine interrupts only the statement running at that moment)."""

    def __init__(self) -> None:
        super().__init__(INTERRUPTED)


class Cursor(Protocol):
    lastrowid: int | None
    description: Any

    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...
    def fetchmany(self, size: int = ..., /) -> list[Any]: ...


class Connection(Protocol):
    """The slice of DB-API the store uses; both engines' connections satisfy it."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...
    def executemany(self, sql: str, parameters: Any, /) -> Any: ...
    def close(self) -> None: ...
    def interrupt(self) -> None: ...


@dataclass(frozen=True)
class ConnectOptions:
    """How to open one connection."""

    engine: EngineName
    busy_timeout_ms: int
    read_only: bool = False
    #: Open with :data:`MULTIPROCESS_WAL` (turso only; ignored by sqlite, whose WAL is always
    #: multi-process). Every process on one file must agree: see :func:`classify_failure`.
    multiprocess_wal: bool = False
    #: Called with every SQL statement the engine runs (sqlite only); tests use it to prove
    #: that a warm open runs no DDL.
    trace: Callable[[str], None] | None = None


def _turso() -> ModuleType:
    try:
        import turso
    except ImportError:
        raise EngineUnavailableError(
            "turso", "install the optional extra: pip install 'stress[turso]' (pyturso)"
        ) from None
    return turso


def connect(path: Path, options: ConnectOptions) -> Connection:
    """Open a connection and set its busy timeout (and ``query_only`` when read-only).

    Nothing here writes to the file; :func:`configure_writes` does, after the schema check.
    """
    conn: Connection
    if options.engine == "sqlite":
        conn = _connect_sqlite(path, options)
    elif options.engine == "turso":
        conn = _connect_turso(path, options)
    else:
        raise EngineUnavailableError(options.engine, f"choose one of {', '.join(ENGINES)}")
    try:
        _configure(conn, options)
    except BaseException:
        conn.close()
        raise
    return conn


def _connect_turso(path: Path, options: ConnectOptions) -> Connection:
    features = {"experimental_features": MULTIPROCESS_WAL} if options.multiprocess_wal else {}
    conn: Connection = _turso().connect(str(path), isolation_level=None, **features)
    return conn


def database_files(path: Path) -> tuple[Path, ...]:
    """The database file and its :data:`SIDECAR_SUFFIXES` files (present or not)."""
    return (path, *(path.with_name(path.name + suffix) for suffix in SIDECAR_SUFFIXES))


def _connect_sqlite(path: Path, options: ConnectOptions) -> sqlite3.Connection:
    target = _read_only_uri(path) if options.read_only else str(path)
    conn = sqlite3.connect(
        target,
        timeout=options.busy_timeout_ms / 1000,
        isolation_level=None,
        check_same_thread=False,
        uri=options.read_only,
    )
    if options.trace is not None:
        conn.set_trace_callback(options.trace)
    return conn


#: A WAL file this short holds no frame (0 bytes, or its 32-byte header alone).
_EMPTY_WAL_BYTES = 32


def _read_only_uri(path: Path) -> str:
    """``mode=ro``; on read-only media with no WAL frames to read, ``immutable=1`` as well.

    A WAL-mode file opened ``mode=ro`` needs its ``-shm`` file, which SQLite cannot create on
    read-only media (an archived run folder, a CI artifact mount): the open fails with
    "unable to open database file". When the folder cannot be written and no WAL frame
    exists, every committed row is in the main file and nobody can be writing it, so reading
    it as immutable is exact. A non-empty WAL is never ignored: then only ``mode=ro`` is tried.
    """
    wal = path.with_name(path.name + "-wal")
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    if not os.access(path.parent, os.W_OK) and wal_bytes <= _EMPTY_WAL_BYTES:
        return f"file:{path}?mode=ro&immutable=1"
    return f"file:{path}?mode=ro"


def _configure(conn: Connection, options: ConnectOptions) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(options.busy_timeout_ms)}")
    conn.execute(f"PRAGMA cache_size = -{CONNECTION_CACHE_KIB}")
    if options.engine == "sqlite":
        # No memory-mapped reads: a mapping would add up to the file's size to resident
        # memory as the database grows (0 is the usual build default; say so, not assume it).
        conn.execute("PRAGMA mmap_size = 0")
    if options.read_only:
        conn.execute("PRAGMA query_only = 1")


def configure_writes(conn: Connection, options: ConnectOptions) -> None:
    """WAL and ``synchronous = NORMAL`` for a writing handle; nothing for a read-only one.

    Separate from :func:`connect` so the store can refuse a file of a newer schema before
    changing anything in it (the journal mode is stored in the file).
    """
    if options.read_only:
        return
    _enable_wal(conn, options.busy_timeout_ms)
    conn.execute("PRAGMA synchronous = NORMAL")


def _enable_wal(conn: Connection, busy_timeout_ms: int) -> None:
    """Switch the file to WAL; on a file already in WAL mode this only reads the header.

    Switching a fresh (rollback-journal) file needs an exclusive lock, and SQLite answers
    "database is locked" at once instead of calling the busy handler, so processes opening a
    new file together would lose writes. Wait here as the busy handler would: up to the busy
    timeout, with short growing pauses.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    pause_s = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as exc:
            if "database is locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause_s)
        pause_s = min(pause_s * 2, 0.05)


def is_store_failure(exc: BaseException) -> bool:
    """True for failures of the store (locks, disk, I/O, engine limits), not of the caller.

    Programming errors (bad SQL, constraint violations) are not store failures: they raise.
    """
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
        return False
    if isinstance(exc, sqlite3.DatabaseError | OSError | Interrupted):
        return True
    turso = _loaded_turso()
    if turso is None or not isinstance(exc, turso.DatabaseError):
        return False
    return not isinstance(exc, turso.IntegrityError | turso.ProgrammingError)


def _loaded_turso() -> Any:
    import sys

    return sys.modules.get("turso")


#: Below this many free bytes on the database's file system, an I/O error is the disk filling.
DISK_FULL_BELOW_BYTES = 1 << 20
#: errno values that mean "no room" (a full disk, or a quota spent).
_NO_ROOM_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def classify_failure(
    exc: BaseException, waited_ms: float, busy_timeout_ms: int, folder: Path | None = None
) -> str:
    """Sort a store failure into one of :data:`ERROR_CLASSES`.

    SQLite says "database is locked" both when it waited out the busy timeout and when it gave
    up at once (a snapshot conflict); ``waited_ms`` tells the two apart. A full disk is not
    always SQLITE_FULL: growing the ``-shm`` file to open a connection fails as
    SQLITE_IOERR_SHMSIZE, "disk I/O error". So an I/O error while ``folder`` (the database's
    folder) has less than :data:`DISK_FULL_BELOW_BYTES` free counts as ``disk_full`` too.
    """
    if is_no_room(exc):
        return DISK_FULL
    error_class = _classify_message(exc, waited_ms, busy_timeout_ms)
    if error_class == "io_error" and folder is not None and _nearly_full(folder):
        return DISK_FULL
    return error_class


def is_no_room(exc: BaseException) -> bool:
    """True when ``exc`` says the disk (or the quota) has no room: ENOSPC, EDQUOT, SQLITE_FULL."""
    if isinstance(exc, OSError):
        return exc.errno in _NO_ROOM_ERRNOS
    return getattr(exc, "sqlite_errorname", None) == "SQLITE_FULL"


def _nearly_full(folder: Path) -> bool:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < DISK_FULL_BELOW_BYTES


def _classify_message(exc: BaseException, waited_ms: float, busy_timeout_ms: int) -> str:
    message = str(exc).lower()
    if INTERRUPTED in message.split(":")[0]:
        return INTERRUPTED
    if "locked by another process" in message or "locking error" in message:
        return "engine_refused"
    if "experimental multiprocess wal" in message:
        # turso refusing a mixed open ("Database is already open with/without experimental
        # multiprocess WAL in another process") or a place the mode cannot go (MVCC, VACUUM).
        return "engine_refused"
    if "database is locked" in message or "database is busy" in message or "busy" in message:
        return "lock_timeout" if waited_ms >= 0.9 * busy_timeout_ms else "busy"
    if "disk is full" in message:
        return DISK_FULL
    if "readonly" in message or "read-only" in message or "query_only" in message:
        return "read_only"
    if "malformed" in message or "not a database" in message:
        return "corrupt"
    if "i/o" in message or isinstance(exc, OSError) or "unable to open" in message:
        return "io_error"
    return "other"


def engine_version(engine: EngineName) -> str:
    """The engine's version string, for the run's environment record."""
    if engine == "sqlite":
        return sqlite3.sqlite_version
    try:
        return f"pyturso {metadata.version('pyturso')}"
    except metadata.PackageNotFoundError:
        return "not installed"
