"""``kill -9`` of a running ``stress run``: its folder still verifies, its workers go quietly.

The run writes replay.json before its users start and keeps it current, so the oracle can
check what a killed run wrote; workers whose coordinator is gone stop their users and exit
without a traceback.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from engine_processes import (
    RUNNING,
    alive,
    descendants,
    read_to_eof,
    read_until,
    reaped,
    run_cli,
    start_run,
    wait_for,
)

from stress.artifacts import schema_errors

#: Orphaned workers see the broken pipe at their next report (at most 1 s), then give their
#: users' ops in flight time to end; all of it well inside this.
_ORPHANS_GONE_S = 15.0


def _ops_recorded(run_dir: Path) -> int:
    replay = json.loads((run_dir / "replay.json").read_text())
    return sum(user["ops_executed"] for user in replay["users"])


@pytest.mark.slow
def test_a_killed_coordinators_folder_verifies_and_its_workers_exit_quietly(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    process = start_run(
        tmp_path,
        run_dir,
        *("--duration", "60", "--processes", "2", "--log-interval", "0.2"),
        *("--users", "inserter=2,mixed=1", "--seed", "13", "--databases", "2"),
        *("--think-min-ms", "0", "--think-max-ms", "2", "--batch-min", "1", "--batch-max", "50"),
    )
    with reaped(process):
        read_until(process, RUNNING)
        # Killed once the kept-current replay.json counts some ops (it is rewritten at each
        # log interval, a moment after the progress line).
        wait_for(lambda: _ops_recorded(run_dir) > 0, 30.0)
        workers = descendants(process.pid)
        assert workers, "a run with worker processes has child processes"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        # The workers inherited the run's stderr: it reaches EOF once the last one has exited.
        assert process.stderr is not None
        stderr = read_to_eof(process.stderr, _ORPHANS_GONE_S).decode()
        wait_for(lambda: not any(alive(pid) for pid in workers), _ORPHANS_GONE_S)
    assert process.returncode == -signal.SIGKILL
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    replay = json.loads((run_dir / "replay.json").read_text())
    assert replay["stop_reason"] is None
    assert schema_errors(replay, "replay") == []
    assert _ops_recorded(run_dir) > 0
    assert not (run_dir / "summary.json").exists()

    verified = run_cli(tmp_path, "verify", str(run_dir))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "run not finished" in verified.stdout
    assert "verification ok" in verified.stdout
    verification = json.loads((run_dir / "verification.json").read_text())
    assert verification["ok"] and verification["acknowledged"] > 0

    # Its op counts are not final: a replay of it is refused in one line.
    replayed = run_cli(tmp_path, "replay", str(run_dir / "replay.json"))
    assert replayed.returncode == 2
    assert replayed.stderr.count("\n") == 1, replayed.stderr
    assert "stop_reason is null" in replayed.stderr
    assert "stress verify" in replayed.stderr
