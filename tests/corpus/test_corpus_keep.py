"""``stress keep`` and ``stress corpus``: a run kept as a bundle, and bad names refused."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from engine_helpers import run, small_settings

from stress.cli.main import main
from stress.corpus.bundles import read_corpus, replay_bundle
from stress.engine.runner import RunOutcome

MUTANT_RUN = {
    "users": "inserter=1",
    "databases": 1,
    "max_ops_per_user": 60,
    "think_min_ms": 0,
    "think_max_ms": 0,
    "batch_min": 1,
    "batch_max": 10,
    "seed": 1,
    "mutant": "drop-write:20",
}


@pytest.fixture(scope="module")
def mutant_run(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    outcome = run(small_settings(tmp_path_factory.mktemp("keep") / "run", **MUTANT_RUN))
    assert outcome.summary["failure"] is not None, outcome.summary["stop_reason"]
    return outcome


@pytest.mark.parametrize("name", ["a/b", "../up", ".hidden", "", "x" * 65, "sp ace"])
def test_a_bad_name_is_refused_and_nothing_is_written(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    assert main(["keep", str(tmp_path), "--name", name, "--corpus", str(corpus)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"BundleError: {name}: not a bundle name"), err
    assert not corpus.exists()


def test_a_folder_that_is_not_a_run_is_not_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    assert main(["keep", str(tmp_path), "--name", "x", "--corpus", str(corpus)]) == 2
    assert capsys.readouterr().err.startswith("RunFolderError: ")
    assert not corpus.exists()


@pytest.mark.slow
def test_a_kept_mutant_run_is_a_bundle_that_fails_with_its_signature(
    mutant_run: RunOutcome, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    signature = mutant_run.summary["failure"]["signature"]
    argv = ["keep", str(mutant_run.run_dir), "--name", "dropped", "--corpus", str(corpus)]
    assert main(argv) == 0
    folder = corpus / f"{signature}-dropped"
    assert f"kept {folder}: expected: fails with {signature}" in capsys.readouterr().out
    bundle = json.loads((folder / "bundle.json").read_text())
    assert bundle["expected"] == {
        "outcome": "fails",
        "signature": signature,
        "stop_reason": "InvariantViolation",
    }
    assert bundle["failure"] == mutant_run.summary["failure"]
    assert bundle["mutant"] == "drop-write:20"
    environment = bundle["environment"]
    assert environment["python"] and environment["sqlite"] and environment["stress_version"]
    commit = environment["git_commit"]
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}", commit)
    assert bundle["command"] == f"stress replay corpus/{folder.name}/replay.json"
    # No path of the machine that ran it: not the run folder, not the profiles' folder.
    for name in ("bundle.json", "replay.json"):
        text = (folder / name).read_text()
        for path in (mutant_run.run_dir, tmp_path):
            assert str(path) not in text, (name, path, text)
        assert "/home/" not in text and '"/' not in text, name
    assert sorted(p.name for p in (folder / "plans").iterdir()) == ["user-0.digests"]

    # The same name again is refused, and the bundle is left as it was.
    assert main(argv) == 2
    assert "exists already" in capsys.readouterr().err

    (found,) = read_corpus(corpus)
    check = replay_bundle(found, output_dir=tmp_path / "replayed", record=True)
    assert check.as_expected and check.signature == signature
    assert main(["corpus", "--corpus", str(corpus)]) == 0
    listing = capsys.readouterr().out
    assert f"{signature}-dropped" in listing and "as expected" in listing


@pytest.mark.slow
def test_a_bundle_that_no_longer_fails_is_not_as_expected(
    mutant_run: RunOutcome,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check can fail: the bundle's mutant taken out, its replay passes, and that is a
    regression of the corpus (as a fixed bug's bundle that fails again would be)."""
    # `stress corpus --replay` writes its runs under ./runs, as a user's would: here, not in
    # the checkout.
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "corpus"
    main(["keep", str(mutant_run.run_dir), "--name", "fixed", "--corpus", str(corpus)])
    (found,) = read_corpus(corpus)
    replay_file = found.folder / "replay.json"
    document = json.loads(replay_file.read_text())
    document["config"]["mutant"] = None
    replay_file.write_text(json.dumps(document))
    check = replay_bundle(found, output_dir=tmp_path / "replayed")
    assert check.signature is None
    assert not check.as_expected
    assert main(["corpus", "--corpus", str(corpus), "--replay"]) == 1
    assert "NOT as expected" in capsys.readouterr().out


def test_the_shrunk_replay_is_kept_when_there_is_one(tmp_path: Path) -> None:
    """keep prefers RUN_DIR/shrunk/: a folder with only a shrunk run is still kept from it."""
    fixture = Path(__file__).resolve().parents[2] / "replay" / "threads-long-lived-block"
    run_dir = tmp_path / "run"
    shutil.copytree(fixture, run_dir / "shrunk")
    summary = {"stop_reason": "MaxOps", "exit_code": 0, "failure": None, "config": {}}
    (run_dir / "shrunk" / "summary.json").write_text(json.dumps(summary))
    assert main(["keep", str(run_dir), "--name", "small", "--corpus", str(tmp_path / "c")]) == 0
    kept = tmp_path / "c" / "clean-small"
    assert json.loads((kept / "bundle.json").read_text())["expected"] == {"outcome": "passes"}
    assert json.loads((kept / "replay.json").read_text())["users"] == json.loads(
        (fixture / "replay.json").read_text()
    )["users"]
