"""A failing run's signature, from its summary and the oracle's verdict, and its last lines.

Every run that exits 1 gets ``failure`` in ``summary.json``: its parts (see
:mod:`stress.signature`) and their hash. The stop reason decides which kind of check names
the failure: the oracle's for ``InvariantViolation`` (chosen canonically by
:mod:`stress.oracle.failure`), else the crash, harness error, stall or resource stop. Error
classes are classes, never messages: a traceback gives its exception's class name, a crash
its signal, a resource stop its cause.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from stress.artifacts import ReplayFile
from stress.outcomes import StopReason
from stress.signature import Check, FailureParts
from stress.summary import FailureEntry, Summary

if TYPE_CHECKING:
    from stress.oracle.verify import Verification

__all__ = ["error_class_of", "failure_of", "print_closing_lines", "with_failure"]

#: The exit code of a failing run (stress.engine.runner.EXIT_FAILURE, not imported: a cycle).
_FAILED = 1
#: The last line of a traceback: ``package.module.ClassName: message`` (or the class alone).
_EXCEPTION_LINE = re.compile(r"([A-Za-z_][\w.]*)(?::|$)")


def error_class_of(text: str) -> str:
    """The class of an error report: a traceback's exception class, else its words.

    A message without a traceback (``workers not ready within 30 s``) is its first line with
    numbers blanked, so counts and times do not make two signatures of one failure.
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "unknown"
    if "Traceback" in text and (match := _EXCEPTION_LINE.match(lines[-1])):
        return match.group(1).rsplit(".", 1)[-1]
    return re.sub(r"\d+(\.\d+)?", "N", lines[0])[:80]


def _one(values: Iterable[str | None]) -> str | None:
    """The value every item shares, or None when they differ (or there are none)."""
    found = set(values)
    return found.pop() if len(found) == 1 else None


def _harness_parts(summary: Summary, stop: StopReason) -> FailureParts:
    reports = list(summary.harness_errors)
    reports += [user["harness_error"] for user in summary.users if user["harness_error"]]
    error_class = _one(error_class_of(report) for report in reports)
    return FailureParts(stop, Check.HARNESS_ERROR, error_class=error_class)


def _crash_parts(summary: Summary, stop: StopReason) -> FailureParts:
    how = (crash["signal"] or f"exit status {crash['exit_code']}" for crash in summary.crashes)
    return FailureParts(stop, Check.CRASH, error_class=_one(how))


def _parts(
    summary: Summary, verification: Verification | None, replay: ReplayFile | None
) -> FailureParts:
    stop = summary.stop_reason
    if stop == StopReason.INVARIANT and verification is not None and replay is not None:
        from stress.oracle.failure import data_failure

        found = data_failure(verification, replay)
        if found is not None:
            return FailureParts(stop, found.check, found.op, found.table)
    if stop == StopReason.STALLED:
        return FailureParts(stop, Check.STALLED)
    if stop == StopReason.RESOURCE:
        cause = summary.backpressure.get("stop_cause")
        return FailureParts(stop, Check.RESOURCE, error_class=cause)
    if stop == StopReason.CRASH or (summary.crashes and stop != StopReason.HARNESS):
        return _crash_parts(summary, stop)
    return _harness_parts(summary, stop)


def _detail(parts: FailureParts, summary: Summary, verification: Verification | None) -> str:
    example = ""
    if verification is not None and not verification.ok:
        kinds = [items for items in verification.examples.values() if items]
        count = verification.missing + verification.unaccounted + verification.unchecked
        example = f"; {count} rows wrong, e.g. {kinds[0][0]}" if kinds else ""
    elif summary.crashes:
        example = f"; {len(summary.crashes)} worker death(s)"
    return parts.readable() + example


def failure_of(
    summary: Summary, verification: Verification | None, replay: ReplayFile | None
) -> FailureEntry | None:
    """The ``failure`` block of a run that exits 1; None for any other run."""
    if summary.exit_code != _FAILED:
        return None
    parts = _parts(summary, verification, replay)
    return {
        "signature": parts.signature(),
        "stop_reason": StopReason(parts.stop_reason),
        "check": parts.check,
        "op": parts.op,
        "table": parts.table,
        "error_class": parts.error_class,
        "detail": _detail(parts, summary, verification),
    }


def with_failure(
    summary: Summary, verification: Verification | None, replay: ReplayFile | None
) -> Summary:
    """The summary with its ``failure`` block (null unless the run exits 1)."""
    fields = dict(summary)
    fields["failure"] = failure_of(summary, verification, replay)
    return Summary.model_validate(fields)


def print_closing_lines(stream: TextIO, run_dir: Path, failure: FailureEntry | None) -> None:
    """A run's last lines: for a failure its signature and how to replay and shrink it."""
    if failure is not None:
        print(f"failure {failure['signature']}: {failure['detail']}", file=stream)
    print(f"replay this run: stress replay {run_dir / 'replay.json'}", file=stream)
    if failure is not None:
        print(f"shrink it: stress shrink {run_dir}", file=stream)
