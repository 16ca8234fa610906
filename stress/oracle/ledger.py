"""The write ledger: every write a user handed the store, and what became of it.

One file per user under ``<run>/ledger/``, fixed-size binary records appended through a
memory map: a record is a memory copy (no system call on the hot path), and it survives the
process being killed with SIGKILL, because the kernel owns the mapped pages. Before each
write op a user appends an *intent* (op index, table, row count); after it, one record per
row with the row's id and an 8-byte digest of the exact JSON the store acknowledged. An intent
with no rows after it is the op that was in flight when its process died: ``indeterminate``.

The file's blocks are reserved (``posix_fallocate``) before a window is mapped: a page of a
mapping past what the file system could store is not an error but a SIGBUS at the first
write to it, which kills the process and loses everything. A reservation that does not fit
raises ``OSError`` (``ENOSPC``) instead. An intent reserves room for itself and every row
record its op will add, so once an op is handed to the store its outcome can always be
written: on a full disk the op is refused before the store sees it, never half recorded.
"""

from __future__ import annotations

import errno
import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from stress.metadb import JSON_TABLES, BatchOutcome, WriteOutcome

__all__ = [
    "LedgerEntry",
    "LedgerWriter",
    "iter_ledger_chunks",
    "ledger_path",
    "read_ledger",
    "row_digest",
    "seed_ledger_path",
]

# status (u8), table index (u8), op index (u32), id (i64, -1 = none), digest (u64)
_RECORD = struct.Struct("<BBIqQ")
_SIZE = _RECORD.size
_PACK_INTO = _RECORD.pack_into
_XXH3_64 = xxhash.xxh3_64_intdigest
#: The mapped window: 22 x 4096 x 16 bytes, a whole number of records and of 4 KiB pages.
_WINDOW = _RECORD.size * 4096 * 16

INTENT, PERSISTED, SPOOLED, FAILED = 1, 2, 3, 4
_STATUS = {"persisted": PERSISTED, "spooled": SPOOLED, "failed": FAILED}
STATUS_NAMES = {INTENT: "intent", PERSISTED: "persisted", SPOOLED: "spooled", FAILED: "failed"}
_TABLE_INDEX = {table: index for index, table in enumerate(JSON_TABLES)}


def ledger_path(folder: Path, user_id: int) -> Path:
    """The ledger file of user ``user_id``."""
    return folder / f"user-{user_id}.bin"


def seed_ledger_path(folder: Path, database_idx: int) -> Path:
    """The ledger of the rows a run seeds database ``database_idx`` with."""
    return folder / f"seed-db-{database_idx}.bin"


def row_digest(row_json: str) -> int:
    """XXH3-64 of the row's JSON text: detects any accidental change, at ~40 ns a row."""
    return int(xxhash.xxh3_64_intdigest(row_json.encode()))


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    status: str
    table: str
    op_index: int
    #: Row id for row records (None when the engine would have assigned it); row count for
    #: intents.
    id: int | None
    #: Content digest for row records; the stream position before the op for intents.
    digest: int


