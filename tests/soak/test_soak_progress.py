"""Recovery with threads: positions read from the users' ledgers, and a real threads soak."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from stress.engine.interrupts import Interrupts
from stress.oracle.ledger import LedgerWriter, ledger_path
from stress.soak.progress import LedgerProgress
from stress.soak.recovery import RecoveryTracker
from stress.soak.run import SoakOptions, run_soak, soak_settings
from stress.soak.thresholds import load_thresholds


def test_ledger_positions_count_rows_persisted_not_intents_nor_spooled(tmp_path: Path) -> None:
    folder = tmp_path / "ledger"
    folder.mkdir()
    writer, reader = LedgerWriter(ledger_path(folder, 0)), LedgerWriter(ledger_path(folder, 1))
    progress = LedgerProgress({0: ledger_path(folder, 0), 1: ledger_path(folder, 1)})
    assert progress.positions() == {0: 0, 1: 0}
    writer.intent(0, "ticks", 2, 0)
    assert progress.positions()[0] == 0  # handed over, not yet answered (a lock holds it)
    writer.outcome(0, "ticks", "persisted", (1, 2), ("{}", "{}"))
    writer.intent(1, "ticks", 1, 5)
    writer.outcome(1, "ticks", "spooled", (), ("{}",))
    assert progress.positions() == {0: 2, 1: 0}  # the spooled row has not landed yet
    assert progress.done[0] == (5, 2)  # each record read once: the next call starts after it
    writer.close()
    reader.close()


def test_a_user_that_never_moved_before_the_fault_is_not_waited_on() -> None:
    tracker = RecoveryTracker({}, {0: frozenset({0, 1})})
    lock = {"t_s": 10.0, "kind": "lock", "worker_idx": None, "database_idx": 0}
    tracker.observe(10.0, [lock], {0: 4, 1: 0})  # user 1 only reads: its ledger never grows
    tracker.observe(13.0, [lock], {0: 5, 1: 0})
    assert tracker.recovered == [("lock", 3.0)]
    stuck = RecoveryTracker({}, {0: frozenset({0})})
    stuck.observe(10.0, [lock], {0: 4})
    stuck.observe(80.0, [lock], {0: 4})  # the writer never lands a write again
    assert not stuck.check(80.0, 60).ok


@pytest.mark.slow
def test_a_threads_soak_times_its_recovery_from_lock_faults(tmp_path: Path) -> None:
    settings = soak_settings(
        {
            "duration": "16",
            "seed": "3",
            "processes": "0",
            "output_dir": str(tmp_path / "run"),
            "users": "inserter=2,query=1",
            "databases": "1",
            "faults": "lock=every:5s:hold:2s",
            "busy_timeout_ms": "1000",
            "think_max_ms": "50",
            "batch_min": "1",
            "batch_max": "50",
        },
        environ={},
    )
    outcome = run_soak(settings, SoakOptions(8.0, load_thresholds()), io.StringIO(), Interrupts())
    document = json.loads((outcome.run_dir / "soak.json").read_text())
    assert "ledgers" in document["recovery_measured_by"]
    kinds = [entry["kind"] for entry in document["recovery_s"]]
    assert kinds and set(kinds) == {"lock"}, document["recovery_s"]
    assert all(0 < entry["s"] < 60 for entry in document["recovery_s"])
    assert all(epoch["ok"] for epoch in document["epochs"])


def test_a_fault_cut_short_by_the_next_on_its_target_is_counted_apart() -> None:
    tracker = RecoveryTracker({0: frozenset({0})}, {})
    first = {"t_s": 10.0, "kind": "kill", "worker_idx": 0, "database_idx": None}
    second = {"t_s": 40.0, "kind": "kill", "worker_idx": 0, "database_idx": None}
    tracker.observe(10.0, [first], {0: 4})
    tracker.observe(40.0, [first, second], {0: 4})  # killed again before it wrote
    tracker.observe(45.0, [first, second], {0: 5})
    assert tracker.recovered == [("kill", 5.0)] and tracker.cut_short == [("kill", 30.0)]
    held = tracker.check(45.0, 60)
    assert held.ok and "1 cut short" in held.detail
    # Cut short only after it had outlasted the bound: that is a failure all the same.
    late = RecoveryTracker({0: frozenset({0})}, {})
    third = {"t_s": 80.0, "kind": "kill", "worker_idx": 0, "database_idx": None}
    late.observe(10.0, [first], {0: 4})
    late.observe(80.0, [first, third], {0: 4})
    assert not late.check(80.0, 60).ok


def test_a_fault_recovered_from_too_late_fails_and_names_itself() -> None:
    tracker = RecoveryTracker({}, {2: frozenset({0})})
    lock = {"t_s": 10.0, "kind": "lock", "worker_idx": None, "database_idx": 2}
    tracker.observe(10.0, [lock], {0: 4})
    pending = tracker.check(75.0, 60)
    assert not pending.ok and "the lock at 10 s (database 2)" in pending.detail
    tracker.observe(80.0, [lock], {0: 5})  # a write lands at last, 70 s after
    late = tracker.check(81.0, 60)
    assert not late.ok and late.value == 70.0
