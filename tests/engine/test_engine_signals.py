"""SIGINT and SIGTERM: a real ``python -m stress run`` stops at once, exits 130, writes both
artifacts, and the interrupted run still replays exactly."""

from __future__ import annotations

import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stress.artifacts import schema_errors
from stress.replay import replay_run

#: A progress line that shows work done, e.g. ``[ 0.4s / 1m00s ] 1,234 ops  ...``.
_RUNNING = re.compile(rb"^\[ [^]]+ \] [1-9][0-9,]* ops ", re.MULTILINE)
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 5.0


def _start(tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("STRESS_")}
    env["STRESS_OUTPUT_DIR"] = str(tmp_path / "run")
    command = [sys.executable, "-m", "stress", "run", "--duration", "60", "--processes", "2"]
    command += ["--log-interval", "0.2", "--users", "inserter=1,query=1,mixed=1"]
    command += ["--seed", "5", "--databases", "2", "--think-min-ms", "0", "--think-max-ms", "2"]
    command += ["--batch-min", "1", "--batch-max", "50"]
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_until_running(process: subprocess.Popen[bytes]) -> bytes:
    """Read stdout (a pipe, so plain lines) until a progress line shows ops done."""
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not _RUNNING.search(seen):
        left = deadline - time.monotonic()
        assert left > 0, f"no progress line with ops after {_START_TIMEOUT_S}s:\n{seen!r}"
        ready, _, _ = select.select([process.stdout], [], [], left)
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536)
            assert chunk, f"the run ended before it showed progress:\n{seen!r}"
            seen += chunk
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_run_with_both_artifacts(tmp_path: Path, signum: signal.Signals) -> None:
    process = _start(tmp_path)
    try:
        before = _wait_until_running(process)
        process.send_signal(signum)
        sent = time.monotonic()
        out, err = process.communicate(timeout=_STOP_TIMEOUT_S)
        assert time.monotonic() - sent < _STOP_TIMEOUT_S
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, (before + out).decode() + err.decode()
    assert b"stopped      UserAbort" in out
    run_dir = tmp_path / "run"
    summary = json.loads((run_dir / "summary.json").read_text())
    replay = json.loads((run_dir / "replay.json").read_text())
    assert (summary["stop_reason"], summary["exit_code"]) == ("UserAbort", 130)
    assert replay["stop_reason"] == "UserAbort"
    assert schema_errors(summary, "summary") == []
    assert schema_errors(replay, "replay") == []
    assert summary["harness_errors"] == []
    ops = [user["ops_executed"] for user in replay["users"]]
    assert sum(ops) == summary["results"]["total_operations"] > 0
    if signum == signal.SIGINT:
        # What an interrupted run did is still exactly reproducible.
        verdict = replay_run(
            run_dir / "replay.json", output_dir=tmp_path / "replay", out=io.StringIO()
        )
        assert (verdict.exit_code, verdict.divergences) == (0, ())
        assert verdict.ops_checked == sum(ops)
