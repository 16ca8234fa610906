"""Every test's base: a clean environment, and one shared process-mode run (tests/README.md).

Shared helpers sit beside this file and are imported by name from any folder.
"""

from __future__ import annotations

import os

import pytest
from engine_helpers import run, small_settings

from stress.engine.runner import RunOutcome


@pytest.fixture(autouse=True)
def _no_stress_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A STRESS_* variable of the caller's shell must not leak into a test."""
    for name in list(os.environ):
        if name.startswith("STRESS_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def process_run(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    """Four users (every class) over two worker processes and two databases, by count.

    Made once, when a test first asks for it; shared by the replay and summary tests, which
    only read its folder (tampered copies of its replay file are written beside it under
    new names).
    """
    run_dir = tmp_path_factory.mktemp("process-run") / "run"
    outcome = run(small_settings(run_dir, processes=2, max_ops_per_user=30))
    assert outcome.exit_code == 0, outcome.summary["harness_errors"]
    return outcome
