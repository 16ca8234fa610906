"""Every replay fixture under replay/ re-runs with exactly its recorded digests."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stress.replay.run import replay_run

# The failure bundles beside them (with a bundle.json) are held to their expected outcome by
# tests/corpus/test_corpus_bundles.py.
FIXTURES = sorted(
    path
    for path in (Path(__file__).resolve().parents[2] / "replay").glob("*/replay.json")
    if not (path.parent / "bundle.json").exists()
)


def test_fixtures_exist() -> None:
    assert FIXTURES, "replay/ should hold at least one fixture (python replay/regenerate.py)"


@pytest.mark.slow
@pytest.mark.parametrize("replay_file", FIXTURES, ids=lambda path: path.parent.name)
def test_fixture_replays_exactly(replay_file: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    verdict = replay_run(replay_file, output_dir=tmp_path / "replay", out=out)
    assert verdict.divergences == (), out.getvalue()
    assert verdict.exit_code == 0, out.getvalue()
    assert verdict.ops_checked > 0
    assert "replay verified" in out.getvalue()
