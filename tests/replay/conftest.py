"""Fixtures of the replay tests: one shared process-mode run."""

from __future__ import annotations

import pytest
from engine_helpers import run, small_settings

from stress.engine.runner import RunOutcome


@pytest.fixture(scope="session")
def process_run(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    """Four users (every class) over two worker processes and two databases, by count.

    Shared by the replay tests, which only read its folder (tampered copies of its replay
    file are written beside it under new names).
    """
    run_dir = tmp_path_factory.mktemp("process-run") / "run"
    outcome = run(small_settings(run_dir, processes=2, max_ops_per_user=30))
    assert outcome.exit_code == 0, outcome.summary["harness_errors"]
    return outcome
