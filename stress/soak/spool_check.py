"""The ``spool_exactly_once`` invariant, one epoch at a time: only the lines applied since.

At a boundary each database's spool is replayed (as meta.db's own upkeep would), then every
insert line the replay has applied since the last boundary (each file's cursor in
``source_cursors``) must have its row in the store under its id, with the content it was
spooled with. Each file keeps where the last check stopped (line number and byte offset), so
a boundary reads and queries what the epoch spooled, not the whole history, and the rows are
fetched by id in batches, not one query per line.

The replay takes a write transaction like any writer, but with a short busy timeout: under a
lock fault it gives up at once and the lines stay for a later boundary (the cursor has not
moved past them, so none is skipped); the check of the lines already applied goes on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from stress.artifacts import DatabasePlace
from stress.metadb import (
    JSON_TABLES,
    MetaDb,
    MetaDbError,
    StoreOptions,
    replay_spool,
    spool_files,
)
from stress.oracle.ledger import row_digest
from stress.soak.invariants import InvariantResult

__all__ = ["REPLAY_BUSY_MS", "SpoolCheck"]

#: How long the boundary's spool replay waits for the write lock, ms: a lock fault must not
#: hold the boundary (the replay is tried again at the next one).
REPLAY_BUSY_MS = 200
_QUERY_IDS = 500


@dataclass
class _Mark:
    """Lines 1..``line`` of a file are checked; ``offset`` is the byte after them."""

    line: int = 0
    offset: int = 0


@dataclass(frozen=True)
class _Applied:
    """An applied insert line: where it is, and what the store must hold for it."""

    where: str
    table: str
    row_id: int
    digest: int


@dataclass
class SpoolCheck:
    """Remembers, per spool file, how far its applied lines have been checked."""

    marks: dict[Path, _Mark] = field(default_factory=dict)
    #: Lines checked over the whole soak (each once).
    checked_total: int = 0
    #: Per file, its whole lines counted so far (read on from where the count stopped).
    counted: dict[Path, _Mark] = field(default_factory=dict)
    #: Lines waiting for replay after the last check (past each file's cursor).
    backlog: int = 0

    def check(self, places: Iterable[DatabasePlace]) -> InvariantResult:
        checked = problems = 0
        first, deferred = "", []
        self.backlog = 0
        for place in places:
            found, bad, replayed = self._check_place(place)
            checked += found
            problems += len(bad)
            first = first or (f"db-{place.index}: {bad[0]}" if bad else "")
            if not replayed:
                deferred.append(f"db-{place.index}")
        self.checked_total += checked
        detail = first or f"{checked} newly replayed spool lines present once"
        if deferred and not problems:
            detail += f" (replay deferred, busy: {', '.join(deferred)})"
        return InvariantResult("spool_exactly_once", problems == 0, float(problems), detail)

    def _check_place(self, place: DatabasePlace) -> tuple[int, list[str], bool]:
        """(lines checked, problems, whether the replay ran) for one database."""
        options = StoreOptions(busy_timeout_ms=REPLAY_BUSY_MS, connection="long-lived")
        bad: list[str] = []
        with MetaDb(place.path, place.home, options) as store:
            try:
                result = replay_spool(store)
                bad.extend(result.problems)
                replayed = True
            except MetaDbError:
                replayed = False
            applied: list[_Applied] = []
            for path in spool_files(place.home):
                done = int(store.source_cursor(f"spool:{path.name}") or 0)
                applied.extend(self._new(path, done))
                self.backlog += max(self._count(path) - done, 0)
            bad.extend(_absent(store, applied))
        return len(applied), bad, replayed

    def _count(self, path: Path) -> int:
        """Whole lines of ``path`` now, counting only what was appended since the last call."""
        mark = self.counted.setdefault(path, _Mark())
        with path.open("rb") as handle:
            handle.seek(mark.offset)
            tail = handle.read()
        whole = tail.rfind(b"\n") + 1  # a torn last line is not a line yet
        mark.line += tail.count(b"\n", 0, whole)
        mark.offset += whole
        return mark.line

    def _new(self, path: Path, done: int) -> Iterator[_Applied]:
        """The insert lines of ``path`` applied (up to line ``done``) since the last check."""
        mark = self.marks.setdefault(path, _Mark())
        if done <= mark.line:
            return
        with path.open("rb") as handle:
            handle.seek(mark.offset)
            for raw in handle:
                if mark.line >= done or not raw.endswith(b"\n"):
                    break
                mark.line += 1
                mark.offset += len(raw)
                applied = _applied(raw, f"{path.name}:{mark.line}")
                if applied is not None:
                    yield applied


def _applied(raw: bytes, where: str) -> _Applied | None:
    """The insert a spool line asks for, or None for any other line (or a torn one)."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # the replay reported it as a problem already
    if not isinstance(record, dict) or record.get("op") != "insert":
        return None
    if not isinstance(record.get("id"), int):
        return None
    digest = row_digest(str(record.get("row_json")))
    return _Applied(where, str(record["table"]), int(record["id"]), digest)


def _absent(store: MetaDb, applied: list[_Applied]) -> list[str]:
    """The applied lines whose row is not in the store with its content (batched by id)."""
    by_table: dict[str, list[_Applied]] = defaultdict(list)
    for line in applied:
        by_table[line.table].append(line)
    bad = []
    for table, lines in by_table.items():
        if table not in JSON_TABLES:
            bad.append(f"{lines[0].where}: unknown table {table!r}")
            continue
        stored: dict[int, int] = {}
        for start in range(0, len(lines), _QUERY_IDS):
            ids = [line.row_id for line in lines[start : start + _QUERY_IDS]]
            sql = f"SELECT id, row_json FROM {table} WHERE id IN ({','.join('?' * len(ids))})"
            for row_id, row_json in store.query(sql, ids).rows:
                stored[int(row_id)] = row_digest(str(row_json))
        bad.extend(
            f"{line.where}: {table} id {line.row_id} not re-ingested"
            for line in lines
            if stored.get(line.row_id) != line.digest
        )
    return bad
