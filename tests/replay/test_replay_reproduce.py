"""A replay says whether the recorded failure came back, and a failing run ends by naming it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from engine_helpers import small_settings

from stress.cli.main import main
from stress.engine.runner import RunOutcome, run_simulation
from stress.replay.outcome import Reproduction
from stress.replay.run import replay_run

pytestmark = pytest.mark.slow


def _mutant_run(folder: Path) -> tuple[RunOutcome, str]:
    out = io.StringIO()
    settings = small_settings(folder, mutant="corrupt-row:5", max_ops_per_user=60)
    return run_simulation(settings, out=out), out.getvalue()


def test_a_failing_run_ends_with_its_signature_replay_and_shrink(tmp_path: Path) -> None:
    outcome, printed = _mutant_run(tmp_path / "run")
    failure = outcome.summary["failure"]
    assert outcome.exit_code == 1 and failure["check"] == "changed"
    assert failure["stop_reason"] == "InvariantViolation"
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["failure"] == failure
    assert outcome.replay["config"]["mutant"] == "corrupt-row:5"
    assert printed.splitlines()[-3:] == [
        f"failure {failure['signature']}: {failure['detail']}",
        f"replay this run: stress replay {tmp_path / 'run' / 'replay.json'}",
        f"shrink it: stress shrink {tmp_path / 'run'}",
    ]


def test_a_mutant_failure_is_reproduced_by_its_replay(tmp_path: Path) -> None:
    outcome, _ = _mutant_run(tmp_path / "run")
    signature = outcome.summary["failure"]["signature"]
    out = io.StringIO()
    verdict = replay_run(outcome.run_dir / "replay.json", output_dir=tmp_path / "again", out=out)
    assert verdict.divergences == ()
    assert verdict.reproduction is Reproduction.REPRODUCED, out.getvalue()
    assert verdict.exit_code == 0
    assert verdict.outcome.summary["failure"]["signature"] == signature
    assert f"failure reproduced: {signature} (" in out.getvalue()


def test_a_clean_run_has_no_failure_and_its_replay_is_clean(tmp_path: Path) -> None:
    out = io.StringIO()
    outcome = run_simulation(small_settings(tmp_path / "run", max_ops_per_user=20), out=out)
    assert outcome.exit_code == 0 and outcome.summary["failure"] is None
    assert "shrink it" not in out.getvalue()
    code = main(
        ["replay", str(tmp_path / "run" / "replay.json"), "--output-dir", str(tmp_path / "again")],
        io.StringIO(),
    )
    assert code == 0


def test_tries_must_be_a_whole_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", "x.json", "--tries", "0"])
    assert exit_info.value.code == 2
    assert "--tries: '0': must be a whole number >= 1" in capsys.readouterr().err
