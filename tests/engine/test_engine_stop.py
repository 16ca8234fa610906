"""Whole runs that must stop on their own terms: a stall is a finding, a deadline is kept.

- users blocked behind a lock held longer than the no-progress bound (the busy timeout is
  longer still) stop the run as ``Stalled``, exit 1, with the stall recorded and printed;
- a run of 50,000-row bulk inserts stops within max(1 s, 5%) of its 3 s: the inserts in flight
  at the deadline are interrupted and rolled back, never acknowledged nor spooled, and the
  oracle finds everything where the ledger says.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faults_helpers import cli_run, read_json

from stress.artifacts import schema_errors
from stress.oracle.ledger import FAILED, iter_ledger_chunks

pytestmark = pytest.mark.slow


def test_users_stuck_behind_a_lock_longer_than_the_bound_end_the_run_stalled(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    code, output = cli_run(
        run_dir,
        users="inserter=2",
        databases="1",
        duration="60s",
        faults="lock=every:1s:hold:40s",
        busy_timeout_ms="30000",
        max_no_progress_s="2",
    )

    summary = read_json(run_dir / "summary.json")
    assert code == 1, output
    assert summary["stop_reason"] == "Stalled" and summary["exit_code"] == 1
    assert schema_errors(summary, "summary") == []
    stall = summary["stall"]
    assert stall["bound_s"] == 2 and stall["no_progress_s"] > 2
    assert {user["user_id"] for user in stall["users"]} == {0, 1}
    # Seen about 2 s after the lock came (1 s in); the stop then ends the lock at once.
    assert summary["results"]["actual_duration_secs"] < 15
    assert "Stalled after" in output and "no user completed an op for" in output
    assert summary["verification"]["ok"], summary["verification"]


def test_bulk_inserts_in_flight_at_the_deadline_are_interrupted_and_the_run_ends_on_time(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    # One inserter, so what it does after the stop is not shared with a second user's CPU
    # work; the lock (from 0.5 s on, held past the run) puts its 50,000-row insert in flight
    # at the deadline, waiting for the write lock.
    code, output = cli_run(
        run_dir,
        users="inserter=1",
        databases="1",
        duration="3s",
        batch_min="50000",
        batch_max="50000",
        faults="lock=every:0.5s:hold:30s",
        busy_timeout_ms="20000",
    )

    summary = read_json(run_dir / "summary.json")
    assert code == 0, output
    results = summary["results"]
    assert results["actual_duration_secs"] <= 3 + max(1.0, 0.05 * 3), output
    assert results["interrupted"] > 0 and summary["users"][0]["interrupted"] > 0
    verification = summary["verification"]
    assert verification["ok"] and verification["unaccounted"] == 0, verification
    # The interrupted insert's 50,000 rows were rolled back: not acknowledged, not spooled,
    # failed in the ledger (and absent from the store, or the oracle would call them
    # unaccounted).
    assert verification["spooled"] == 0, verification
    failed = sum(
        int((chunk["status"] == FAILED).sum())
        for chunk in iter_ledger_chunks(run_dir / "ledger" / "user-0.bin")
    )
    assert failed >= 50_000 * results["interrupted"]
    assert "interrupted at the stop, rolled back" in output
