"""``stress selftest``: every store mutant, run for a moment, must be caught by the oracle.

This is how a user learns to trust the oracle (Jepsen validates its checkers the same way):
each mutant of :data:`stress.mutants.MUTANT_ARGS` runs the real store in a real, small run
(threads, as a default run; a temporary folder), and the run must fail with the check the
mutant names as its catcher. A mutant not caught is an oracle gap.
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from stress.config import settings_from_dict
from stress.engine.runner import run_simulation
from stress.mutants import MUTANT_ARGS, caught_by, selftest_mutants

__all__ = ["SELFTEST_CONFIG", "SelftestRow", "format_selftest", "run_selftest"]

#: A small run each mutant gets: 3 users on one database, tiny batches, no think time, a
#: fixed number of ops (so a run lasts about as long as its work, not a clock).
SELFTEST_CONFIG: dict[str, object] = {
    "users": "inserter=2,mixed=1",
    "databases": 1,
    "processes": 0,
    "think_min_ms": 0,
    "think_max_ms": 2,
    "batch_min": 5,
    "batch_max": 40,
    "max_ops_per_user": 150,
    "log_interval": 1,
}
#: Each mutant strikes 1 in this many times, so a short run meets it a few dozen times.
SELFTEST_ONE_IN = 10


@dataclass(frozen=True)
class SelftestRow:
    mutant: str
    #: The check that must catch it, and the one that did (None: the run passed).
    expected: str
    check: str | None
    signature: str | None
    #: Wall time of the run, verification included, in seconds.
    seconds: float

    @property
    def caught(self) -> bool:
        return self.check == self.expected


def _one(name: str, seed: int, folder: Path) -> SelftestRow:
    arg = f"{name}:{SELFTEST_ONE_IN}" if MUTANT_ARGS[name].meaning else name
    config = {**SELFTEST_CONFIG, "seed": seed, "mutant": arg, "output_dir": str(folder / name)}
    started = time.monotonic()
    outcome = run_simulation(settings_from_dict(config), out=io.StringIO())
    seconds = time.monotonic() - started
    failure = outcome.summary.get("failure")
    check = failure["check"] if failure else None
    signature = failure["signature"] if failure else None
    return SelftestRow(arg, caught_by(name), check, signature, seconds)


def run_selftest(
    seed: int = 1, mutants: Sequence[str] | None = None, out: TextIO | None = None
) -> list[SelftestRow]:
    """Run each mutant (all by default) in its own small run; one row each."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="stress-selftest-") as folder:
        for name in mutants if mutants is not None else selftest_mutants():
            rows.append(_one(name, seed, Path(folder)))
            if out is not None:
                print(format_selftest(rows[-1:], header=False), file=out, flush=True)
    return rows


def format_selftest(rows: Sequence[SelftestRow], header: bool = True) -> str:
    """The table: mutant, caught, by which check, signature, seconds to catch."""
    lines = []
    if header:
        lines.append(f"{'mutant':<22} {'caught':<6} {'check':<22} {'signature':<12} seconds")
    for row in rows:
        caught = "yes" if row.caught else "no"
        check = row.check or "-"
        if not row.caught:
            check += f" (expected {row.expected})"
        lines.append(
            f"{row.mutant:<22} {caught:<6} {check:<22} {row.signature or '-':<12} "
            f"{row.seconds:7.1f}"
        )
    return "\n".join(lines)
