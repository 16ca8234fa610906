"""A worker process killed with SIGKILL: seen within a second, then stop or restart.

The kill comes from inside the coordinator's own loop (its per-turn hook), once a periodic
report has shown the target user past a given op: no sleeping, no guessing when the workers
have got going. The detection delay is measured on the coordinator's clock.
"""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path

import psutil
import pytest
from kill_helpers import kill_worker_after
from monitor_helpers import run, small_settings

from stress.artifacts import schema_errors
from stress.engine import coordinator as coordinator_module
from stress.engine.journal import DIGEST_BYTES
from stress.engine.runner import EXIT_CLEAN, EXIT_FAILURE
from stress.replay.run import replay_run

pytestmark = pytest.mark.slow

TARGET_USER = 0


def _verify_replay(run_dir: Path, replay_dir: Path, tries: int = 1) -> None:
    """The replay runs the same ops, and says the crash did not come back.

    The kill came from outside the plan (this test's hook, as an OOM killer or an operator
    would), not from STRESS_FAULTS, which a replay strikes again: the replay has every op of
    the recording and no kill, so the recorded failure is honestly not reproduced (exit 1).
    """
    out = io.StringIO()
    verdict = replay_run(run_dir / "replay.json", output_dir=replay_dir, out=out, tries=tries)
    printed = out.getvalue()
    assert verdict.divergences == (), printed
    assert verdict.outcome.exit_code == EXIT_CLEAN, printed
    assert verdict.exit_code == EXIT_FAILURE, printed
    recorded = json.loads((run_dir / "summary.json").read_text())["failure"]
    assert recorded["check"] == "crash" and recorded["error_class"] == "SIGKILL"
    assert (
        "failure not reproduced (the ops were identical; the interleaving was not): "
        f"recorded {recorded['signature']} ("
    ) in printed
    assert printed.count("failure not reproduced") == tries
    assert verdict.attempt == tries


def test_sigkill_of_a_worker_ends_the_run_with_crash_detected_within_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = kill_worker_after(monkeypatch, TARGET_USER, ops=10)
    outcome = run(small_settings(tmp_path / "run", processes=2, duration=120))

    assert outcome.stop_reason == "CrashDetected"
    assert outcome.exit_code == EXIT_FAILURE
    summary = outcome.summary
    assert schema_errors(summary, "summary") == []
    (crash,) = summary["crashes"]
    assert crash["t_s"] - seen["killed_at"] < 1.0
    assert (crash["worker_idx"], crash["pid"]) == (seen["worker"], seen["pid"])
    assert (crash["signal"], crash["exit_code"], crash["action"]) == ("SIGKILL", None, "stop")
    assert TARGET_USER in crash["users"]
    assert crash["ops_executed"][str(TARGET_USER)] >= 10
    assert crash["last_ops"][str(TARGET_USER)], "the last report named the user's last ops"
    assert summary["results"]["crashed"] is True
    # The dead worker's users are closed at their last committed op: the replay still proves
    # every user's sequence, the killed ones included.
    recorded = {user["user_id"]: user["ops_executed"] for user in outcome.replay["users"]}
    assert recorded[TARGET_USER] == crash["ops_executed"][str(TARGET_USER)]
    assert len(recorded) == 4
    _verify_replay(outcome.run_dir, tmp_path / "replay", tries=2)
    assert (tmp_path / "replay-try-2" / "summary.json").exists()


def test_with_restart_the_killed_workers_users_resume_and_the_run_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = kill_worker_after(monkeypatch, TARGET_USER, ops=20)
    settings = small_settings(
        tmp_path / "run", processes=2, max_ops_per_user=120, on_crash="restart"
    )
    outcome = run(settings)

    assert "killed_at" in seen
    assert outcome.stop_reason == "OpLimitReached"
    # A crash is a finding even when the run went on.
    assert outcome.exit_code == EXIT_FAILURE
    (crash,) = outcome.summary["crashes"]
    assert (crash["signal"], crash["action"]) == ("SIGKILL", "restart")
    assert crash["ops_executed"][str(TARGET_USER)] >= 20
    assert outcome.summary["harness_errors"] == []
    for user in outcome.replay["users"]:
        assert user["ops_executed"] == 120
        digests = outcome.run_dir / user["op_digests"]
        assert digests.stat().st_size == 120 * DIGEST_BYTES
    assert all(user["harness_error"] is None for user in outcome.summary["users"])
    _verify_replay(outcome.run_dir, tmp_path / "replay")


def test_a_stuck_worker_is_killed_after_the_grace_never_left_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that never answers the stop (SIGSTOPped here; a process spinning in an
    engine's lock alike) ignores SIGTERM by design, so it is SIGKILLed once the grace is
    spent, and said: it must not outlive its run and eat the machine's cores."""
    monkeypatch.setattr(coordinator_module, "STOP_GRACE_S", 1.0)
    seen = kill_worker_after(monkeypatch, TARGET_USER, ops=5, sig=signal.SIGSTOP)
    outcome = run(small_settings(tmp_path / "run", processes=2, duration=3))

    assert "pid" in seen, "the worker was never stopped"
    pid = seen["pid"]
    assert not psutil.pid_exists(pid), f"worker {pid} outlived its run"
    errors = outcome.summary["harness_errors"]
    assert "workers did not stop within the grace period" in errors, errors
    assert f"worker pid {pid} did not stop: killed (SIGKILL)" in errors, errors
    assert outcome.exit_code == EXIT_FAILURE
