"""The invariants checked at every epoch boundary, each on the real databases.

Each check returns an :class:`InvariantResult`: its name, whether it held, the measured value
and a line saying what was seen. They run while the users go on (none needs them paused):
each reads what is committed, or takes its own write transaction as any writer would.

- ``no_loss``: every row acknowledged during the epoch is in the store (or its spool)
  (:mod:`stress.oracle.incremental`);
- ``quick_check``: ``PRAGMA quick_check`` of every database;
- ``retention``: raw ticks + rolled-up counts = ticks written (the retention database);
- ``wal_checkpoint``: the WAL's backlog comes back near zero (:mod:`stress.soak.wal_check`);
- ``events_pending``: no event stays ``pending`` longer than the bound;
- ``spool_exactly_once``: a spool replay leaves every replayed line's row in the store with
  its content, and no line it could not apply (:mod:`stress.soak.spool_check`);
- ``recovery``: after each fault, every user it touched lands a write again in time
  (:mod:`stress.soak.recovery`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from stress.artifacts import DatabasePlace
from stress.metadb import (
    MetaDb,
    MetaDbError,
    StoreOptions,
)
from stress.oracle.incremental import IncrementalOracle
from stress.oracle.verify import DatabaseLedger

__all__ = [
    "INVARIANTS",
    "InvariantResult",
    "check_events_pending",
    "check_no_loss",
    "check_quick",
    "check_retention",
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


@dataclass(frozen=True)
class InvariantResult:
    name: str
    ok: bool
    #: The measured figure (missing rows, MB, s ...), or None when it has none.
    value: float | None
    detail: str
    #: The table the failure is about, when there is one (for the failure's signature).
    table: str | None = None
    #: How long the check took at its boundary, s (None: not timed).
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        found = {"name": self.name, "ok": self.ok, "value": self.value, "detail": self.detail}
        if self.seconds is not None:
            found["s"] = round(self.seconds, 3)
        return found


def _read_only(place: DatabasePlace) -> MetaDb:
    # One connection for the handle's few queries: a per-op open costs more than they do.
    return MetaDb(place.path, place.home, StoreOptions(read_only=True, connection="long-lived"))


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
