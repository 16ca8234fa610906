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
from engine_processes import read_until, reaped, run_cli, start_run, wait_for

from stress.artifacts import schema_errors
from stress.replay.run import replay_run

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


def _finished_artifacts(run_dir: Path) -> bool:
    """Both artifacts of the finished run are there (replay.json exists from the start)."""
    replay = run_dir / "replay.json"
    if not (run_dir / "summary.json").exists() or not replay.exists():
        return False
    return json.loads(replay.read_text())["stop_reason"] is not None


@pytest.mark.slow
def test_both_artifacts_are_written_within_two_seconds_of_the_signal(tmp_path: Path) -> None:
    with reaped(_start(tmp_path)) as process:
        _wait_until_running(process)
        process.send_signal(signal.SIGTERM)
        took = wait_for(lambda: _finished_artifacts(tmp_path / "run"), _STOP_TIMEOUT_S, 0.01)
        out, _ = process.communicate(timeout=60)
    assert took < 2.0, f"both artifacts took {took:.2f} s after SIGTERM"
    assert process.returncode == 130
    # The oracle runs after them, and says so first; the summary then holds its verdict.
    assert out.index(b"verifying ...") < out.index(b"verification ok")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["verification"]["ok"] and summary["exit_code"] == 130
    assert schema_errors(summary, "summary") == []


@pytest.mark.slow
def test_a_second_signal_during_verification_skips_it_and_says_so(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # Big batches for a few seconds: enough rows that the oracle takes a second or more.
    process = start_run(
        tmp_path,
        run_dir,
        *("--duration", "60", "--processes", "2", "--users", "inserter=3", "--seed", "7"),
        *(
            "--batch-min",
            "2000",
            "--batch-max",
            "5000",
            "--think-min-ms",
            "0",
            "--think-max-ms",
            "1",
        ),
        *("--log-interval", "0.5", "--databases", "1"),
    )
    with reaped(process):
        read_until(process, re.compile(rb"^\[ [^]]+ \] [0-9,]{3,} ops ", re.MULTILINE))
        process.send_signal(signal.SIGTERM)
        before = read_until(process, re.compile(rb"^verifying \.\.\.$", re.MULTILINE))
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    output = (before + out).decode()
    assert process.returncode == 130, output + err.decode()
    assert "verification skipped: SIGINT during verification" in output
    assert "stress verify" in output
    assert "verification ok" not in output and "Traceback" not in err.decode()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verification"] == {"not_run": "skipped: SIGINT during verification"}
    assert (summary["stop_reason"], summary["exit_code"]) == ("UserAbort", 130)
    assert schema_errors(summary, "summary") == []
    # The run is whole all the same: the oracle, run later, finds nothing lost.
    verified = run_cli(tmp_path, "verify", str(run_dir))
    assert verified.returncode == 0, verified.stdout + verified.stderr
