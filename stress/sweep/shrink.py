"""``--shrink``: hand the fastest-failing run of each signature to ``stress shrink``.

Shrinking is its own command (``stress shrink RUN_DIR``); the sweep calls it as a subprocess,
so it needs nothing of its internals. A stress without that command says so, and the run
folder is kept for it: the hook is here, the shrinking is not the sweep's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TextIO

from stress.sweep.results import FailureGroup

__all__ = ["shrink_available", "shrink_fastest"]


def _stress(*words: str) -> list[str]:
    return [sys.executable, "-m", "stress", *words]


def shrink_available() -> bool:
    """Whether this stress has ``stress shrink`` (its help exits 0; an unknown command, 2)."""
    done = subprocess.run(
        _stress("shrink", "--help"), capture_output=True, stdin=subprocess.DEVNULL, check=False
    )
    return done.returncode == 0


def shrink_fastest(groups: list[FailureGroup], out: TextIO) -> None:
    """Shrink each signature's fastest failing run whose folder is on this machine."""
    targets = [
        group for group in groups
        if group.outcome == "fail" and group.run_dir is not None and Path(group.run_dir).is_dir()
    ]
    if not targets:
        print("shrink: no failing run folder here to shrink", file=out)
        return
    if not shrink_available():
        for group in targets:
            print(
                f"shrink: this stress has no `stress shrink`; kept {group.run_dir} "
                f"(signature {group.signature}) for it",
                file=out,
            )
        return
    for group in targets:
        print(f"shrink {group.signature}: stress shrink {group.run_dir}", file=out, flush=True)
        done = subprocess.run(
            _stress("shrink", str(group.run_dir)),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        out.write(done.stdout + done.stderr)
