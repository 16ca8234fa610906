"""One run's outcome as a sweep records it, and the signature that groups failures.

The worker that ran it reads its folder (``summary.json``, else ``replay.json`` of a run that
never finished) and sends back this small record, so results reach the sweep without a
shared folder. A failing run's signature is the one its ``summary.json`` gives in
``failure.signature`` (12 hex); a summary without that block (an older stress, or none
written: a timeout, a crash of the run itself) gets one derived here from what is known, the
stop reason or the outcome, so equal failures still group together.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

__all__ = [
    "FAILED",
    "Outcome",
    "RunResult",
    "failure_of",
    "fallback_signature",
    "ops_of",
]

#: How a run ended, as far as the sweep is concerned.
Outcome = Literal["pass", "fail", "timeout", "error", "cancelled"]
#: The outcomes that count as a failing run (exit 1 of the sweep).
FAILED: frozenset[str] = frozenset({"fail", "timeout", "error"})

_SIGNATURE = re.compile(r"[0-9a-f]{12}")


@dataclass(frozen=True)
class RunResult:
    """One finished (or cancelled) run: a line of ``sweep.ndjson``."""

    seed: int
    config_digest: str
    outcome: Outcome
    #: The run's exit code; None when the sweep killed it (timeout, cancel).
    exit_code: int | None
    #: 12 hex grouping equal failures; None for a passing or cancelled run.
    signature: str | None
    stop_reason: str | None
    #: Wall-clock seconds from start to exit (or kill).
    seconds: float
    #: Operations the run executed (summary.json, else replay.json's last counts).
    ops: int | None
    #: The kept run folder (None: deleted, as a passing run's is).
    run_dir: str | None
    #: The machine that ran it (a cluster's failing folders stay there without a shared one).
    host: str
    #: What failed, in a line: summary.json's failure detail or stop reason, the timeout, ...
    detail: str | None = None
    #: The Dask worker that ran it (its address); None in lines of an older sweep.
    worker: str | None = None
    #: When it started, in Unix seconds (the worker's clock); None in an older sweep's lines.
    started_at: float | None = None
    #: The ``STRESS_*`` variables this seed set over the base (its swarm draw); empty when
    #: every run has the base configuration, None in an older sweep's lines.
    overrides: dict[str, str] | None = None

    @property
    def failed(self) -> bool:
        return self.outcome in FAILED

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        return cls(**data)


def fallback_signature(*facts: str) -> str:
    """12 hex from what is known of a failure without ``failure.signature``."""
    text = "\x1f".join(("stress-sweep", *facts))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None


def failure_of(run_dir: Path) -> tuple[str | None, str, str]:
    """``(stop_reason, signature, detail)`` of a failed run, read defensively from its folder."""
    summary = _read_json(run_dir / "summary.json")
    if summary is None:
        return None, fallback_signature("no summary.json"), "no summary.json written"
    stop = summary.get("stop_reason")
    stop_reason = stop if isinstance(stop, str) else None
    failure = summary.get("failure")
    if isinstance(failure, dict):
        signature = failure.get("signature")
        if isinstance(signature, str) and _SIGNATURE.fullmatch(signature):
            return stop_reason, signature, _failure_line(failure, stop_reason)
    reason = stop_reason or "unknown stop reason"
    return stop_reason, fallback_signature("stop_reason", reason), reason


def _failure_line(failure: dict[str, Any], stop_reason: str | None) -> str:
    detail = failure.get("detail")
    if isinstance(detail, str) and detail:
        return detail
    parts = [str(failure.get(key)) for key in ("check", "op", "table") if failure.get(key)]
    return " ".join([stop_reason or str(failure.get("stop_reason") or "failure"), *parts])


def ops_of(run_dir: Path) -> int | None:
    """Operations of the run: summary.json's total, else replay.json's users' last counts."""
    summary = _read_json(run_dir / "summary.json")
    if summary is not None:
        total = (summary.get("results") or {}).get("total_operations")
        if isinstance(total, int):
            return total
    replay = _read_json(run_dir / "replay.json")
    if replay is None:
        return None
    counts = [user.get("ops_executed") for user in replay.get("users") or []]
    return sum(count for count in counts if isinstance(count, int))
