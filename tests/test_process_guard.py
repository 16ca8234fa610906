"""The guard that fails a test leaving a process behind, on real processes."""

from __future__ import annotations

import subprocess
import sys

import psutil
from process_guard import descendants, stop_left_behind

_SLEEPER = "import time; time.sleep(120)"


def test_an_orphaned_grandchild_is_found_named_and_killed() -> None:
    before = descendants()
    # The child starts a grandchild and exits: the grandchild is adopted by this process.
    launcher = (
        "import subprocess, sys; "
        f"print(subprocess.Popen([sys.executable, '-c', {_SLEEPER!r}], "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"
    )
    printed = subprocess.run(
        [sys.executable, "-c", launcher], check=True, capture_output=True, text=True
    )
    grandchild = int(printed.stdout)
    assert grandchild in descendants()

    left = stop_left_behind(before, grace_s=0.5)

    assert len(left) == 1 and left[0].startswith(f"{grandchild} ") and "sleep(120)" in left[0]
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == "zombie"
    assert grandchild not in descendants()


def test_a_child_that_ends_within_the_grace_period_is_not_left_behind() -> None:
    before = descendants()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    assert stop_left_behind(before, grace_s=30.0) == []
    child.wait()
