"""SIGINT and SIGTERM to a real ``python -m stress soak``: the current epoch is closed with its
checks, every output is written and valid, and the exit code is 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from stress.schemas import __file__ as schemas_init
from stress.soak.invariants import INVARIANTS

#: Generous: worker processes start slowly on a loaded machine.
_FIRST_EPOCH_TIMEOUT_S = 90.0
_STOP_TIMEOUT_S = 60.0


def _start(tmp_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "stress", "soak", "--output-dir", str(tmp_path / "run")]
    command += ["--duration", "5m", "--epoch", "3s", "--processes", "2", "--seed", "5"]
    command += ["--users", "inserter=1,query=1,mixed=1", "--databases", "2"]
    command += ["--think-min-ms", "0", "--think-max-ms", "20", "--batch-min", "1"]
    # A lock fault now and then: the boundary must not hang on it either.
    command += ["--batch-max", "50", "--faults", "lock=every:4s:hold:2s", "--log-interval", "1"]
    command += ["--busy-timeout-ms", "1000"]
    env = {name: value for name, value in os.environ.items() if not name.startswith("STRESS_")}
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _first_epoch_closed(process: subprocess.Popen[bytes], hlog: Path) -> None:
    deadline = time.monotonic() + _FIRST_EPOCH_TIMEOUT_S
    while not hlog.exists():
        assert process.poll() is None, "the soak ended before its first epoch closed"
        assert time.monotonic() < deadline, f"no epoch closed in {_FIRST_EPOCH_TIMEOUT_S} s"
        time.sleep(0.1)  # waiting on another process's file, not on time itself


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_closes_the_epoch_and_writes_every_output(
    tmp_path: Path, signum: signal.Signals
) -> None:
    run = tmp_path / "run"
    process = _start(tmp_path)
    try:
        _first_epoch_closed(process, run / "epochs" / "epoch-001.hlog")
        process.send_signal(signum)
        sent = time.monotonic()
        out, err = process.communicate(timeout=_STOP_TIMEOUT_S)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    text = out.decode()
    assert process.returncode == 130, text + err.decode()
    document = json.loads((run / "soak.json").read_text())
    schema = json.loads((Path(schemas_init).parent / "soak.schema.json").read_text())
    jsonschema.validate(document, schema)
    assert (document["verdict"], document["exit_code"]) == ("interrupted", 130)
    assert document["stop_reason"] == "UserAbort"
    epochs = document["epochs"]
    # The epoch the signal cut short is closed with its checks; a signal that lands during a
    # boundary lets that boundary finish instead (its epoch is then the last).
    assert len(epochs) >= 1
    last = epochs[-1]
    assert [check["name"] for check in last["invariants"]] == list(INVARIANTS)
    assert all(epoch["ok"] for epoch in epochs), text
    assert last["boundary_s"] < took  # the last boundary ran after the signal
    for epoch in epochs:
        assert (run / epoch["hlog"]).read_text().startswith("#[Histogram log format version")
    cases = list(ET.parse(run / "junit.xml").getroot().iter("testcase"))
    assert {case.get("name") for case in cases} >= set(INVARIANTS)
    assert document["final_verification"]["missing"] == 0
    assert text.strip().splitlines()[-2].startswith("soak INTERRUPTED")
    assert (run / "summary.json").exists() and (run / "replay.json").exists()
