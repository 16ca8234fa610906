"""Every replay fixture in the repository's ``replay/`` still replays exactly.

The parameters are the files found now (``replay/*.json`` and ``replay/*/replay.json``), so a
new fixture is picked up without touching this file, plus one generated here, so the test
replays something even in a checkout without fixtures.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from engine_helpers import REPO, run, small_settings

from stress.artifacts import read_replay_file
from stress.replay.run import replay_run

_FIXTURES = sorted({*REPO.glob("replay/*.json"), *REPO.glob("replay/*/replay.json")})
_GENERATED = "generated"


@pytest.fixture(scope="module")
def generated_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fixture folder made the way replay/regenerate.py makes them: replay.json + plans/."""
    folder = tmp_path_factory.mktemp("fixture")
    outcome = run(small_settings(folder / "run", users="inserter=1,query=1", max_ops_per_user=15))
    assert outcome.exit_code == 0
    target = folder / "generated"
    (target / "plans").mkdir(parents=True)
    shutil.copy(outcome.run_dir / "replay.json", target / "replay.json")
    for digests in (outcome.run_dir / "plans").iterdir():
        shutil.copy(digests, target / "plans" / digests.name)
    # The original run folder goes, as it does for a committed fixture.
    shutil.rmtree(outcome.run_dir)
    return target / "replay.json"


@pytest.mark.parametrize(
    "fixture",
    [_GENERATED, *(str(path.relative_to(REPO)) for path in _FIXTURES)],
)
def test_replay_fixture_replays_exactly(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = request.getfixturevalue("generated_fixture") if fixture == _GENERATED else REPO / fixture
    recorded = read_replay_file(path)
    out = io.StringIO()
    verdict = replay_run(path, output_dir=tmp_path / "replay", out=out)
    assert (verdict.exit_code, verdict.divergences) == (0, ()), out.getvalue()
    assert verdict.users_checked == len(recorded.users)
    assert verdict.ops_checked == sum(user.ops_executed for user in recorded.users)
    for user in recorded.users:
        if user.op_digests is not None:
            recorded_digests = (path.parent / user.op_digests).read_bytes()
            replayed_digests = (tmp_path / "replay" / user.op_digests).read_bytes()
            assert recorded_digests == replayed_digests
