"""Every test's base: a clean environment, and one shared process-mode run (tests/README.md).

Shared helpers sit beside this file and are imported by name from any folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from engine_helpers import run, small_settings
from process_guard import adopt_orphans, descendants, stop_left_behind

from stress.engine.runner import RunOutcome


@pytest.fixture(autouse=True)
def _no_stress_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A STRESS_* variable of the caller's shell must not leak into a test."""
    for name in list(os.environ):
        if name.startswith("STRESS_"):
            monkeypatch.delenv(name)


#: How long a test's last children get to finish exiting before they count as left behind.
_EXIT_GRACE_S = 10.0


def pytest_configure(config: pytest.Config) -> None:
    adopt_orphans()


@pytest.fixture(autouse=True)
def _no_process_left_behind() -> Iterator[None]:
    """A test that leaves a process running fails, and the process is killed
    (tests/process_guard.py says why)."""
    before = descendants()
    yield
    left = stop_left_behind(before, _EXIT_GRACE_S)
    assert not left, f"the test left {len(left)} process(es) running (killed now): {left}"


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
