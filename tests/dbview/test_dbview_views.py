"""``stress db``: the operator's views of a real run's databases, read-only.

Figures match the files (row counts, the newest ids), JSON and text agree, no file of the run
changes by being looked at, and bad input is one line with exit 2.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from pathlib import Path

import pytest

from stress.cli.main import main
from stress.engine.runner import RunOutcome

pytestmark = pytest.mark.slow


def _db(run_dir: Path, *words: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["db", str(run_dir), *words], out=out)
    return code, out.getvalue()


def _digests(run_dir: Path) -> dict[str, str]:
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(run_dir.glob("db-*/*"))
        if path.is_file()
    }


def test_the_views_match_the_files_and_change_nothing(process_run: RunOutcome) -> None:
    run_dir = process_run.run_dir
    before = _digests(run_dir)
    code, text = _db(run_dir, "hot-tables", "--json")
    assert code == 0
    hot = json.loads(text)
    with sqlite3.connect(run_dir / "db-0" / "meta.db") as conn:
        (tokens,) = conn.execute("SELECT count(*) FROM token_usage").fetchone()
        (newest,) = conn.execute("SELECT max(id) FROM token_usage").fetchone()
    row = next(r for r in hot if r["table"] == "token_usage")
    assert row["db-0"] == tokens > 0
    assert [r["rows"] for r in hot] == sorted((r["rows"] for r in hot), reverse=True)
    code, text = _db(run_dir, "recent", "token_usage", "--limit", "3", "--json")
    recent = [r for r in json.loads(text) if r["db"] == "db-0"]
    assert [r["id"] for r in recent] == [newest, newest - 1, newest - 2]
    code, text = _db(run_dir, "hot-tables")
    assert text.splitlines()[0].split()[:2] == ["table", "rows"]
    assert f"token_usage {row['rows']} " in " ".join(text.split()) + " "
    for view in ("summary", "delivery", "spool"):
        code, text = _db(run_dir, view, "--json")
        assert code == 0 and isinstance(json.loads(text), list)
    summary = json.loads(_db(run_dir, "summary", "--json")[1])
    assert [s["db"] for s in summary] == ["db-0", "db-1"]
    assert _digests(run_dir) == before


def test_bad_input_is_one_line_and_exit_2(
    process_run: RunOutcome, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _db(process_run.run_dir, "recent")[0] == 2
    assert _db(process_run.run_dir, "recent", "no_such_table")[0] == 2
    assert _db(tmp_path, "hot-tables")[0] == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(line.startswith("DbViewError: ") for line in lines)
    assert "no db-N/meta.db here" in lines[2]
