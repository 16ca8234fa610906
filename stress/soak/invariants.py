"""The invariants checked at every epoch boundary, each on the real databases.

Each check returns an :class:`InvariantResult`: its name, whether it held, the measured value
and a line saying what was seen. They run while the users go on (none needs them paused):
each reads what is committed, or takes its own write transaction as any writer would.

- ``no_loss``: every row acknowledged during the epoch is in the store (or its spool)
  (:mod:`stress.oracle.incremental`);
- ``quick_check``: ``PRAGMA quick_check`` of every database;
- ``retention``: raw ticks + rolled-up counts = ticks written (the retention database);
- ``wal_checkpoint``: right after a TRUNCATE checkpoint, the WAL is back near its baseline;
- ``events_pending``: no event stays ``pending`` longer than the bound;
- ``spool_exactly_once``: a spool replay leaves every replayed line's row in the store with
  its content, and no line it could not apply;
- ``recovery``: after each fault, every user it touched completes an op again in time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stress.artifacts import DatabasePlace
from stress.metadb import (
    MetaDb,
    MetaDbError,
    StoreOptions,
    iter_spool_lines,
    replay_spool,
    spool_files,
)
from stress.oracle.incremental import IncrementalOracle
from stress.oracle.ledger import row_digest
from stress.oracle.verify import DatabaseLedger

__all__ = [
    "INVARIANTS",
    "InvariantResult",
    "RecoveryTracker",
    "check_events_pending",
    "check_no_loss",
    "check_quick",
    "check_retention",
    "check_spool_exactly_once",
    "check_wal_checkpoint",
]

#: Every invariant, in the order they are checked (and reported).
INVARIANTS = (
    "no_loss",
    "quick_check",
    "retention",
    "wal_checkpoint",
    "events_pending",
    "spool_exactly_once",
    "recovery",
)
_MB = 2**20
#: How long a checkpoint keeps trying while a writer (a lock fault) holds the database, s.
CHECKPOINT_PATIENCE_S = 30.0


@dataclass(frozen=True)
class InvariantResult:
    name: str
    ok: bool
    #: The measured figure (missing rows, MB, s ...), or None when it has none.
    value: float | None
    detail: str
    #: The table the failure is about, when there is one (for the failure's signature).
    table: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "value": self.value, "detail": self.detail}


def _read_only(place: DatabasePlace) -> MetaDb:
    return MetaDb(place.path, place.home, StoreOptions(read_only=True))


def check_no_loss(
    oracle: IncrementalOracle, databases: Iterable[DatabaseLedger]
) -> InvariantResult:
    verdict = oracle.check(databases)
    detail = f"{verdict.checked} acknowledged rows checked, {verdict.missing} missing"
    if verdict.examples:
        detail += f" (e.g. {verdict.examples[0]})"
    table = verdict.examples[0].split(": ")[1].split(" ")[0] if verdict.examples else None
    return InvariantResult("no_loss", verdict.ok, float(verdict.missing), detail, table)


def check_quick(places: Iterable[DatabasePlace]) -> InvariantResult:
    bad = []
    for place in places:
        try:
            with _read_only(place) as store:
                answer = store.integrity_check(quick=True)
        except MetaDbError as error:
            answer = [f"unreadable: {error}"]
        if answer != ["ok"]:
            bad.append(f"db-{place.index}: {'; '.join(answer[:3])}")
    detail = "ok" if not bad else bad[0]
    return InvariantResult("quick_check", not bad, float(len(bad)), detail)


def check_retention(store: MetaDb, written: int) -> InvariantResult:
    """Raw ticks + their rolled-up counts must equal the ticks written."""
    raw = int(store.query("SELECT count(*) FROM ticks").rows[0][0])
    rolled = int(store.query("SELECT coalesce(sum(count), 0) FROM tick_rollups").rows[0][0])
    ok = raw + rolled == written
    detail = f"{raw} raw + {rolled} rolled up = {raw + rolled}; {written} written"
    return InvariantResult("retention", ok, float(raw + rolled - written), detail, "ticks")


def check_wal_checkpoint(
    places: Iterable[DatabasePlace],
    baseline_mb: Mapping[int, float],
    bound_mb: float,
    patience_s: float = CHECKPOINT_PATIENCE_S,
    sleep: Callable[[float], None] = time.sleep,
) -> InvariantResult:
    """TRUNCATE-checkpoint each database; its WAL right after must be near its baseline.

    A checkpoint a writer keeps busy (a lock fault holds the database for seconds) is tried
    again until ``patience_s``; one still busy then is a failure.
    """
    worst, detail = 0.0, "every WAL back to its baseline"
    for place in places:
        above, busy = _checkpointed_wal_mb(place, patience_s, sleep)
        above -= baseline_mb.get(place.index, 0.0)
        if busy:
            return InvariantResult(
                "wal_checkpoint",
                False,
                above,
                f"db-{place.index}: checkpoint still busy after {patience_s:.0f} s",
            )
        if above > worst:
            worst = above
            detail = f"db-{place.index}: WAL {above:.2f} MB above baseline after checkpoint"
    return InvariantResult("wal_checkpoint", worst <= bound_mb, round(worst, 3), detail)


def _checkpointed_wal_mb(
    place: DatabasePlace, patience_s: float, sleep: Callable[[float], None]
) -> tuple[float, bool]:
    deadline = time.monotonic() + patience_s
    with MetaDb(place.path, place.home, StoreOptions(busy_timeout_ms=2000)) as store:
        while True:
            try:
                result = store.checkpoint("TRUNCATE")
            except MetaDbError:
                result = None
            if result is not None and not result.busy:
                wal = place.path.with_name(place.path.name + "-wal")
                return (wal.stat().st_size / _MB if wal.exists() else 0.0), False
            if time.monotonic() >= deadline:
                return 0.0, True
            sleep(0.5)


def check_events_pending(
    places: Iterable[DatabasePlace], bound_s: float, now: datetime | None = None
) -> InvariantResult:
    """No event may still be ``pending`` ``bound_s`` after it was inserted."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    cutoff = (moment - timedelta(seconds=bound_s)).isoformat(timespec="microseconds")
    oldest_s, stuck, where = 0.0, 0, ""
    for place in places:
        with _read_only(place) as store:
            count, first = store.query(
                "SELECT count(*), min(ts_utc) FROM events WHERE status = 'pending' AND ts_utc < ?",
                (cutoff,),
            ).rows[0]
        if count:
            age = (moment - datetime.fromisoformat(str(first))).total_seconds()
            if age > oldest_s:
                oldest_s, where = age, f"db-{place.index}"
            stuck += int(count)
    ok = stuck == 0
    detail = (
        f"no event pending longer than {bound_s:.0f} s"
        if ok
        else f"{stuck} event(s) pending past {bound_s:.0f} s, oldest {oldest_s:.0f} s ({where})"
    )
    return InvariantResult("events_pending", ok, round(oldest_s, 1), detail, "events")


