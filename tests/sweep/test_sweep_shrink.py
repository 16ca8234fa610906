"""``--shrink``: the fastest failing run of each signature goes to the real ``stress shrink``."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from sweep_helpers import small_plan

from stress.cli.main import main
from stress.engine.interrupts import Interrupts
from stress.sweep.driver import run_sweep
from stress.sweep.results import FailureGroup
from stress.sweep.shrink import shrink_fastest


def _group(run_dir: Path | None, outcome: str = "fail") -> FailureGroup:
    return FailureGroup(
        signature="abcdefabcdef",
        count=2,
        first_seed=3,
        fastest_seed=5,
        fastest_seconds=1.5,
        outcome=outcome,
        stop_reason="InvariantViolation",
        detail="missing",
        run_dir=None if run_dir is None else str(run_dir),
        host="here",
    )


@pytest.mark.slow
def test_a_folder_stress_shrink_refuses_is_passed_on_and_not_recorded(tmp_path: Path) -> None:
    """The sweep runs the real command; its refusal (not a run folder) reaches the output."""
    out = io.StringIO()
    assert shrink_fastest([_group(tmp_path)], 30.0, out) == {}
    printed = out.getvalue()
    assert printed.startswith(f"shrink abcdefabcdef: stress shrink {tmp_path}\n")
    assert "RunFolderError" in printed and "not a run folder" in printed
    assert list(tmp_path.iterdir()) == []  # nothing written into a folder it refused


def test_a_timeout_or_a_folder_elsewhere_is_not_shrunk(tmp_path: Path) -> None:
    out = io.StringIO()
    groups = [_group(tmp_path, "timeout"), _group(tmp_path / "on-another-host")]
    assert shrink_fastest(groups, 30.0, out) == {}
    assert out.getvalue() == "shrink: no failing run folder here to shrink\n"


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--shrink", "--shrink-budget", "0s"], "--shrink-budget"),
        (["--shrink-budget", "1m"], "goes with --shrink"),
    ],
)
def test_a_bad_shrink_budget_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], words: str
) -> None:
    folder = tmp_path / "sweep"
    code = main(["sweep", "--seeds", "2", "--output-dir", str(folder), *flags], out=io.StringIO())
    assert code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("ConfigError:") and words in line
    assert not folder.exists()


@pytest.mark.slow
def test_a_sweep_with_shrink_ends_with_the_failing_runs_shrunk_folder(tmp_path: Path) -> None:
    """Seed 1 of 3 runs a store mutant; --shrink with a small budget writes its shrunk/."""

    def plant(seed: int) -> dict[str, str]:
        return {"STRESS_MUTANT": "drop-write:3"} if seed == 1 else {}

    plan = small_plan(tmp_path / "sweep", range(0, 3), shrink=True, shrink_budget_s=8.0)
    out = io.StringIO()
    outcome = run_sweep(plan, out, Interrupts(), overrides=plant)
    printed = out.getvalue()
    assert outcome.exit_code == 1, printed
    (failed,) = [result for result in outcome.results if result.failed]
    run_dir = Path(str(failed.run_dir))
    shrunk = run_dir / "shrunk"
    record = orjson.loads((shrunk / "shrink.json").read_bytes())
    assert (record["source"], record["source_signature"]) == (str(run_dir), failed.signature)
    assert (shrunk / "replay.json").is_file() and (shrunk / "reproduce.txt").is_file()
    assert f"shrink {failed.signature}: stress shrink {run_dir}" in printed
    assert f"shrunk run: {shrunk}" in printed  # stress shrink's own output, passed on
    # Where the shrunk run is: in sweep.json and in the closing table, after the shrink.
    (group,) = orjson.loads((tmp_path / "sweep" / "sweep.json").read_bytes())["failures"]
    assert (group["fastest_seed"], group["shrunk_dir"]) == (1, str(shrunk))
    table = printed[printed.index("signature") :]
    assert f"shrunk {failed.signature}: stress replay {shrunk}/replay.json" in table
