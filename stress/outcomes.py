"""How a run ended: the stop reasons every layer reports and the artifacts record."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["StopReason"]


class StopReason(StrEnum):
    """Why a run stopped; the value is what ``summary.json`` and ``replay.json`` hold."""

    DURATION = "DurationElapsed"
    OP_LIMIT = "OpLimitReached"
    USER_ABORT = "UserAbort"
    CRASH = "CrashDetected"
    RESOURCE = "ResourceLimit"
    HARNESS = "HarnessError"
    INVARIANT = "InvariantViolation"
    STALLED = "Stalled"
