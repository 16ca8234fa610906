"""Inserting JSON rows and running write transactions: the statements every write path uses.

Shared by the store's own paths (:mod:`stress.metadb.store`) and its writer thread
(:mod:`stress.metadb.writer_loop`), so both write exactly the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TypeVar

from stress.metadb.engines import Connection
from stress.metadb.schema import JSON_TABLES

__all__ = ["insert_one", "insert_rows", "rollback_quietly", "transact"]

T = TypeVar("T")

_INSERT_AUTO = {t: f"INSERT INTO {t} (row_json) VALUES (?)" for t in JSON_TABLES}
_INSERT_WITH_ID = {t: f"INSERT INTO {t} (id, row_json) VALUES (?, ?)" for t in JSON_TABLES}
_MAX_ID = {t: f"SELECT coalesce(max(id), 0) FROM {t}" for t in JSON_TABLES}
#: Rows inserted per statement batch; between two, an interrupted write stops (the engine
#: itself interrupts only the statement running at that instant, and each row is one).
_INTERRUPT_CHUNK = 2000


def transact(conn: Connection, work: Callable[[Connection], T]) -> T:
    """Run ``work`` inside ``BEGIN IMMEDIATE`` ... ``COMMIT``; roll back on any error.

    IMMEDIATE takes the write lock up front, so a transaction never has to upgrade from
    reader to writer (an upgrade that collides fails at once, whatever the busy timeout).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
        conn.execute("COMMIT")
    except BaseException:
        rollback_quietly(conn)
        raise
    return result


def rollback_quietly(conn: Connection) -> None:
    # No transaction may be open, or the connection may be gone: either way nothing to undo.
    with contextlib.suppress(Exception):
        conn.execute("ROLLBACK")


def insert_one(conn: Connection, table: str, row_json: str, reserved: range | None) -> int:
    """Insert one row as one autocommit statement; its id.

    A single statement commits on its own: an explicit ``BEGIN IMMEDIATE`` ... ``COMMIT``
    around it would cost two more statements per row and buy nothing, since a statement that
    starts with no transaction open waits out the busy timeout for the write lock rather than
    failing on a stale snapshot (the deadlock IMMEDIATE exists to avoid needs a read first).
    """
    if reserved is not None:
        conn.execute(_INSERT_WITH_ID[table], (reserved[0], row_json))
        return reserved[0]
    return int(conn.execute(_INSERT_AUTO[table], (row_json,)).lastrowid)


def insert_rows(
    conn: Connection,
    table: str,
    row_jsons: Sequence[str],
    reserved: range | None,
    check_interrupt: Callable[[], None],
) -> tuple[int, ...]:
    """Insert rows inside the caller's write transaction; their ids in order.

    ``check_interrupt`` runs between chunks (an engine interrupts only the statement running).
    """
    if len(row_jsons) == 1:
        # One row (a writer-loop group is mostly single rows): one execute, no max(id) read.
        check_interrupt()
        return (insert_one(conn, table, row_jsons[0], reserved),)
    if reserved is not None:
        ids = tuple(reserved)
        sql = _INSERT_WITH_ID[table]
    else:
        # Inside our write transaction nobody else inserts, and SQLite gives each new row
        # max(id) + 1, so the batch's ids are the run that follows the current maximum.
        base = int(conn.execute(_MAX_ID[table]).fetchone()[0])
        ids = tuple(range(base + 1, base + 1 + len(row_jsons)))
        sql = _INSERT_AUTO[table]
    for start in range(0, len(row_jsons), _INTERRUPT_CHUNK):
        check_interrupt()
        texts = row_jsons[start : start + _INTERRUPT_CHUNK]
        if reserved is not None:
            conn.executemany(sql, zip(ids[start : start + _INTERRUPT_CHUNK], texts, strict=True))
        else:
            conn.executemany(sql, [(text,) for text in texts])
    return ids