class LedgerWriter:
    """Appends records to one user's ledger file through a memory-mapped window.

    Only the window being written is mapped (1.4 MB): a mapping of the whole file would keep
    every page written so far resident, and a million-op run would carry its whole ledger in
    memory. The window is a whole number of records and of pages, so no record straddles two.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._offset = _end_offset(path)
        self._window_start = 0
        self._window_end = 0
        #: Bytes of the file whose blocks are reserved (a whole number of windows).
        self._reserved = 0
        self._map: mmap.mmap | None = None

    def reserve(self, records: int) -> None:
        """Make sure the next ``records`` records have blocks on disk; ``OSError`` if not."""
        self._reserve_to(self._offset + records * _RECORD.size)

    def _reserve_to(self, end: int) -> None:
        # Whole windows at a time: one system call per 1.4 MB of ledger.
        if end <= self._reserved:
            return
        target = -(-end // _WINDOW) * _WINDOW
        try:
            os.posix_fallocate(self._fd, self._reserved, target - self._reserved)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise OSError(
                exc.errno or errno.EIO,
                f"no room for the ledger {self.path}: reserving "
                f"{target - self._reserved:,} bytes failed: {reason}",
            ) from exc
        self._reserved = target

    def _map_window(self) -> mmap.mmap:
        """Map the window holding the next record, and return it."""
        start = self._offset - self._offset % _WINDOW
        if self._map is not None:
            self._map.close()
            self._map = None
        self._reserve_to(start + _WINDOW)
        self._map = window = mmap.mmap(self._fd, _WINDOW, offset=start)
        self._window_start, self._window_end = start, start + _WINDOW
        return window

    def _append(self, status: int, table: str, op_index: int, row_id: int, digest: int) -> None:
        window = self._map
        if self._offset >= self._window_end or window is None:
            window = self._map_window()
        at = self._offset - self._window_start
        # The status byte goes in last: a kill between the two leaves status 0, which readers
        # take as the end of the ledger, never as a torn record.
        _PACK_INTO(window, at, 0, _TABLE_INDEX[table], op_index, row_id, digest)
        window[at] = status
        self._offset += _SIZE

    def intent(self, op_index: int, table: str, count: int, draws_at: int) -> None:
        """Before a write op: ``count`` rows of ``table`` are about to be handed over.

        ``draws_at`` is the user's stream position before the op was drawn, so the oracle can
        regenerate exactly this op if it turns out to have been in flight at a kill.
        Raises ``OSError`` (nothing written) when the disk has no room for the intent and
        its ``count`` row records.
        """
        offset = self._offset
        if offset + (1 + count) * _SIZE > self._reserved:  # reserve(), inlined: every write op
            self._reserve_to(offset + (1 + count) * _SIZE)
        # _append(), inlined: this and landed() run for every single insert.
        window = self._map
        if offset >= self._window_end or window is None:
            window = self._map_window()
        at = offset - self._window_start
        _PACK_INTO(window, at, 0, _TABLE_INDEX[table], op_index, count, draws_at)
        window[at] = INTENT
        self._offset = offset + _SIZE

    def outcome(
        self,
        op_index: int,
        table: str,
        status: str,
        ids: tuple[int, ...],
        row_jsons: tuple[str, ...],
    ) -> None:
        """After a write op: one record per row, with its id (if known) and content digest."""
        code = _STATUS[status]
        for position, row_json in enumerate(row_jsons):
            row_id = ids[position] if position < len(ids) else -1
            self._append(code, table, op_index, row_id, row_digest(row_json))

    def landed(self, op_index: int, answer: WriteOutcome) -> None:
        """:meth:`outcome_of` for a single row the store persisted (the commonest answer):
        its record, with no look at the answer's kind or status."""
        offset = self._offset
        window = self._map
        if offset >= self._window_end or window is None:
            window = self._map_window()
        at = offset - self._window_start
        _PACK_INTO(
            window,
            at,
            0,
            _TABLE_INDEX[answer.table],
            op_index,
            answer.id,
            _XXH3_64(answer.row_json.encode()),  # type: ignore[union-attr]  # persisted: set
        )
        window[at] = PERSISTED
        self._offset = offset + _SIZE

    def outcome_of(self, op_index: int, answer: WriteOutcome | BatchOutcome) -> None:
        """After a write op: the store's answer, one record per row (a single row that
        landed, the commonest answer, is :meth:`landed`'s)."""
        if isinstance(answer, WriteOutcome):
            if answer.row_json is not None:
                row_id = -1 if answer.id is None else answer.id
                digest = row_digest(answer.row_json)
                self._append(_STATUS[answer.status], answer.table, op_index, row_id, digest)
            return
        self.outcome(op_index, answer.table, answer.status, answer.ids, answer.row_jsons)

    def close(self) -> None:
        if self._map is not None:
            self._map.flush()
            self._map.close()
            self._map = None
        os.ftruncate(self._fd, self._offset)  # drop the unused tail of the last chunk
        os.close(self._fd)


def _end_offset(path: Path) -> int:
    """Where appending resumes: after the last record (a restarted worker continues a file)."""
    if not path.exists() or path.stat().st_size < _RECORD.size:
        return 0
    count = 0
    for records in iter_ledger_chunks(path):
        count += len(records)
    return count * _RECORD.size


#: The record layout as a numpy dtype (packed, like the struct), for reading whole ledgers.
LEDGER_DTYPE = np.dtype(
    [("status", "u1"), ("table", "u1"), ("op", "<u4"), ("id", "<i8"), ("digest", "<u8")]
)


def iter_ledger_chunks(path: Path, chunk: int = 262_144) -> Iterator[np.ndarray[Any, Any]]:
    """The ledger's records as arrays of at most ``chunk`` records (5.8 MB), in order.

    Reading stops at the first record whose status is 0: the unused tail of the mapped
    window, or a record a kill interrupted before its status byte went in.
    """
    with path.open("rb") as handle:
        while True:
            records = np.fromfile(handle, dtype=LEDGER_DTYPE, count=chunk)
            ends = np.flatnonzero(records["status"] == 0)
            if ends.size:
                if ends[0]:
                    yield records[: ends[0]]
                return
            if not len(records):
                return
            yield records


def read_ledger(path: Path) -> Iterator[LedgerEntry]:
    """Every record of a ledger file, in order (stops at the unused tail)."""
    for records in iter_ledger_chunks(path):
        for status, table, op_index, row_id, digest in records.tolist():
            yield LedgerEntry(
                STATUS_NAMES[status],
                JSON_TABLES[table],
                op_index,
                None if row_id < 0 else row_id,
                digest,
            )
