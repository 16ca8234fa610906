"""The error spool: one JSON line per write that could not be persisted.

Path: ``<home>/logs/meta-db-errors-<YYYY-MM-DD>.jsonl`` (UTC date). Many processes append at
once, so each append is a single ``os.write`` of whole lines on an ``O_APPEND`` descriptor,
under an exclusive ``flock``: ``O_APPEND`` alone keeps writes from overlapping on a local file
system, and the lock keeps that true where the kernel would split a large write.

An append is whole or absent: on a full disk ``os.write`` stores what fits and returns the
short count (or raises ``ENOSPC``), which would leave a torn last line that every later line
is glued to. So the file's size is taken under the lock before the write, and a write that
did not store every byte is cut back to it (still under the lock, so no other appender's
line is lost) before the failure is raised.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "SpoolEntry",
    "SpoolLine",
    "SpoolStats",
    "append_entries",
    "iter_spool_lines",
    "spool_files",
    "spool_path",
    "spool_stats",
]

_PREFIX = "meta-db-errors-"


@dataclass(frozen=True)
class SpoolEntry:
    """One write that could not be persisted.

    ``op`` is ``insert`` for a JSON-row table (``row_json`` holds the exact text the store
    would have stored, ``id`` the reserved id or ``None``), ``event_insert`` / ``event_mark``
    for the events table and ``cursor_upsert`` for a source cursor (``data`` holds the fields).
    """

    table: str
    op: str
    error_class: str
    error: str
    id: int | None = None
    row_json: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self, ts_utc: str, engine: str) -> bytes:
        return orjson.dumps(
            {
                "ts_utc": ts_utc,
                "table": self.table,
                "op": self.op,
                "error_class": self.error_class,
                "error": self.error,
                "id": self.id,
                "row_json": self.row_json,
                "data": self.data,
                "pid": os.getpid(),
                "engine": engine,
            }
        )


@dataclass(frozen=True)
class SpoolLine:
    """A line read back from a spool file: its position, and the object or why it is bad."""

    path: Path
    number: int  # 1-based line number within the file
    record: dict[str, Any] | None
    problem: str | None = None


#: Bytes read at a time, backwards, looking for the end of the last whole line.
_TAIL_READ = 64 * 1024


def spool_path(home: Path, now: datetime | None = None) -> Path:
    """The spool file for ``now``'s UTC date under ``home``."""
    moment = now if now is not None else datetime.now(UTC)
    return home / "logs" / f"{_PREFIX}{moment.astimezone(UTC):%Y-%m-%d}.jsonl"


def append_entries(
    home: Path, entries: Sequence[SpoolEntry], engine: str, now: datetime | None = None
) -> Path:
    """Append ``entries`` as whole lines in one write; raises ``OSError`` if that fails."""
    moment = now if now is not None else datetime.now(UTC)
    ts_utc = moment.astimezone(UTC).isoformat(timespec="microseconds")
    payload = b"".join(entry.to_json(ts_utc, engine) + b"\n" for entry in entries)
    path = spool_path(home, moment)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Read as well as write: a torn last line is looked for, and cut, before appending.
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _append_whole(fd, path, payload)
    finally:
        os.close(fd)  # closing releases the flock
    return path


def _append_whole(fd: int, path: Path, payload: bytes) -> None:
    """Write ``payload`` at the end of ``fd`` (flock held) whole, or leave the file as it was."""
    size_before = _cut_torn_tail(fd, os.fstat(fd).st_size)
    try:
        written = os.write(fd, payload)
    except OSError:
        os.ftruncate(fd, size_before)  # shrinking frees blocks: it needs no room
        raise
    if written != len(payload):
        os.ftruncate(fd, size_before)
        # A short write on a regular file means the disk filled mid-way; say so as ENOSPC.
        raise OSError(
            errno.ENOSPC,
            f"short write to spool {path}: {written} of {len(payload)} bytes (cut back)",
        )


def _cut_torn_tail(fd: int, size: int) -> int:
    """Cut a last line without its newline off ``fd`` (flock held); the size left.

    Only a writer killed mid-``write`` leaves one (a SIGKILL can stop a write to a regular
    file part-way): it never returned, so nothing it carried was acknowledged. Appended
    after, the next whole line would be glued to it and unreadable, and its row lost.
    """
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    end = size
    while end > 0:
        start = max(0, end - _TAIL_READ)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    os.ftruncate(fd, end)
    return end


def spool_files(home: Path) -> list[Path]:
    """Every spool file under ``home``, oldest date first."""
    logs = home / "logs"
    if not logs.is_dir():
        return []
    return sorted(logs.glob(f"{_PREFIX}*.jsonl"))


def iter_spool_lines(path: Path, start_after: int = 0) -> Iterator[SpoolLine]:
    """Lines of ``path`` after line ``start_after``, each parsed or flagged as torn.

    A final line without its newline is reported as torn rather than parsed: its writer may
    still be appending it.
    """
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number <= start_after:
                continue
            if not raw.endswith(b"\n"):
                yield SpoolLine(path, number, None, "incomplete last line")
                return
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield SpoolLine(path, number, None, f"not JSON: {exc}")
                continue
            if not isinstance(record, dict):
                yield SpoolLine(path, number, None, "not a JSON object")
                continue
            yield SpoolLine(path, number, record)


@dataclass
class SpoolStats:
    """Lines of a spool home, counted by table and by error class."""

    files: int = 0
    lines: int = 0
    by_table: dict[str, int] = field(default_factory=dict)
    by_error_class: dict[str, int] = field(default_factory=dict)
    #: ``file:line: problem`` for lines that are not whole JSON objects.
    problems: list[str] = field(default_factory=list)


def spool_stats(home: Path) -> SpoolStats:
    """Count every spool line under ``home``."""
    stats = SpoolStats()
    for path in spool_files(home):
        stats.files += 1
        for line in iter_spool_lines(path):
            if line.record is None:
                stats.problems.append(f"{path.name}:{line.number}: {line.problem}")
                continue
            stats.lines += 1
            table = str(line.record.get("table"))
            error_class = str(line.record.get("error_class"))
            stats.by_table[table] = stats.by_table.get(table, 0) + 1
            stats.by_error_class[error_class] = stats.by_error_class.get(error_class, 0) + 1
    return stats
