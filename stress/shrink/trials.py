"""One candidate run: the candidate's replay file, re-run for real, and its failure signature.

A trial writes the candidate as a replay file and runs it exactly as ``stress replay`` does
(:func:`stress.replay.run.load_replay`, then :func:`stress.engine.runner.run_simulation`) in
a run folder of its own under ``shrink-work/``: real threads or worker processes, the real
store, its faults and mutant, the real oracle. It runs in the shrink's own process, which
saves the interpreter's start-up on each of the dozens of runs a shrink makes; each run still
claims its own folder, its own databases and its own workers. A trial's human output goes to
``run.log`` in its folder. A folder whose trial proves nothing new is removed at once, so a
long shrink does not fill the disk.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stress.artifacts import ReplayFile, write_json_atomic
from stress.engine.interrupts import Interrupts
from stress.errors import StressError
from stress.signature import FailureParts

__all__ = ["Trial", "Trials", "failure_of"]


def failure_of(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The summary's failure block (signature and parts), or None for a run that passed."""
    failure = summary.get("failure")
    return failure if isinstance(failure, dict) else None


@dataclass(frozen=True)
class Trial:
    """What one run of a candidate ended with."""

    #: The parts of the run's failure; None when it passed (or was refused, or cut short).
    failure: FailureParts | None
    stop_reason: str
    #: The run's folder (replay.json, summary.json, plans/ of the candidate as it ran).
    run_dir: Path
    #: Why the run was not made, when it was refused (one line).
    refused: str | None = None

    @property
    def signature(self) -> str | None:
        return self.failure.signature() if self.failure is not None else None


class Trials:
    """Numbered trial folders under ``work``; runs stop when ``interrupts.abort`` is set."""

    def __init__(self, work: Path, interrupts: Interrupts) -> None:
        self.work = work
        self.interrupts = interrupts
        self.count = 0

    def run(self, candidate: ReplayFile) -> Trial:
        """Run ``candidate`` once, in ``work/NNNN/run``."""
        from stress.engine.runner import run_simulation
        from stress.replay.run import load_replay

        self.count += 1
        folder = self.work / f"{self.count:04d}"
        source = folder / "candidate.json"
        write_json_atomic(source, candidate.model_dump(mode="json", by_alias=True))
        run_dir = folder / "run"
        try:
            _, settings, pinned = load_replay(source, output_dir=run_dir)
            with (folder / "run.log").open("w", encoding="utf-8") as log:
                outcome = run_simulation(
                    settings, replay=pinned, out=log, interrupts=self.interrupts
                )
        except StressError as error:
            # A candidate the store or the settings refuse is one that does not fail the same
            # way; the shrink goes on with the others.
            return Trial(None, "refused", run_dir, f"{type(error).__name__}: {error}")
        failure = failure_of(outcome.summary)
        parts = FailureParts.of(failure) if failure is not None else None
        return Trial(parts, str(outcome.stop_reason), run_dir)

    def discard(self, trial: Trial) -> None:
        """Remove a trial's folder (the candidate, its log and its run)."""
        shutil.rmtree(trial.run_dir.parent, ignore_errors=True)
