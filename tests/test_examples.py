"""The examples run as documented (shortened), and what they print says they worked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRESS_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_env_run_example(tmp_path: Path) -> None:
    done = _run(
        ["bash", "examples/env_run.sh", str(tmp_path / "run")],
        _env(STRESS_DURATION="3", STRESS_LOG_INTERVAL="0.5"),
    )
    assert done.returncode == 0, done.stderr + done.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["stop_reason"] == "DurationElapsed"
    assert summary["config"]["processes"] == 2
    assert summary["results"]["total_operations"] > 0
    assert "stress replay" in done.stdout


@pytest.mark.slow
def test_custom_profile_example(tmp_path: Path) -> None:
    done = _run(
        ["bash", "examples/custom_profile/run.sh", str(tmp_path / "run")],
        _env(STRESS_DURATION="2"),
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "profile  burst" in done.stdout
    replay = json.loads((tmp_path / "run" / "replay.json").read_text())
    classes = {user["class"] for user in replay["users"]}
    assert classes == {"burst", "query"}
    assert replay["profiles"]["burst"]["extends"] == "inserter"


@pytest.mark.slow
def test_api_example(tmp_path: Path) -> None:
    done = _run([sys.executable, "examples/api.py", str(tmp_path)], _env())
    assert done.returncode == 0, done.stderr + done.stdout
    assert "stop reason OpLimitReached, exit code 0" in done.stdout
    assert "replay: 600 ops checked, 0 divergences" in done.stdout
