"""Two ``stress spool replay`` processes on one run folder at once: every line lands once.

Both replays are started while the test holds the database's write lock, and the lock is
released only once both have opened the database (so both have read the progress cursor before
either could move it): the overlap the issue saw, made certain instead of likely.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faults_helpers import cli_run, read_json

from stress.cli.main import main

pytestmark = pytest.mark.slow

#: Generous bound on a replay subprocess or on both opening the database; only reached if
#: something hangs.
WAIT_S = 60.0


def _has_open(pid: int, path: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.path.realpath(fd) == str(path.resolve()) for fd in fds.iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return False  # the process ended (or is ending): it cannot be waiting any more


def _start_replay(run_dir: Path) -> subprocess.Popen[bytes]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("STRESS_")}
    return subprocess.Popen(
        [sys.executable, "-m", "stress", "spool", "replay", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def _wait_until_both_opened(replays: list[subprocess.Popen[bytes]], db: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not all(_has_open(replay.pid, db) for replay in replays):
        assert all(replay.poll() is None for replay in replays), "a replay ended early"
        assert time.monotonic() < deadline, "the replays never opened the database"
        time.sleep(0.01)  # polling a condition, not waiting out a race


def test_two_concurrent_spool_replays_leave_nothing_unaccounted(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    code, output = cli_run(
        run_dir,
        duration="4",
        processes="0",
        databases="1",
        batch_max="400",
        busy_timeout_ms="200",
        faults="lock=every:1s:hold:600ms",
    )
    assert code == 0, output
    before = read_json(run_dir / "summary.json")["verification"]
    assert before["ok"] and before["spooled"] > 500, before  # more than one replay chunk

    db = run_dir / "db-0" / "meta.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        replays = [_start_replay(run_dir), _start_replay(run_dir)]
        _wait_until_both_opened(replays, db)
    finally:
        holder.close()
    outputs = [replay.communicate(timeout=WAIT_S) for replay in replays]
    for replay, (out, err) in zip(replays, outputs, strict=True):
        assert replay.returncode == 0, (out, err)
        assert err == b"", err

    assert main(["verify", str(run_dir)], out=io.StringIO()) == 0
    after = read_json(run_dir / "verification.json")
    assert after["unaccounted"] == 0 and after["missing"] == 0, after
    assert after["ok"] and after["spooled"] == 0, after
    assert after["reingested"] == before["spooled"]
    assert after["found"] == before["found"] + before["spooled"]