def check_spool_exactly_once(places: Iterable[DatabasePlace]) -> InvariantResult:
    """Replay every spool; each line it has applied must have its row, with its content."""
    lines = problems = 0
    first = ""
    for place in places:
        with MetaDb(place.path, place.home) as store:
            result = replay_spool(store)
            for problem in result.problems:
                problems += 1
                first = first or f"db-{place.index}: {problem}"
            checked, bad = _applied_lines_present(store, place.home)
        lines += checked
        if bad:
            problems += len(bad)
            first = first or f"db-{place.index}: {bad[0]}"
    detail = f"{lines} replayed spool lines present once" if not problems else first
    return InvariantResult("spool_exactly_once", problems == 0, float(problems), detail)


def _applied_lines_present(store: MetaDb, home: Path) -> tuple[int, list[str]]:
    """Spool insert lines up to each file's cursor: (lines checked, problems)."""
    checked, bad = 0, []
    for path in spool_files(home):
        done = int(store.source_cursor(f"spool:{path.name}") or 0)
        for line in iter_spool_lines(path):
            if line.number > done:
                break
            record = line.record or {}
            if record.get("op") != "insert" or not isinstance(record.get("id"), int):
                continue
            table, row_id, row_json = record["table"], record["id"], str(record.get("row_json"))
            rows = store.query(f"SELECT row_json FROM {table} WHERE id = ?", (row_id,)).rows
            checked += 1
            if not rows or row_digest(str(rows[0][0])) != row_digest(row_json):
                bad.append(f"{path.name}:{line.number}: {table} id {row_id} not re-ingested")
    return checked, bad


@dataclass
class _Pending:
    kind: str
    t_s: float
    users: frozenset[int]
    start: dict[int, int]


@dataclass
class RecoveryTracker:
    """Seconds from each fault until every user it touched completes an op again.

    Fed the injector's events (``t_s, kind, worker_idx, database_idx``) and the users'
    committed positions at each look; a kill touches its worker's users, a lock the users of
    its database.
    """

    users_of_worker: Mapping[int, frozenset[int]]
    users_of_database: Mapping[int, frozenset[int]]
    seen: int = 0
    pending: list[_Pending] = field(default_factory=list)
    #: (kind, seconds to recover) of every fault recovered from.
    recovered: list[tuple[str, float]] = field(default_factory=list)

    def observe(
        self, now_s: float, events: list[Mapping[str, Any]], positions: Mapping[int, int]
    ) -> None:
        for event in events[self.seen :]:
            if event["kind"] == "kill":
                users = self.users_of_worker.get(event["worker_idx"], frozenset())
            else:
                users = self.users_of_database.get(event["database_idx"], frozenset())
            start = {user: positions.get(user, 0) for user in users}
            self.pending.append(_Pending(event["kind"], float(event["t_s"]), users, start))
        self.seen = len(events)
        for fault in list(self.pending):
            if all(positions.get(u, 0) > fault.start[u] for u in fault.users):
                self.recovered.append((fault.kind, max(now_s - fault.t_s, 0.0)))
                self.pending.remove(fault)

    def check(self, now_s: float, bound_s: float) -> InvariantResult:
        late = [now_s - fault.t_s for fault in self.pending if now_s - fault.t_s > bound_s]
        worst = max([s for _, s in self.recovered] + late, default=0.0)
        ok = not late and worst <= bound_s
        detail = (
            f"{len(self.recovered)} fault(s) recovered, slowest {worst:.1f} s"
            if ok
            else f"a fault not recovered from after {worst:.1f} s (bound {bound_s:.0f} s)"
        )
        return InvariantResult("recovery", ok, round(worst, 2), detail)
