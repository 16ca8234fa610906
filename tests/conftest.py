"""Every test's base: a clean environment, and one shared process-mode run (tests/README.md).

Shared helpers sit beside this file and are imported by name from any folder.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import psutil
import pytest
from engine_helpers import run, small_settings

from stress.engine.runner import RunOutcome


@pytest.fixture(autouse=True)
def _no_stress_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A STRESS_* variable of the caller's shell must not leak into a test."""
    for name in list(os.environ):
        if name.startswith("STRESS_"):
            monkeypatch.delenv(name)


#: Helpers that multiprocessing (and its fork, multiprocess) keep for the whole session by
#: design: started by the first test that needs them, then shared.
_SESSION_HELPERS = (".resource_tracker import main", ".forkserver import main")
#: How long a test's last children get to finish exiting before they count as left behind.
_EXIT_GRACE_S = 10.0


def _children() -> dict[int, psutil.Process]:
    return {child.pid: child for child in psutil.Process().children(recursive=True)}


def _describe(process: psutil.Process) -> str:
    try:
        return f"{process.pid} {' '.join(process.cmdline())[:120]}"
    except psutil.Error:
        return str(process.pid)


def _is_session_helper(process: psutil.Process) -> bool:
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:
        return True  # already gone
    return any(helper in command for helper in _SESSION_HELPERS)


@pytest.fixture(autouse=True)
def _no_process_left_behind() -> Iterator[None]:
    """A test that leaves a process running fails, and the process is killed.

    A stray worker (a turso process spinning on a lock, a run's child that outlived it) eats
    the 2 cores every later test runs on: the suite then fails or stalls far from the cause.
    """
    before = set(_children())
    yield
    new = [p for pid, p in _children().items() if pid not in before and not _is_session_helper(p)]
    _, alive = psutil.wait_procs(new, timeout=_EXIT_GRACE_S)
    names = [_describe(process) for process in alive]
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    assert not alive, f"the test left {len(alive)} process(es) running (killed now): {names}"


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
