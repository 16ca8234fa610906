"""meta.db's own upkeep, run beside the users for the whole soak, as the real system runs it.

Threads of the coordinator process, one per database, turn after turn: event delivery
(insert ``pending``, later mark ``delivered`` or ``failed``), a passive checkpoint, a spool
replay, and tick retention; and one more thread for snapshot analytics. Retention deletes
raw ticks, which the no-loss oracle would rightly call missing, so it runs on a database of
its own (``soak/retention/meta.db``) whose ticks the first thread writes (old enough to roll
up) and counts: the ``retention`` invariant holds raw + rolled-up = written."""

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
#: Seconds between two snapshot analytics queries (over the databases in turn).
ANALYTICS_S = 2.5
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
    """meta.db's upkeep: one thread per database, as each store has its own delivery worker.

    One thread for all of them would stall every database's delivery behind a lock fault on
    one: each of its writes there waits the busy timeout, and events elsewhere stay pending.
    """

    places: tuple[DatabasePlace, ...]
    retention: RetentionDb
    seed: int
    #: Longest an event is left pending before it is marked, s (the invariant's bound is 30).
    deliver_after_s: float = 2.0
    turns: int = 0
    errors: list[str] = field(default_factory=list)
    _halt: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _count_lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._threads = [
            threading.Thread(
                target=self._run, args=(place,), name=f"stress-soak-upkeep-{place.index}"
            )
            for place in self.places
        ]
        self._threads.append(threading.Thread(target=self._analyse, name="stress-soak-analytics"))
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def stop(self) -> None:
        self._halt.set()
        for thread in self._threads:
            thread.join()

    def _run(self, place: DatabasePlace) -> None:
        key = (2**31, place.index)  # a stream of its own per database, apart from the users'
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))
        turn = 0
        while not self._halt.wait(TURN_S):
            turn += 1
            try:
                self.turn(place, turn, rng, datetime.now(UTC))
            except MetaDbError as error:
                # A store error during upkeep (a lock fault outlasting the busy timeout) is
                # the store's normal weather, not the soak's failure: the invariants judge.
                with self._count_lock:
                    if len(self.errors) < 20:
                        self.errors.append(str(error))

    def turn(
        self, place: DatabasePlace, turn: int, rng: np.random.Generator, now: datetime
    ) -> None:
        """One turn on ``place``; the first database's thread also runs retention."""
        with self._count_lock:
            self.turns += 1
        with MetaDb.open(place.path, place.home) as store:
            self._deliver(store, rng, now, turn)
            if turn % 3 == 0:
                store.checkpoint("PASSIVE")
            if turn % 7 == 0:
                replay_spool(store)
        if place.index == self.places[0].index:
            self.retention.turn(rng, now)

    def _analyse(self) -> None:
        """Snapshot analytics, one database after another, in a thread of their own.

        A report over a grown database takes tens of seconds on a loaded machine; in the
        delivery thread it would leave every event pending behind it.
        """
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(2**31, 2**16)))
        turn = 0
        while not self._halt.wait(ANALYTICS_S):
            place = self.places[turn % len(self.places)]
            turn += 1
            name = list(ANALYTICS)[int(rng.integers(len(ANALYTICS)))]
            try:
                with MetaDb.open(place.path, place.home) as store:
                    store.snapshot_query(ANALYTICS[name].sql)
            except MetaDbError as error:
                with self._count_lock:
                    if len(self.errors) < 20:
                        self.errors.append(str(error))

    def _deliver(self, store: MetaDb, rng: np.random.Generator, now: datetime, turn: int) -> None:
        """Insert one event, then settle every event pending longer than ``deliver_after_s``.

        Pending events are found by a query, as a delivery worker polls: an insert that was
        spooled (a lock fault) and re-ingested later is settled like any other.
        """
        store.insert_event("soak.delivery", {"turn": turn})
        cutoff = (now - timedelta(seconds=self.deliver_after_s)).isoformat(timespec="microseconds")
        due = store.query(
            "SELECT id FROM events WHERE status = 'pending' AND ts_utc < ? LIMIT 200", (cutoff,)
        ).rows
        for (event_id,) in due:
            if rng.random() < 0.9:
                store.mark_event(int(event_id), "delivered")
            else:
                store.mark_event(int(event_id), "failed", "receiver gone")
