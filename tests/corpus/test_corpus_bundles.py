"""Every failure bundle in replay/ replays to its expected outcome.

A bundle (a folder of replay/ with ``bundle.json``, made by ``stress keep``) of a mutant run
must still fail with its signature; a clean bundle must pass. The plain fixtures (no
``bundle.json``) are replayed by tests/replay/test_replay_fixtures.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stress.corpus.bundles import Bundle, read_corpus, replay_bundle

CORPUS = Path(__file__).resolve().parents[2] / "replay"
BUNDLES = [bundle for bundle in read_corpus(CORPUS) if not bundle.is_fixture]


def test_the_corpus_lists_every_folder_of_replay() -> None:
    listed = {bundle.folder.name for bundle in read_corpus(CORPUS)}
    assert listed == {path.parent.name for path in CORPUS.glob("*/replay.json")}
    assert BUNDLES, "replay/ should hold at least one bundle (stress keep RUN_DIR)"


@pytest.mark.slow
@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda bundle: bundle.folder.name)
def test_bundle_replays_to_its_expected_outcome(bundle: Bundle, tmp_path: Path) -> None:
    out = io.StringIO()
    check = replay_bundle(bundle, output_dir=tmp_path / "replay", out=out)
    assert check.divergences == 0, out.getvalue()
    assert check.signature == bundle.signature, out.getvalue()
    assert check.as_expected, out.getvalue()
