"""meta.db's own upkeep, run beside the users for the whole soak, as the real system runs it.

One thread of the coordinator process, turn after turn over the databases: event delivery
(insert ``pending``, later mark ``delivered`` or ``failed``), a passive checkpoint, snapshot
analytics, a spool replay, and tick retention. Retention deletes raw ticks, which the no-loss
oracle would rightly call missing, so it runs on a database of its own
(``soak/retention/meta.db``) whose ticks this thread writes (old enough to roll up) and
counts: the ``retention`` invariant holds raw + rolled-up = written.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from stress.artifacts import DatabasePlace
from stress.metadb import ANALYTICS, MetaDb, MetaDbError, replay_spool

__all__ = ["Maintainer", "RetentionDb"]

#: Seconds between two maintenance turns.
TURN_S = 0.5
#: Ticks written to the retention database per turn.
TICKS_PER_TURN = 20


@dataclass
class RetentionDb:
    """The retention database and the ticks written to it (the invariant's right side)."""

    path: Path
    written: int = 0
    rolled_up: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self) -> MetaDb:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return MetaDb.open(self.path, self.path.parent)

    def turn(self, rng: np.random.Generator, now: datetime) -> None:
        """Write ticks from 0-14 days ago (half are past the 7-day retention), then roll up."""
        rows = []
        for _ in range(TICKS_PER_TURN):
            age = timedelta(seconds=float(rng.uniform(0, 14 * 86400)))
            ts = (now - age).astimezone(UTC).isoformat(timespec="microseconds")
            rows.append(
                {"ts_utc": ts, "source": f"src-{int(rng.integers(4))}", "detail_json": "{}"}
            )
        with self.lock, self.open() as store:
            outcome = store.record_batch("ticks", rows)
            if outcome.status == "persisted":
                self.written += len(rows)
            self.rolled_up += store.apply_retention(now).rolled_up_ticks


@dataclass
class Maintainer:
    places: tuple[DatabasePlace, ...]
    retention: RetentionDb
    seed: int
    #: Longest an event is left pending before it is marked, s (the invariant's bound is 30).
    deliver_after_s: float = 2.0
    turns: int = 0
    errors: list[str] = field(default_factory=list)
    _halt: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stress-soak-upkeep", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(2**31,)))
        while not self._halt.wait(TURN_S):
            try:
                self.turn(rng, datetime.now(UTC))
            except MetaDbError as error:
                # A store error during upkeep (a lock fault outlasting the busy timeout) is
                # the store's normal weather, not the soak's failure: the invariants judge.
                if len(self.errors) < 20:
                    self.errors.append(str(error))

    def turn(self, rng: np.random.Generator, now: datetime) -> None:
        """One turn on one database (round-robin), and a retention pass."""
        place = self.places[self.turns % len(self.places)]
        self.turns += 1
        with MetaDb.open(place.path, place.home) as store:
            self._deliver(store, rng, now)
            if self.turns % 3 == 0:
                store.checkpoint("PASSIVE")
            if self.turns % 5 == 0:
                name = list(ANALYTICS)[int(rng.integers(len(ANALYTICS)))]
                store.snapshot_query(ANALYTICS[name].sql)
            if self.turns % 7 == 0:
                replay_spool(store)
        self.retention.turn(rng, now)

    def _deliver(self, store: MetaDb, rng: np.random.Generator, now: datetime) -> None:
        """Insert one event, then settle every event pending longer than ``deliver_after_s``.

        Pending events are found by a query, as a delivery worker polls: an insert that was
        spooled (a lock fault) and re-ingested later is settled like any other.
        """
        store.insert_event("soak.delivery", {"turn": self.turns})
        cutoff = (now - timedelta(seconds=self.deliver_after_s)).isoformat(timespec="microseconds")
        due = store.query(
            "SELECT id FROM events WHERE status = 'pending' AND ts_utc < ? LIMIT 200", (cutoff,)
        ).rows
        for (event_id,) in due:
            if rng.random() < 0.9:
                store.mark_event(int(event_id), "delivered")
            else:
                store.mark_event(int(event_id), "failed", "receiver gone")
