"""`stress verify` names a failing verdict by the same signature the run itself printed, so a
folder checked after the fact groups with the runs that fail the same way; a clean verdict
prints no failure line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from engine_helpers import run, small_settings

from stress.cli.main import main
from stress.signature import FailureParts


def _verify(run_dir: Path) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = main(["verify", str(run_dir)], out)
    return code, out.getvalue().splitlines()


@pytest.mark.slow
def test_a_failing_verdict_prints_the_runs_own_signature(tmp_path: Path) -> None:
    outcome = run(small_settings(tmp_path / "run", mutant="drop-write:5", max_ops_per_user=40))
    failure = outcome.summary["failure"]
    assert outcome.exit_code == 1 and failure is not None and failure["check"] == "missing"

    code, lines = _verify(outcome.run_dir)

    assert code == 1
    parts = FailureParts(*(failure[k] for k in ("stop_reason", "check", "op", "table")))
    assert parts.signature() == failure["signature"]  # the run's own parts, hashed alike
    printed = [line for line in lines if line.startswith("failure ")]
    assert printed == [f"failure {failure['signature']}: {parts.readable()}"], lines


def test_a_clean_verdict_prints_no_failure_line(tmp_path: Path) -> None:
    outcome = run(small_settings(tmp_path / "run", max_ops_per_user=10))
    assert outcome.exit_code == 0

    code, lines = _verify(outcome.run_dir)

    assert code == 0
    assert not [line for line in lines if line.startswith("failure ")], lines
