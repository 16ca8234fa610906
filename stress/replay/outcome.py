"""Did the failure come back? A replay's outcome against the one its recording had.

The recording's outcome is its ``summary.json`` (beside ``replay.json``): the stop reason and,
for a failing run, the failure's signature. Without that file (a bare replay file) only the
stop reason of ``replay.json`` is known, and a failure is recognised by it alone. A replay
reproduces a failure when it fails with the same signature (the same stop reason, where no
signature was recorded). The ops of a replay are the recorded ones (the plan digests prove
it); the interleaving of the users and the timing are not, so a failure that needs one
interleaving may not come back: ``--tries`` runs it again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from stress.artifacts import ReplayFile
from stress.outcomes import StopReason

__all__ = ["RecordedOutcome", "Reproduction", "judge", "recorded_outcome", "replay_outcome"]

#: Stop reasons that make a run fail whatever else happened.
_FAILING = {
    StopReason.CRASH,
    StopReason.RESOURCE,
    StopReason.HARNESS,
    StopReason.INVARIANT,
    StopReason.STALLED,
}


class Reproduction(StrEnum):
    """What the replay's outcome was, next to the recording's."""

    CLEAN = "clean"  # both passed
    REPRODUCED = "reproduced"
    NOT_REPRODUCED = "not_reproduced"
    NEW_FAILURE = "new_failure"  # the recording passed, the replay failed


@dataclass(frozen=True)
class RecordedOutcome:
    stop_reason: str | None
    failed: bool
    #: The failure's signature and readable parts, when the recording's summary had them.
    signature: str | None = None
    detail: str | None = None

    def describe(self) -> str:
        if self.signature is not None:
            return f"{self.signature} ({self.detail})"
        return f"stop reason {self.stop_reason}"


def _summary_beside(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads((path.parent / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def recorded_outcome(path: Path, recorded: ReplayFile) -> RecordedOutcome:
    """The outcome of the run ``path`` (its replay.json) recorded."""
    summary = _summary_beside(path)
    if summary is None or "exit_code" not in summary:
        stop = recorded.stop_reason
        return RecordedOutcome(stop, stop in _FAILING)
    failure = summary.get("failure")
    if isinstance(failure, dict):
        signature, detail = str(failure.get("signature")), str(failure.get("detail"))
        return RecordedOutcome(summary.get("stop_reason"), True, signature, detail)
    return RecordedOutcome(summary.get("stop_reason"), summary["exit_code"] == 1)


def replay_outcome(summary: dict[str, Any]) -> RecordedOutcome:
    """The same facts of the replay's own run."""
    failure = summary.get("failure")
    if isinstance(failure, dict):
        signature, detail = str(failure["signature"]), str(failure["detail"])
        return RecordedOutcome(summary["stop_reason"], True, signature, detail)
    return RecordedOutcome(summary["stop_reason"], summary["exit_code"] == 1)


def judge(recorded: RecordedOutcome, replayed: RecordedOutcome) -> Reproduction:
    if not recorded.failed:
        return Reproduction.NEW_FAILURE if replayed.failed else Reproduction.CLEAN
    if not replayed.failed:
        return Reproduction.NOT_REPRODUCED
    if recorded.signature is not None:
        same = replayed.signature == recorded.signature
    else:
        same = replayed.stop_reason == recorded.stop_reason
    return Reproduction.REPRODUCED if same else Reproduction.NOT_REPRODUCED
