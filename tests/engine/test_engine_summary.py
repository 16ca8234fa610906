"""summary.json: built from its models, its schema generated from them, read back exactly."""

from __future__ import annotations

import copy
import io
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from stress.artifacts import schema_errors
from stress.cli.main import main
from stress.engine.runner import RunOutcome
from stress.summary import Summary, summary_schema

_PACKAGED = Path(__file__).resolve().parents[2] / "stress/schemas/summary.schema.json"


def test_the_packaged_summary_schema_is_the_generated_one() -> None:
    """Regenerate it with: python -c 'import json, stress.summary as s;
    print(json.dumps(s.summary_schema(), indent=2))' > stress/schemas/summary.schema.json"""
    assert json.loads(_PACKAGED.read_text()) == summary_schema()


def test_a_runs_summary_is_exactly_what_its_model_writes(process_run: RunOutcome) -> None:
    """Every key of the file is declared, with its type: a round trip changes no byte."""
    raw = (process_run.run_dir / "summary.json").read_bytes()
    document = orjson.loads(raw)
    assert document == process_run.summary
    again = Summary.model_validate(document).document()
    assert orjson.dumps(again, option=orjson.OPT_INDENT_2) + b"\n" == raw
    assert schema_errors(document, "summary") == []


def test_a_key_no_model_declares_is_refused(process_run: RunOutcome) -> None:
    """A section that grows a field without declaring it fails the run's build and the schema."""
    document = copy.deepcopy(process_run.summary)
    document["resources"]["monitor"]["surprise_ms"] = 1.0
    with pytest.raises(ValidationError, match=r"resources\.monitor\.surprise_ms"):
        Summary.model_validate(document)
    errors = schema_errors(document, "summary")
    assert any(e.startswith("resources/monitor") and "surprise_ms" in e for e in errors), errors


def test_verification_is_a_verdict_or_not_run_never_both(process_run: RunOutcome) -> None:
    document = copy.deepcopy(process_run.summary)
    verdict = document["verification"]
    assert verdict["ok"] is True
    document["verification"] = {"not_run": "skipped: SIGTERM during verification"}
    assert schema_errors(document, "summary") == []
    Summary.model_validate(document)
    document["verification"] = {**verdict, "not_run": "pending"}
    assert schema_errors(document, "summary") != []
    with pytest.raises(ValidationError):
        Summary.model_validate(document)


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda doc: doc.pop("users"), "field users: Field required"),
        (lambda doc: doc.pop("profiles"), "field profiles: Field required"),
        (lambda doc: doc["users"][0].update(database_idx="one"), "field users.0.database_idx"),
    ],
    ids=["no-users", "no-profiles", "bad-database"],
)
def test_verify_of_a_damaged_replay_file_is_one_line_and_exit_2(
    process_run: RunOutcome,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: object,
    said: str,
) -> None:
    """The oracle reads the typed model: a damaged file is refused before anything is read."""
    run_dir = tmp_path / "run"
    shutil.copytree(process_run.run_dir, run_dir)
    document = json.loads((run_dir / "replay.json").read_text())
    damage(document)  # type: ignore[operator]
    (run_dir / "replay.json").write_text(json.dumps(document))
    assert main(["verify", str(run_dir)], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"ReplayFormatError: {run_dir / 'replay.json'}"), err
    assert said in err, err
    assert not (run_dir / "verification.json").exists()


@pytest.mark.parametrize("sidecars", ["none", "left-by-a-reader"])
def test_verify_of_a_run_on_read_only_media_prints_its_verdict(
    process_run: RunOutcome, tmp_path: Path, sidecars: str
) -> None:
    """A run folder kept read-only (an archive, a CI artifact) is still checked: the verdict
    is printed and stands; only verification.json is reported as not written. An archive
    holds meta.db alone, or with the empty -wal and the -shm a read-only reader leaves."""
    run_dir = tmp_path / "run"
    shutil.copytree(process_run.run_dir, run_dir)
    for database in run_dir.glob("db-*/meta.db"):
        for sidecar in database.parent.glob("meta.db-*"):
            sidecar.unlink()
        if sidecars == "left-by-a-reader":
            sqlite3.connect(f"file:{database}?mode=ro", uri=True).execute(
                "SELECT count(*) FROM sqlite_master"
            ).fetchone()
            assert database.with_name("meta.db-shm").exists()
    mounted = subprocess.run(["mount", "--bind", str(run_dir), str(run_dir)], check=False)
    if mounted.returncode != 0:
        pytest.skip("bind mount refused (needs root)")
    try:
        remount = ["mount", "-o", "remount,bind,ro", str(run_dir)]
        if subprocess.run(remount, check=False).returncode != 0:
            pytest.skip("read-only remount refused")
        out = io.StringIO()
        code = main(["verify", str(run_dir)], out=out)
    finally:
        subprocess.run(["umount", "--lazy", str(run_dir)], check=True)  # busy or not
    text = out.getvalue()
    assert code == 0, text
    assert "not written: " in text and "Read-only file system" in text, text
    assert "missing" in text, text
    assert not (run_dir / "verification.json").exists()
