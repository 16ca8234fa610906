"""Whole runs: disk budget and replay, stalls, harness errors, the open-loop rate."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from monitor_helpers import run, small_settings

from stress.artifacts import schema_errors
from stress.engine.operations import OpResult
from stress.engine.runner import EXIT_CLEAN, EXIT_FAILURE
from stress.metadb import MetaDb
from stress.plan.profiles import WRITE_OPS
from stress.plan.workload import PlanLimits, PlannedOp, UserPlan
from stress.replay.run import profile_from_dict, replay_run


def _limits(config: dict[str, float]) -> PlanLimits:
    return PlanLimits(
        int(config["batch_min"]),
        int(config["batch_max"]),
        config["think_min_ms"],
        config["think_max_ms"],
        int(config["query_complexity_max"]),
    )


def test_disk_budget_substitutions_are_recorded_and_replayed_exactly(tmp_path: Path) -> None:
    # The seeded database alone is over a 10 kB budget: from the monitor's first sample on,
    # every write becomes a simple select.
    settings = small_settings(
        tmp_path / "run",
        users="mixed=2,inserter=1",
        databases=1,
        max_ops_per_user=60,
        max_disk_mb=0.01,
        monitor_interval_ms=10,
    )
    outcome = run(settings)
    assert outcome.exit_code == EXIT_CLEAN, outcome.summary["harness_errors"]
    assert schema_errors(outcome.summary, "summary") == []
    backpressure = outcome.summary["backpressure"]
    assert backpressure["events"][0]["cause"] == "disk"
    assert backpressure["active_at_end"] == ["disk"] and backpressure["paused_s"] == 0
    users = outcome.replay["users"]
    assert sum(len(user["substitutions"]) for user in users) > 20

    # Every substituted op is a write of the plan.
    profiles = {name: profile_from_dict(data) for name, data in outcome.replay["profiles"].items()}
    for user in users:
        plan = UserPlan(
            outcome.global_seed,
            user["user_id"],
            profiles[user["class"]],
            _limits(outcome.replay["config"]),
        )
        ops: list[PlannedOp] = [plan.next_op() for _ in range(user["ops_executed"])]
        assert all(ops[index].kind in WRITE_OPS for index in user["substitutions"])

    out = io.StringIO()
    verdict = replay_run(outcome.run_dir / "replay.json", output_dir=tmp_path / "replay", out=out)
    assert verdict.divergences == (), out.getvalue()
    assert verdict.exit_code == EXIT_CLEAN
    replayed = {user.user_id: user.substitutions for user in verdict.outcome.users}
    assert replayed == {user["user_id"]: user["substitutions"] for user in users}


def test_backpressure_held_past_max_stall_stops_the_run_with_resource_limit(
    tmp_path: Path,
) -> None:
    # No process fits in 1 MB: the pause comes at the first sample and never lifts.
    settings = small_settings(
        tmp_path / "run",
        duration=60,
        max_memory_mb=1,
        max_stall_s=0.3,
        monitor_interval_ms=10,
    )
    outcome = run(settings)
    assert outcome.stop_reason == "ResourceLimit"
    assert outcome.exit_code == EXIT_FAILURE
    summary = outcome.summary
    assert summary["results"]["actual_duration_secs"] < 10
    backpressure = summary["backpressure"]
    assert backpressure["stalled"] is True
    first = backpressure["events"][0]
    assert (first["cause"], first["transition"], first["limit"]) == ("memory", "on", 1.0)
    assert first["value"] > 1
    assert backpressure["paused_s_by_cause"]["memory"] >= 0.3
    assert summary["resources"]["timeline"], "the resource timeline is recorded"
    assert "backpressure_wait" in summary["results"]["metrics"]
    assert schema_errors(summary, "summary") == []


def test_an_unexpected_exception_in_a_user_is_a_harness_error_with_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stress.engine import users

    real = users.execute

    def failing(store: MetaDb, op: PlannedOp, user_id: int) -> OpResult:
        if user_id == 1 and op.index == 5:
            raise RuntimeError("boom in the harness")
        return real(store, op, user_id)

    monkeypatch.setattr("stress.engine.users.execute", failing)
    # Every op through execute(), the single inserts run as planned too (they call the store
    # directly), so the double sees op 5 whatever its kind.
    monkeypatch.setattr(users.UserRunner, "_run_single", lambda self, op: self._run_one(op, None))
    outcome = run(small_settings(tmp_path / "run", max_ops_per_user=200))
    assert outcome.stop_reason == "HarnessError"
    assert outcome.exit_code == EXIT_FAILURE
    by_id = {user["user_id"]: user for user in outcome.summary["users"]}
    error = by_id[1]["harness_error"]
    assert error is not None
    assert "Traceback" in error and "RuntimeError: boom in the harness" in error
    assert by_id[1]["ops_executed"] == 5
    assert all(by_id[uid]["harness_error"] is None for uid in by_id if uid != 1)


@pytest.mark.slow
def test_with_a_fast_store_the_achieved_rate_is_within_five_percent_of_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store is a double that answers at once: what is measured is the pacing itself.
    monkeypatch.setattr("stress.engine.users.execute", lambda store, op, user_id: OpResult(True))
    settings = small_settings(
        tmp_path / "run",
        users="query=4",
        duration=5,
        target_ops_per_sec=1000,
    )
    outcome = run(settings)
    assert outcome.exit_code == EXIT_CLEAN, outcome.summary["harness_errors"]
    open_loop = outcome.summary["open_loop"]
    assert open_loop["target_ops_per_sec"] == 1000
    assert open_loop["achieved_ops_per_sec"] == pytest.approx(1000, rel=0.05)
    assert open_loop["skipped_ops"] == 0
    metrics = outcome.summary["results"]["metrics"]
    assert {"service", "schedule_lag"} <= set(metrics)
    assert schema_errors(outcome.summary, "summary") == []
