"""Each boundary invariant on real databases: it holds, and it fails when broken on purpose."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from stress.artifacts import DatabasePlace
from stress.metadb import MetaDb, StoreOptions
from stress.metadb.spool import SpoolEntry, append_entries
from stress.oracle.incremental import IncrementalOracle
from stress.oracle.ledger import LedgerWriter, ledger_path
from stress.oracle.verify import DatabaseLedger
from stress.soak.invariants import (
    check_events_pending,
    check_no_loss,
    check_quick,
    check_retention,
)
from stress.soak.maintainer import Maintainer, RetentionDb
from stress.soak.recovery import RecoveryTracker
from stress.soak.spool_check import SpoolCheck
from stress.soak.wal_check import WalCheck

TICK = {"ts_utc": "2026-11-21T10:00:00+00:00", "source": "s", "detail_json": "{}"}


def _place(tmp_path: Path) -> DatabasePlace:
    home = tmp_path / "db-0"
    home.mkdir()
    with MetaDb.open(home / "meta.db", home):
        pass
    return DatabasePlace(0, home / "meta.db", home)


def _write(place: DatabasePlace, ledger: LedgerWriter, op: int, rows: int) -> tuple[int, ...]:
    with MetaDb.open(place.path, place.home) as store:
        ledger.intent(op, "ticks", rows, 0)
        done = store.record_batch("ticks", [dict(TICK, source=f"s{op}-{i}") for i in range(rows)])
        ledger.outcome_of(op, done)
    return done.ids


def test_no_loss_checks_only_what_the_epoch_wrote_and_catches_a_lost_row(tmp_path: Path) -> None:
    place = _place(tmp_path)
    path = ledger_path(tmp_path / "ledger", 0)
    path.parent.mkdir()
    ledger = LedgerWriter(path)
    databases = [DatabaseLedger(0, place.path, place.home, (path,))]
    oracle = IncrementalOracle()
    _write(place, ledger, 0, 5)
    first = check_no_loss(oracle, databases)
    assert first.ok and "5 acknowledged rows checked" in first.detail
    ids = _write(place, ledger, 1, 3)
    with MetaDb.open(place.path, place.home) as store, store.transaction() as conn:
        conn.execute("DELETE FROM ticks WHERE id = ?", (ids[1],))  # lost behind the store's back
    second = check_no_loss(oracle, databases)
    assert not second.ok and second.value == 1 and "3 acknowledged rows checked" in second.detail
    assert second.table == "ticks"
    ledger.close()


def test_quick_check_fails_on_a_corrupt_file(tmp_path: Path) -> None:
    place = _place(tmp_path)
    with MetaDb.open(place.path, place.home) as store:
        store.record_batch("ticks", [dict(TICK, detail_json="x" * 500) for _ in range(400)])
        store.checkpoint("TRUNCATE")
    assert check_quick([place]).ok
    data = bytearray(place.path.read_bytes())
    for at in range(4096 * 3, len(data) - 4096, 4096):
        data[at + 100 : at + 300] = b"\xff" * 200  # scribble over every page after the third
    place.path.write_bytes(bytes(data))
    result = check_quick([place])
    assert not result.ok and "db-0" in result.detail


def test_retention_conserves_ticks_and_a_retention_that_forgets_is_caught(tmp_path: Path) -> None:
    retention = RetentionDb(tmp_path / "soak" / "retention" / "meta.db")
    rng = np.random.default_rng(np.random.SeedSequence(3))
    now = datetime(2026, 11, 21, tzinfo=UTC)
    for _ in range(5):
        retention.turn(rng, now)
    assert retention.rolled_up > 0  # something was old enough to roll up
    with retention.open() as store:
        assert check_retention(store, retention.written).ok
        # The defect: old ticks deleted without their rollup.
        with store.transaction() as conn:
            conn.execute("DELETE FROM ticks WHERE id IN (SELECT id FROM ticks LIMIT 3)")
        broken = check_retention(store, retention.written)
    assert not broken.ok and broken.value == -3


def test_the_wal_backlog_may_be_pinned_for_one_boundary_but_not_two(tmp_path: Path) -> None:
    place = _place(tmp_path)
    wal = WalCheck(bound_mb=4.0)
    with MetaDb.open(place.path, place.home) as store:
        store.record_batch("ticks", [dict(TICK, detail_json="y" * 2000) for _ in range(3000)])
    assert wal.check([place]).ok
    reader = MetaDb(place.path, place.home, StoreOptions(connection="long-lived"))
    with reader.connection() as conn:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM ticks").fetchone()  # a snapshot held open
        with MetaDb.open(place.path, place.home) as store:
            store.record_batch("ticks", [dict(TICK, detail_json="z" * 2000) for _ in range(3000)])
        once = wal.check([place])
        assert once.ok and "noted" in once.detail and once.value is not None and once.value > 4
        twice = wal.check([place])  # the defect: a snapshot that is never let go
        conn.execute("ROLLBACK")
    reader.close()
    assert not twice.ok and "two boundaries in a row" in twice.detail
    back = wal.check([place])
    assert back.ok and back.value == 0.0


def test_the_wal_check_does_not_wait_for_a_held_write_lock(tmp_path: Path) -> None:
    place = _place(tmp_path)
    with MetaDb.open(place.path, place.home) as store:
        store.record_batch("ticks", [dict(TICK, detail_json="y" * 2000) for _ in range(500)])
    holder = sqlite3.connect(place.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a lock fault: the write lock held
    try:
        result = WalCheck(bound_mb=4.0).check([place])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # A passive checkpoint needs no write lock: it copied the WAL back all the same.
    assert result.ok and result.value == 0.0


def test_an_event_left_pending_past_the_bound_is_caught(tmp_path: Path) -> None:
    place = _place(tmp_path)
    with MetaDb.open(place.path, place.home) as store:
        event = store.insert_event("k", {})
        assert event.id is not None
        later = datetime.now(UTC) + timedelta(seconds=60)  # an injected "now"
        stuck = check_events_pending([place], 30, later)
        assert not stuck.ok and stuck.value is not None and stuck.value >= 59
        assert check_events_pending([place], 90, later).ok
        store.mark_event(event.id, "delivered")
    assert check_events_pending([place], 30, later).ok


ROW = '{"ts_utc":"2026-11-21T10:00:00+00:00","source":"s","detail_json":"{}"}'


def _spool(place: DatabasePlace, first_id: int, count: int) -> Path:
    entries = [
        SpoolEntry("ticks", "insert", "busy", "locked", id=first_id + i, row_json=ROW)
        for i in range(count)
    ]
    return append_entries(place.home, entries, "sqlite")


def test_the_spool_check_reads_only_new_lines_and_catches_a_skipped_one(tmp_path: Path) -> None:
    place = _place(tmp_path)
    spool = _spool(place, 1000, 3)
    check = SpoolCheck()
    good = check.check([place])
    assert good.ok and "3 newly replayed spool lines" in good.detail
    again = check.check([place])  # nothing new: nothing read again
    assert again.ok and "0 newly replayed" in again.detail
    assert check.marks[spool].line == 3 and check.marks[spool].offset == spool.stat().st_size
    _spool(place, 2000, 1)
    with MetaDb.open(place.path, place.home) as store:
        # The defect: a replay that moves its cursor past a line without applying it.
        store.upsert_source_cursor(f"spool:{spool.name}", "4")
    broken = check.check([place])
    assert not broken.ok and "id 2000 not re-ingested" in broken.detail
    assert check.checked_total == 4  # each line checked once


def test_the_spool_check_catches_a_row_whose_content_is_not_the_spooled_one(
    tmp_path: Path,
) -> None:
    place = _place(tmp_path)
    with MetaDb.open(place.path, place.home) as store, store.transaction() as conn:
        # The defect: id 3000 already taken by other content, so its replay cannot land.
        conn.execute("INSERT INTO ticks (id, row_json) VALUES (3000, '{\"other\": true}')")
    _spool(place, 3000, 1)
    result = SpoolCheck().check([place])
    assert not result.ok and "id 3000 not re-ingested" in result.detail


def test_a_held_write_lock_defers_the_replay_and_skips_no_line(tmp_path: Path) -> None:
    place = _place(tmp_path)
    _spool(place, 1000, 2)
    holder = sqlite3.connect(place.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a lock fault
    check = SpoolCheck()
    try:
        held = check.check([place])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert held.ok and "0 newly replayed" in held.detail and "deferred, busy: db-0" in held.detail
    after = check.check([place])
    assert after.ok and "2 newly replayed" in after.detail


def test_recovery_is_timed_from_the_fault_to_a_write_landing_where_it_struck() -> None:
    tracker = RecoveryTracker({0: frozenset({0, 2})}, {1: frozenset({1, 3})})
    kill = {"t_s": 10.0, "kind": "kill", "worker_idx": 0, "database_idx": None}
    tracker.observe(10.5, [kill], {0: 5, 1: 5, 2: 5, 3: 5})
    tracker.observe(12.0, [kill], {0: 5, 1: 9, 2: 5, 3: 5})  # user 1 is not the worker's
    assert tracker.recovered == []
    tracker.observe(13.0, [kill], {0: 5, 1: 9, 2: 6, 3: 5})  # the restarted worker writes
    assert tracker.recovered == [("kill", 3.0)]
    assert tracker.check(14.0, 60).ok
    lock = {"t_s": 20.0, "kind": "lock", "worker_idx": None, "database_idx": 1}
    tracker.observe(21.0, [kill, lock], {0: 7, 1: 9, 2: 7, 3: 5})
    # The defect: no write lands on the locked database again (its users never move).
    tracker.observe(90.0, [kill, lock], {0: 9, 1: 9, 2: 9, 3: 5})
    late = tracker.check(90.0, 60)
    assert not late.ok and late.value == 70.0


def test_the_spool_backlog_is_the_lines_past_the_cursor(tmp_path: Path) -> None:
    place = _place(tmp_path)
    _spool(place, 1000, 3)
    holder = sqlite3.connect(place.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the replay cannot run: every line waits
    check = SpoolCheck()
    try:
        check.check([place])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert check.backlog == 3
    check.check([place])
    assert check.backlog == 0


def _delivered(place: DatabasePlace) -> int:
    with MetaDb(place.path, place.home, StoreOptions(read_only=True)) as store:
        return int(store.query("SELECT count(*) FROM events WHERE status != 'pending'").rows[0][0])


@pytest.mark.slow
def test_a_lock_on_one_database_does_not_stall_delivery_on_another(tmp_path: Path) -> None:
    places = []
    for index in (0, 1):
        home = tmp_path / f"db-{index}"
        home.mkdir()
        with MetaDb.open(home / "meta.db", home):
            pass
        places.append(DatabasePlace(index, home / "meta.db", home))
    retention = RetentionDb(tmp_path / "soak" / "retention" / "meta.db")
    upkeep = Maintainer(tuple(places), retention, seed=1, deliver_after_s=0.2)
    holder = sqlite3.connect(places[0].path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a lock fault on db-0 for the whole test
    upkeep.start()
    try:
        deadline = time.monotonic() + 20
        while _delivered(places[1]) < 3:  # db-1's delivery goes on meanwhile
            assert time.monotonic() < deadline, "delivery on db-1 stalled behind db-0's lock"
            time.sleep(0.1)
        assert _delivered(places[0]) == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        upkeep.stop()
