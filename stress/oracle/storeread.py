"""What the oracle reads of a store: every table's (ids, digests), then its integrity.

In the oracle's own process for sqlite. For turso's experimental multi-process WAL, in a
child process the oracle can kill: pyturso 0.8.3 has hung for ever opening a file that mode
left behind, and panicked in its I/O thread reading one ("read bytes does not match expected
buffer length"), after which closing the connection never returned. A verdict that never
comes, or a process that dies before giving it, is the worst answer the oracle can give; a
child that makes no progress for :data:`STALL_S` is killed, one that dies is named, and the
file is reported unreadable with the reason, after the rows it did show are checked.

The child writes each chunk to its own file as it goes (renamed into place when whole), its
integrity verdict or the engine's error, and last a ``done`` mark: only then may closing
the connection hang without harm. Run as
``python -m stress.oracle.storeread PATH HOME WORK FLAGGED`` (FLAGGED: 1 or 0).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stress.metadb import JSON_TABLES, MetaDb, MetaDbError, StoreOptions
from stress.oracle.ledger import row_digest

__all__ = [
    "QUICK_CHECK_BYTES",
    "STALL_S",
    "ChildRead",
    "Chunk",
    "DisorderedRead",
    "integrity",
    "read_in_child",
    "store_chunks",
]

#: Past this file size the full integrity check (which reads every index) gives way to
#: quick_check, so verifying a long soak does not take longer than the soak.
QUICK_CHECK_BYTES = 256 * 2**20
#: Store rows read per query while verifying, so memory does not grow with the table.
_CHUNK_ROWS = 5_000
#: A child that writes nothing for this long is taken for hung. A chunk is 5,000 rows (tens
#: of milliseconds); the integrity check of a large file is the longest step.
STALL_S = 120.0
_POLL_S = 0.02
#: The most of a panic message a verdict quotes.
_PANIC_CHARS = 240

#: (table, ids, digests): one chunk of a table's rows, in id order.
Chunk = tuple[str, np.ndarray[Any, Any], list[int]]


class DisorderedRead(Exception):
    """The engine answered ``ORDER BY id`` out of order: the file reads inconsistently."""


def store_chunks(store: MetaDb, table: str) -> Iterator[tuple[np.ndarray[Any, Any], list[int]]]:
    """The table's (ids, digests) in id order, a chunk at a time (memory stays flat).

    Raises :class:`DisorderedRead` when a chunk is not in strictly rising id order past the
    last: a damaged turso file once answered so, and reading on from its last id went round
    the same rows for ever.
    """
    after = -(2**62)
    sql = f"SELECT id, row_json FROM {table} WHERE id > ? ORDER BY id LIMIT {_CHUNK_ROWS}"
    while True:
        rows = store.query(sql, (after,)).rows
        if not rows:
            return
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        if ids[0] <= after or (len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1]))):
            raise DisorderedRead(
                f"{table}: the engine returned ids out of order past id {after} "
                f"({', '.join(str(i) for i in ids[:4].tolist())}, ...)"
            )
        yield ids, [row_digest(str(row[1])) for row in rows]
        after = int(ids[-1])


def integrity(store: MetaDb, path: Path) -> str:
    """``ok``, the engine's first five problems, or ``unreadable: <why>``."""
    quick = path.exists() and path.stat().st_size > QUICK_CHECK_BYTES
    try:
        problems = store.integrity_check(quick=quick)
    except MetaDbError as error:
        return f"unreadable: {error}"
    return "ok" if problems == ["ok"] else "; ".join(problems[:5])


@dataclass(frozen=True)
class ChildRead:
    """What a child read of one store showed."""

    work: Path
    #: Why the read stopped short (the engine's error, a hang, a death); None: it finished.
    error: str | None
    #: The integrity verdict, when the read finished.
    integrity: str | None

    def state(self) -> str:
        """The integrity verdict of a read that finished (``error`` is None)."""
        if self.integrity is None:
            raise ValueError(f"the read stopped short: {self.error}")
        return self.integrity

    def chunks(self) -> Iterator[Chunk]:
        """The chunks the child wrote whole, in the order it read them."""
        for path in sorted(self.work.glob("[0-9]*.npy")):
            table = path.stem.split("-", 1)[1]
            ids, digests = np.load(path)
            yield table, ids, digests.view(np.uint64).tolist()


def read_in_child(
    path: Path, home: Path, options: StoreOptions, work: Path, stall_s: float | None = None
) -> ChildRead:
    """Read the turso store at ``path`` in a child process (see the module's note), opened
    as ``options`` say (only their engine and multi-process WAL flag cross, read-only);
    ``work`` is an empty folder for what it writes."""
    stall_s = STALL_S if stall_s is None else stall_s
    flagged = "1" if options.multiprocess_wal else "0"
    command = [sys.executable, "-m", __name__, str(path), str(home), str(work), flagged]
    with (work / "stderr.txt").open("wb") as stderr:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        hung = _wait_while_progressing(child, work, stall_s)
    done = (work / "done").exists()
    error = _text(work / "error.txt")
    if not done and error is None:
        if hung:
            error = f"turso made no progress reading the file for {stall_s:g} s (hung; killed)"
        else:
            error = f"turso died reading the file ({_how_it_ended(child.returncode)})"
        error += _panic(work / "stderr.txt")
    return ChildRead(work, error, _text(work / "integrity.txt"))


def _panic(stderr: Path) -> str:
    """``: <the engine's panic message>`` when the child's stderr has one, else nothing."""
    lines = stderr.read_text(errors="replace").splitlines() if stderr.exists() else []
    for at, line in enumerate(lines):
        if " panicked at " in line:
            message = lines[at + 1].strip() if at + 1 < len(lines) else ""
            where = line.split(" panicked at ", 1)[1].rstrip(":")
            return f": panicked at {where}: {message}"[:_PANIC_CHARS]
    return ""


def _wait_while_progressing(child: subprocess.Popen[bytes], work: Path, stall_s: float) -> bool:
    """Wait for ``child`` to end; kill it once it wrote nothing for ``stall_s``, or once it
    is done but stuck closing. True when it was killed for a hang."""
    last, seen = time.monotonic(), 0
    while child.poll() is None:
        files = len(os.listdir(work))
        if files != seen:
            last, seen = time.monotonic(), files
        if (work / "done").exists() or time.monotonic() - last > stall_s:
            child.kill()
            child.wait()
            return not (work / "done").exists()
        time.sleep(_POLL_S)
    return False


def _how_it_ended(returncode: int) -> str:
    if returncode < 0:
        return signal.Signals(-returncode).name
    return f"exit status {returncode}"


def _text(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: the parent may read the folder at any moment."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


def _child(path: Path, home: Path, work: Path, flagged: bool) -> None:
    options = StoreOptions(engine="turso", read_only=True, multiprocess_wal=flagged)
    store = MetaDb(path, home, options)
    count = 0
    try:
        for table in JSON_TABLES:
            for ids, digests in store_chunks(store, table):
                pair = np.stack((ids, np.array(digests, dtype=np.uint64).view(np.int64)))
                packed = io.BytesIO()
                np.save(packed, pair)
                _write(work / f"{count:08d}-{table}.npy", packed.getvalue())
                count += 1
        _write(work / "integrity.txt", integrity(store, path).encode())
    except (MetaDbError, DisorderedRead) as error:
        _write(work / "error.txt", str(error).encode())
    _write(work / "done", b"")
    store.close()  # may hang in the engine: the parent has all it needs, and kills it


if __name__ == "__main__":
    _child(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "1")
