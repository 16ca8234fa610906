"""``--shrink``: hand the fastest-failing run of each signature to ``stress shrink``.

Shrinking is its own command (``stress shrink RUN_DIR --budget B``); the sweep runs it as a
subprocess of this interpreter's stress, one signature after another, passing its output on
as it comes. A run whose folder is on another machine (a cluster without a shared folder) or
that was not a ``fail`` (a timeout has no finished replay to shrink) is left alone. What the
sweep records is where each shrunk run is: ``RUN_DIR/shrunk/``, which ``stress shrink`` writes
whole or not at all, whatever its budget cut short.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from stress.sweep.results import FailureGroup

__all__ = ["shrink_fastest", "shrunk_dir"]


def _stress(*words: str) -> list[str]:
    return [sys.executable, "-m", "stress", *words]


def shrunk_dir(run_dir: Path) -> Path | None:
    """``RUN_DIR/shrunk`` when ``stress shrink`` wrote it (its replay and its record)."""
    from stress.shrink.driver import SHRUNK

    folder = run_dir / SHRUNK
    whole = (folder / "replay.json").is_file() and (folder / "shrink.json").is_file()
    return folder if whole else None


def shrink_fastest(
    groups: list[FailureGroup],
    budget_s: float,
    out: TextIO,
    stopped: Callable[[], bool] = lambda: False,
) -> dict[str, str]:
    """Shrink each signature's fastest failing run whose folder is on this machine.

    Returns signature -> the shrunk run's folder, for each that has one (an earlier sweep's,
    when resumed, is kept rather than shrunk again). ``stopped`` ends the loop between runs
    (a SIGINT reaches the shrink itself, which keeps its best so far).
    """
    targets = [
        group for group in groups
        if group.outcome == "fail" and group.run_dir is not None and Path(group.run_dir).is_dir()
    ]
    if not targets:
        print("shrink: no failing run folder here to shrink", file=out)
        return {}
    shrunk: dict[str, str] = {}
    for group in targets:
        run_dir = Path(str(group.run_dir))
        done = shrunk_dir(run_dir)
        if done is None and not stopped():
            print(f"shrink {group.signature}: stress shrink {run_dir}", file=out, flush=True)
            _shrink(run_dir, budget_s, out)
            done = shrunk_dir(run_dir)
        elif done is not None:
            print(f"shrink {group.signature}: already shrunk in {done}", file=out)
        if done is not None:
            shrunk[group.signature] = str(done)
    return shrunk


def _shrink(run_dir: Path, budget_s: float, out: TextIO) -> int:
    """Run ``stress shrink`` on ``run_dir``, its output passed on line by line; its exit code."""
    with subprocess.Popen(
        _stress("shrink", str(run_dir), "--budget", f"{budget_s:g}"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as child:
        for line in child.stdout or ():
            out.write(line)
            out.flush()
    return child.returncode
