"""Whole runs with faults, through the CLI: nothing acknowledged is lost, and the oracle can fail.

- a 20-second process-mode run with a worker killed every 2 s restarts every one, loses
  nothing and exits 0; its replay strikes the kills again and verifies;
- a lock holder, outlasting a 200 ms busy timeout, sends writes to the spool, all accounted;
  ``stress spool replay`` then ``stress verify`` finds every one of them in the store;
- a store double that acknowledges every write but silently loses one in a thousand is caught.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from faults_helpers import cli_run, read_json

from stress.artifacts import schema_errors
from stress.cli.main import main
from stress.engine import worker
from stress.metadb import BatchOutcome, MetaDb, Record, WriteOutcome
from stress.replay.run import replay_run

pytestmark = pytest.mark.slow


def test_a_worker_killed_every_2s_loses_nothing_and_its_replay_verifies(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    code, output = cli_run(run_dir, duration="20", processes="2", faults="kill=every:2s")

    summary, replay = read_json(run_dir / "summary.json"), read_json(run_dir / "replay.json")
    assert code == 0, output
    assert schema_errors(summary, "summary") == [] and schema_errors(replay, "replay") == []
    kills = summary["faults"]["events"]
    assert summary["faults"]["injected"]["kill"] == len(kills) >= 5
    assert all("worker restarted" in event["effect"] for event in kills), kills
    # Injected kills are the run's own doing: not crashes, and the run went the distance.
    assert summary["crashes"] == [] and summary["stop_reason"] == "DurationElapsed"
    verification = summary["verification"]
    assert verification["ok"] and verification["missing"] == 0, verification
    assert set(verification["integrity"].values()) == {"ok"}
    assert verification["acknowledged"] > 0
    assert len(replay["faults"]) == len(kills)
    users = {str(user["user_id"]) for user in replay["users"]}
    assert all(set(fault["points"]) == users for fault in replay["faults"])

    out = io.StringIO()
    verdict = replay_run(run_dir / "replay.json", output_dir=tmp_path / "replay", out=out)
    assert verdict.divergences == () and verdict.exit_code == 0, out.getvalue()
    replayed = verdict.outcome.summary["faults"]
    assert replayed["replayed"] and replayed["injected"]["kill"] >= 1, replayed


def test_a_lock_holder_sends_writes_to_the_spool_and_spool_replay_brings_them_back(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    code, output = cli_run(
        run_dir,
        duration="4",
        processes="0",
        busy_timeout_ms="200",
        faults="lock=every:1s:hold:600ms",
    )

    summary = read_json(run_dir / "summary.json")
    assert code == 0, output
    assert schema_errors(summary, "summary") == []
    locks = summary["faults"]["events"]
    assert len(locks) >= 2 and all(event["kind"] == "lock" for event in locks)
    # The last may be cut short by the end of the run; the others held their full 600 ms.
    assert all(event["effect"].startswith("write-locked") for event in locks), locks
    assert all(event["hold_s"] == 0.6 for event in locks)
    before = summary["verification"]
    assert before["ok"] and before["spooled"] > 0 and before["missing"] == 0, before

    assert main(["spool", "replay", str(run_dir)], out=io.StringIO()) == 0
    assert main(["verify", str(run_dir)], out=io.StringIO()) == 0
    after = read_json(run_dir / "verification.json")
    assert after["ok"] and after["spooled"] == 0 and after["missing"] == 0, after
    assert after["reingested"] == before["spooled"]
    assert after["found"] == before["found"] + before["spooled"]


class _DroppingStore(MetaDb):
    """Acknowledges every write and silently loses one in a thousand (after its commit)."""

    writes = itertools.count(1)  # shared by every handle: one in a thousand of the run's
    lost_rows = 0

    def record(self, table: str, row: Record | Mapping[str, Any]) -> WriteOutcome:
        outcome = super().record(table, row)
        if outcome.persisted and outcome.id is not None:
            self._maybe_lose(table, (outcome.id,))
        return outcome

    def record_batch(self, table: str, rows: Sequence[Record | Mapping[str, Any]]) -> BatchOutcome:
        outcome = super().record_batch(table, rows)
        if outcome.persisted and outcome.ids:
            self._maybe_lose(table, outcome.ids)
        return outcome

    def _maybe_lose(self, table: str, ids: Sequence[int]) -> None:
        if next(_DroppingStore.writes) % 1000:
            return
        with self.transaction() as conn:
            conn.executemany(f"DELETE FROM {table} WHERE id = ?", [(i,) for i in ids])
        _DroppingStore.lost_rows += len(ids)


def test_a_store_that_loses_one_write_in_a_thousand_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Threads, so every user's store is built in this process, by the patched name.
    monkeypatch.setattr(worker, "MetaDb", _DroppingStore)
    monkeypatch.setattr(_DroppingStore, "writes", itertools.count(1))
    monkeypatch.setattr(_DroppingStore, "lost_rows", 0)
    run_dir = tmp_path / "run"
    code, output = cli_run(
        run_dir, processes="0", users="inserter=4", max_ops_per_user="700", batch_max="10"
    )

    summary = read_json(run_dir / "summary.json")
    verification = summary["verification"]
    assert _DroppingStore.lost_rows > 0, "the run wrote fewer than a thousand times"
    assert code == 1, output
    assert summary["stop_reason"] == "InvariantViolation" and summary["exit_code"] == 1
    assert verification["missing"] == _DroppingStore.lost_rows, verification
    assert not verification["ok"] and verification["examples"]["missing"]
    assert "verification FAILED" in output


@pytest.mark.parametrize("seed", [20261126, 11, 12, 13])
def test_kill_and_lock_runs_lose_nothing_and_invent_nothing(tmp_path: Path, seed: int) -> None:
    """Issue 13, item 1: kills landing inside bulk ops, locks sending writes to the spool.

    Big batches make a kill between a bulk op's commit and its last ledger record likely;
    the oracle must call that op in flight, never its rows unaccounted.
    """
    run_dir = tmp_path / "run"
    code, output = cli_run(
        run_dir,
        seed=str(seed),
        duration="6",
        processes="2",
        users="inserter=3,mixed=1",
        batch_min="500",
        batch_max="3000",
        busy_timeout_ms="200",
        faults="kill=every:700ms,lock=every:1s:hold:400ms",
    )

    summary = read_json(run_dir / "summary.json")
    verification = summary["verification"]
    assert code == 0, output
    assert verification["ok"], verification
    assert verification["missing"] == 0 and verification["unaccounted"] == 0, verification
    assert verification["acknowledged"] > 0
    assert summary["faults"]["injected"]["kill"] >= 3, summary["faults"]
    assert summary["faults"]["injected"]["lock"] >= 1, summary["faults"]
