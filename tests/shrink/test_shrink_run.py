"""``stress shrink`` end to end on a real mutant run, and its refusals of bad input."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import REPO, run, small_settings

from stress.cli.main import main
from stress.engine.runner import RunOutcome
from stress.replay.outcome import Reproduction
from stress.replay.run import replay_run
from stress.shrink.driver import shrink_run
from stress.signature import FailureParts

#: Two users, one database, 120 ops each; seed 1 with drop-write:50 drops a few bulk inserts
#: of user 0 in more than one table (the signature reads "missing via bulk_insert"); a few of
#: its ops drop rows of one table only (the shrunk run's reads "missing cli_invocations").
MUTANT_RUN = {
    "users": "inserter=1,query=1",
    "databases": 1,
    "max_ops_per_user": 120,
    "think_min_ms": 0,
    "think_max_ms": 0,
    "batch_min": 1,
    "batch_max": 10,
    "seed": 1,
    "mutant": "drop-write:50",
}


@pytest.fixture(scope="module")
def mutant_run(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    outcome = run(small_settings(tmp_path_factory.mktemp("mutant") / "run", **MUTANT_RUN))
    assert outcome.exit_code == 1, outcome.summary["stop_reason"]
    assert outcome.summary["failure"] is not None
    return outcome


@pytest.mark.slow
def test_a_mutant_run_shrinks_and_its_shrunk_replay_fails_the_same_way(
    mutant_run: RunOutcome, tmp_path: Path
) -> None:
    source = mutant_run.summary["failure"]
    out = io.StringIO()
    shrunk = shrink_run(mutant_run.run_dir, budget_s=300, tries=1, out=out)
    log = out.getvalue()
    # The same failure in fewer rows, all in one table now: narrowed, never another bug.
    assert shrunk.source_signature == source["signature"], log
    assert source["table"] is None and shrunk.signature != source["signature"], log
    signature = shrunk.signature
    assert "fails the same way, narrowed to InvariantViolation/missing cli_invocations" in log
    assert f"signature {source['signature']} -> {signature} (the same failure, narrowed)" in log
    assert (shrunk.users_before, shrunk.ops_before) == (2, 240)
    # The query user writes nothing: it goes, and the inserter's ops are cut.
    assert shrunk.users_after == 1, log
    assert shrunk.ops_after < 120, log
    assert "ops: every user's op count cut together" in log
    assert re.search(r"users \[0\] \(1 users, \d+ ops\): fails the same way", log), log
    assert f"reproduce: stress replay {mutant_run.run_dir / 'shrunk' / 'replay.json'}" in log
    folder = mutant_run.run_dir / "shrunk"
    written = json.loads((folder / "shrink.json").read_text())
    assert written["ops"] == [240, shrunk.ops_after]
    assert (written["signature"], written["source_signature"]) == (signature, source["signature"])
    failure = json.loads((folder / "summary.json").read_text())["failure"]
    assert failure["signature"] == signature
    assert FailureParts.of(failure).narrows(FailureParts.of(source))
    assert (folder / "reproduce.txt").read_text().strip() == shrunk.command
    # Only the best run's folder is left of the trials.
    assert len(list((mutant_run.run_dir / "shrink-work").iterdir())) <= 1

    replayed = io.StringIO()
    verdict = replay_run(folder / "replay.json", output_dir=tmp_path / "again", out=replayed)
    assert verdict.reproduction is Reproduction.REPRODUCED, replayed.getvalue()
    assert verdict.outcome.summary["failure"]["signature"] == signature
    assert verdict.divergences == ()
    assert f"failure reproduced: {signature}" in replayed.getvalue()


def _files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def test_a_folder_that_is_not_a_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("not a run")
    before = _files_under(tmp_path)
    assert main(["shrink", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"RunFolderError: {tmp_path}: not a run folder (no replay.json or summary.json); "
        "pass the folder a run wrote"
    )
    assert _files_under(tmp_path) == before
    assert main(["shrink", str(tmp_path / "gone")]) == 2
    assert "no such folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value"), [("--budget", "0"), ("--budget", "soon"), ("--tries", "0")]
)
def test_a_bad_budget_or_tries_is_refused(
    flag: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["shrink", str(tmp_path), flag, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"ConfigError: {flag}={value}: "), err
    assert _files_under(tmp_path) == set()


@pytest.mark.slow
def test_a_run_that_did_not_fail_is_refused(
    process_run: RunOutcome, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _files_under(process_run.run_dir)
    assert main(["shrink", str(process_run.run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the run did not fail" in err[0], err
    assert _files_under(process_run.run_dir) == before


@pytest.mark.slow
def test_sigint_keeps_the_best_so_far(mutant_run: RunOutcome, tmp_path: Path) -> None:
    """A real SIGINT to ``stress shrink``: exit 130, and shrunk/ holds a failing replay."""
    command = [sys.executable, "-m", "stress", "shrink", str(mutant_run.run_dir), "--tries", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRESS_")}
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as shrink:
        assert shrink.stdout is not None
        lines = []
        for line in shrink.stdout:
            lines.append(line)
            if line.startswith("users: ddmin"):  # the first trial run is starting
                shrink.send_signal(signal.SIGINT)
                break
        lines.extend(shrink.stdout)
        code = shrink.wait(timeout=120)
    text = "".join(lines)
    assert code == 130, text
    assert "shrunk (interrupted: the best so far)" in text
    shrunk = json.loads((mutant_run.run_dir / "shrunk" / "shrink.json").read_text())
    assert shrunk["cut_short"] == "interrupted"
    source = mutant_run.summary["failure"]
    assert shrunk["source_signature"] == source["signature"]
    failure = json.loads((mutant_run.run_dir / "shrunk" / "summary.json").read_text())["failure"]
    assert failure["signature"] == shrunk["signature"]
    assert FailureParts.of(failure).narrows(FailureParts.of(source))
