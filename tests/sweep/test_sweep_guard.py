"""The run's guard: it ends as its run ends, and kills the run's group when the sweep is gone.

Real processes (a shell, ``sleep``) and a real pipe; no sweep and no Dask.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from stress.sweep import guard


def _guarded(*command: str, **options: object) -> tuple[subprocess.Popen[str], int]:
    """The guard of ``command``, leading a group of its own; and the pipe's writing end."""
    watch, held = os.pipe()
    try:
        child = subprocess.Popen(  # type: ignore[call-overload]
            [sys.executable, "-I", "-S", guard.__file__, str(watch), "--", *command],
            pass_fds=(watch,), start_new_session=True, text=True, **options,
        )
    finally:
        os.close(watch)
    return child, held


def _gone(pid: int) -> bool:
    """Whether ``pid`` is dead: gone, or a zombie nobody reaped yet (the guard, its parent,
    died with it)."""
    try:
        process = psutil.Process(pid)
        psutil.wait_procs([process], timeout=10)
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize(("script", "code"), [("exit 0", 0), ("exit 3", 3), ("kill -TERM $$", -15)])
def test_the_guard_ends_as_its_run_ends(script: str, code: int) -> None:
    child, held = _guarded("sh", "-c", script)
    try:
        assert child.wait(timeout=30) == code
    finally:
        os.close(held)


def test_when_the_pipe_closes_the_guard_kills_its_whole_group() -> None:
    """The sweep's end of the pipe closes as its process dies, a ``kill -9`` too."""
    child, held = _guarded("sh", "-c", "sleep 60 & echo $!; wait", stdout=subprocess.PIPE)
    assert child.stdout is not None
    grandchild = int(child.stdout.readline())  # the sleep, two levels below the guard
    shell = psutil.Process(child.pid).children()[0].pid
    assert psutil.Process(grandchild).is_running()
    os.close(held)
    assert child.wait(timeout=30) == -9  # the guard killed its group, itself included
    assert _gone(shell) and _gone(grandchild)
    child.stdout.close()


def test_a_guard_that_does_not_lead_its_group_refuses_to_start() -> None:
    """Its kill would take its caller's group: here a shell's (never the test's own)."""
    watch, held = os.pipe()
    try:
        done = subprocess.run(
            ["setsid", "sh", "-c", f'"$0" -I -S {guard.__file__} {watch} -- true; echo "sh lives"',
             sys.executable],
            pass_fds=(watch,), capture_output=True, text=True, timeout=30, check=False,
        )
    finally:
        os.close(watch)
        os.close(held)
    assert done.stdout == "sh lives\n"
    assert "must lead a process group of its own" in done.stderr
