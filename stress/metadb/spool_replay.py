"""Re-ingest spooled writes, exactly once, so nothing a failed write carried is lost.

Progress is a line number per spool file, kept in ``source_cursors`` under
``spool:<file name>``, read and advanced inside the same write transaction as the rows it
covers: a replay that dies half-way resumes where it stopped, a second replay adds nothing, and
two replays running at once (two terminals, two tools, no shared lock file) split the lines
between them instead of both ingesting every one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stress.metadb import spool
from stress.metadb.engines import Connection, is_store_failure
from stress.metadb.schema import JSON_TABLES
from stress.metadb.store import MetaDb, _upsert_cursor

__all__ = ["SpoolReplayResult", "replay_spool"]

_CHUNK_LINES = 500


@dataclass
class SpoolReplayResult:
    """What a replay did, over every spool file under the home folder."""

    files: int = 0
    #: Lines this replay took (applied, found present, or reported as problems).
    lines_read: int = 0
    #: Rows (and event and cursor writes) applied now.
    ingested: int = 0
    #: Lines whose row was already present with its reserved id (nothing added).
    duplicates: int = 0
    #: ``file:line: problem`` for lines that cannot be applied (torn, not JSON, unknown op).
    problems: list[str] = field(default_factory=list)
    #: (table, id) of every row inserted now, for the caller's own accounting.
    inserted: list[tuple[str, int]] = field(default_factory=list)
    #: Lines this replay read but another replay, running at the same time, applied first.
    applied_elsewhere: int = 0


def replay_spool(store: MetaDb, home: Path | None = None) -> SpoolReplayResult:
    """Apply every spool line under ``home`` (default: the store's) not applied before.

    Raises :class:`~stress.metadb.errors.EngineError` if the store fails; what was committed
    before stays committed and the next call resumes after it.
    """
    result = SpoolReplayResult()
    for path in spool.spool_files(home if home is not None else store.home):
        result.files += 1
        _replay_file(store, path, result)
    return result


def _replay_file(store: MetaDb, path: Path, result: SpoolReplayResult) -> None:
    source = f"spool:{path.name}"
    # Only a hint of where to start reading: the cursor that decides is read again inside
    # each chunk's write transaction (see _apply_chunk).
    done = int(store.source_cursor(source) or 0)
    chunk: list[spool.SpoolLine] = []
    for line in spool.iter_spool_lines(path, start_after=done):
        if line.record is None and line.problem == "incomplete last line":
            break  # its writer may still be appending: leave it for the next replay
        chunk.append(line)
        if len(chunk) >= _CHUNK_LINES:
            _apply_chunk(store, source, chunk, result)
            chunk = []
    if chunk:
        _apply_chunk(store, source, chunk, result)


def _apply_chunk(
    store: MetaDb, source: str, chunk: list[spool.SpoolLine], result: SpoolReplayResult
) -> None:
    staged = SpoolReplayResult()
    with store.transaction() as conn:
        # The cursor is read under BEGIN IMMEDIATE, i.e. holding the write lock, and advanced
        # in the same transaction as the rows: a cursor read before the lock could be stale,
        # and two replays that both read it would both apply every line (rows written without
        # a reserved id have nothing that makes the second insert a duplicate). Holding the
        # lock makes "read cursor, apply the lines after it, move it" one atomic step for any
        # process that writes this file, whether or not it shares a lock file with us.
        done = _cursor_in(conn, source)
        fresh = [line for line in chunk if line.number > done]
        for line in fresh:
            _apply_line(conn, line, staged)
        if fresh:
            cursor = {"source": source, "cursor_value": str(fresh[-1].number), "updated_at": _now()}
            _upsert_cursor(conn, cursor)
    # Count only after the commit: a failed chunk is retried whole by the next replay.
    result.lines_read += len(fresh)
    result.applied_elsewhere += len(chunk) - len(fresh)
    result.ingested += staged.ingested
    result.duplicates += staged.duplicates
    result.problems.extend(staged.problems)
    result.inserted.extend(staged.inserted)


def _cursor_in(conn: Connection, source: str) -> int:
    row = conn.execute(
        "SELECT cursor_value FROM source_cursors WHERE source = ?", (source,)
    ).fetchone()
    return int(row[0]) if row is not None else 0


def _apply_line(conn: Connection, line: spool.SpoolLine, out: SpoolReplayResult) -> None:
    record = line.record
    where = f"{line.path.name}:{line.number}"
    if record is None:
        out.problems.append(f"{where}: {line.problem}")
        return
    try:
        _apply_op(conn, record, where, out)
    except Exception as exc:
        if is_store_failure(exc):
            raise
        # A JSON object of the wrong shape (missing fields, wrong types, a violated
        # constraint): report it and go on, or every later replay would stop at this line.
        out.problems.append(f"{where}: cannot apply: {type(exc).__name__}: {exc}")


def _apply_op(
    conn: Connection, record: Mapping[str, Any], where: str, out: SpoolReplayResult
) -> None:
    op = record.get("op")
    if op == "insert":
        _apply_insert(conn, record, where, out)
    elif op == "event_insert":
        _apply_event_insert(conn, record["data"], out)
    elif op == "event_mark":
        data = record["data"]
        conn.execute(
            "UPDATE events SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
            (data["status"], data["reason"], data["updated_at"], record["id"]),
        )
        out.ingested += 1
    elif op == "cursor_upsert":
        _upsert_cursor(conn, record["data"])
        out.ingested += 1
    else:
        out.problems.append(f"{where}: unknown op {op!r}")


def _apply_insert(
    conn: Connection, record: Mapping[str, Any], where: str, out: SpoolReplayResult
) -> None:
    table, row_json, row_id = record.get("table"), record.get("row_json"), record.get("id")
    if table not in JSON_TABLES or not isinstance(row_json, str):
        out.problems.append(f"{where}: not a JSON-row insert (table {table!r})")
        return
    if row_id is None:
        new_id = _fresh_id(conn, table)
        conn.execute(f"INSERT INTO {table} (id, row_json) VALUES (?, ?)", (new_id, row_json))
        out.inserted.append((table, new_id))
        out.ingested += 1
        return
    # The id was reserved before the write failed, so no one else holds it; OR IGNORE makes
    # a row that did land (or was replayed before) a counted duplicate, not an error.
    cursor = conn.execute(
        f"INSERT OR IGNORE INTO {table} (id, row_json) VALUES (?, ?)", (row_id, row_json)
    )
    if cursor.rowcount == 1:
        out.inserted.append((table, int(row_id)))
        out.ingested += 1
    else:
        out.duplicates += 1


def _fresh_id(conn: Connection, table: str) -> int:
    """An id no allocator has handed out or will hand out, recorded in ``ids``.

    Above the ``ids`` counter (so no ``row`` reservation or ``block`` lease, spent or not,
    can collide with it later) and above the table's largest id (so it misses rows written
    with engine-assigned ids).
    """
    row = conn.execute(
        f"INSERT INTO ids (name, id) SELECT ?, coalesce(max(id), 0) + 1 FROM {table} WHERE true "
        "ON CONFLICT(name) DO UPDATE SET id = max(id + 1, excluded.id) RETURNING id",
        (table,),
    ).fetchone()
    return int(row[0])


def _apply_event_insert(conn: Connection, data: Mapping[str, Any], out: SpoolReplayResult) -> None:
    conn.execute(
        "INSERT INTO events (ts_utc, kind, payload_json, status, updated_at) "
        "VALUES (?, ?, ?, 'pending', ?)",
        (data["ts_utc"], data["kind"], data["payload_json"], data["ts_utc"]),
    )
    out.ingested += 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
