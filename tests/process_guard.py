"""No test may leave a process running: the guard every test runs under (see conftest.py).

A stray worker (a turso process spinning on a lock, a run's child that outlived it) eats the
2 cores every later test runs on: the suite then fails or stalls far from the cause. So each
test's new descendants must be gone when it ends; those still running after a grace period
are named and killed, and the test fails.
"""

from __future__ import annotations

import contextlib
import ctypes

import psutil

#: Helpers that multiprocessing (and its fork, multiprocess) keep for the whole session by
#: design: started by the first test that needs them, then shared.
_SESSION_HELPERS = (".resource_tracker import main", ".forkserver import main")
#: prctl(2)'s PR_SET_CHILD_SUBREAPER (Linux).
_PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> None:
    """Make this process the reaper of its descendants' orphans.

    A worker whose parent died (a killed ``stress run`` of a sweep, a crashed forkserver) is
    then reparented here instead of to init, so :func:`descendants` still sees it.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def descendants() -> set[int]:
    """The pids of every process below this one (orphans included once adopted)."""
    return {child.pid for child in psutil.Process().children(recursive=True)}


def stop_left_behind(before: set[int], grace_s: float) -> list[str]:
    """Kill the descendants not in ``before`` still running after ``grace_s``; name them.

    Those that end within the grace period are reaped (an adopted orphan would otherwise
    stay a zombie of this process).
    """
    new = [
        child
        for child in psutil.Process().children(recursive=True)
        if child.pid not in before and not _is_session_helper(child)
    ]
    _, alive = psutil.wait_procs(new, timeout=grace_s)
    names = [_describe(process) for process in alive]
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=grace_s)
    return names


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
