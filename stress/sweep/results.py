"""A sweep's results: ``sweep.ndjson`` (a line per run), ``sweep.json`` and the failure table.

``sweep.ndjson`` gets one line per finished run as it finishes, flushed and fsynced, so an
interrupted or killed sweep keeps every result it had; ``--resume`` reads it back (a line cut
short by a kill is dropped) and skips its seeds. ``sweep.json`` holds what the sweep was asked
(checked again on resume: a resumed sweep must run the same configuration), the totals and
the failures grouped by signature: count, first seed, fastest-failing seed. A lock on the
folder keeps a second sweep out while one runs.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from stress.artifacts import write_json_atomic
from stress.sweep.errors import SweepFolderError
from stress.sweep.outcome import RunResult
from stress.sweep.plan import SweepPlan

__all__ = [
    "SWEEP_FORMAT_VERSION",
    "FailureGroup",
    "ResultLog",
    "failure_groups",
    "format_failures",
    "plan_fingerprint",
    "sweep_document",
    "sweep_folder",
]

SWEEP_FORMAT_VERSION = 1
_NDJSON = "sweep.ndjson"
_JSON = "sweep.json"


@dataclass(frozen=True)
class FailureGroup:
    """Failing runs with one signature."""

    signature: str
    count: int
    #: The lowest seed with this signature.
    first_seed: int
    #: The seed that failed soonest (wall-clock), the one to shrink or replay first.
    fastest_seed: int
    fastest_seconds: float
    outcome: str
    stop_reason: str | None
    detail: str | None
    #: The fastest run's kept folder, and the machine it is on.
    run_dir: str | None
    host: str
    #: That run shrunk by ``--shrink`` (``RUN_DIR/shrunk``); None when it was not.
    shrunk_dir: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "count": self.count,
            "first_seed": self.first_seed,
            "fastest_seed": self.fastest_seed,
            "fastest_seconds": self.fastest_seconds,
            "outcome": self.outcome,
            "stop_reason": self.stop_reason,
            "detail": self.detail,
            "run_dir": self.run_dir,
            "host": self.host,
            "shrunk_dir": self.shrunk_dir,
        }


def failure_groups(
    results: Iterable[RunResult], shrunk: Mapping[str, str] | None = None
) -> list[FailureGroup]:
    """Failing runs grouped by signature, most frequent first (then by first seed);
    ``shrunk`` names the shrunk run of a signature (signature -> folder)."""
    by_signature: dict[str, list[RunResult]] = {}
    for result in results:
        if result.failed and result.signature is not None:
            by_signature.setdefault(result.signature, []).append(result)
    groups = []
    for signature, runs in by_signature.items():
        fastest = min(runs, key=lambda run: (run.seconds, run.seed))
        groups.append(
            FailureGroup(
                signature=signature,
                count=len(runs),
                first_seed=min(run.seed for run in runs),
                fastest_seed=fastest.seed,
                fastest_seconds=fastest.seconds,
                outcome=fastest.outcome,
                stop_reason=fastest.stop_reason,
                detail=fastest.detail,
                run_dir=fastest.run_dir,
                host=fastest.host,
                shrunk_dir=(shrunk or {}).get(signature),
            )
        )
    return sorted(groups, key=lambda group: (-group.count, group.first_seed))


def format_failures(groups: list[FailureGroup]) -> str:
    """The closing table: one line per signature, then how to replay each fastest run."""
    if not groups:
        return "failures     none\n"
    lines = [
        f"{'signature':12}  {'count':>5}  {'first':>8}  {'fastest':>8}  {'secs':>7}  what",
    ]
    for group in groups:
        what = group.detail or group.stop_reason or group.outcome
        lines.append(
            f"{group.signature:12}  {group.count:>5}  {group.first_seed:>8}  "
            f"{group.fastest_seed:>8}  {group.fastest_seconds:>7.1f}  {group.outcome}: {what}"
        )
    for group in groups:
        if group.shrunk_dir is not None:
            lines.append(
                f"shrunk {group.signature}: stress replay {group.shrunk_dir}/replay.json "
                f"(the seed {group.fastest_seed} run shrunk; whole run: {group.run_dir})"
            )
        elif group.run_dir is not None and group.outcome == "fail":
            lines.append(f"replay {group.signature}: stress replay {group.run_dir}/replay.json")
        elif group.run_dir is not None:
            lines.append(f"kept {group.signature}: {group.run_dir} (check: stress verify)")
    return "\n".join(lines) + "\n"


def plan_fingerprint(plan: SweepPlan) -> dict[str, Any]:
    """What a resumed sweep must share with the one it resumes: every run's configuration."""
    swarm = None
    if plan.swarm is not None:
        swarm = {
            "path": str(plan.swarm.resolve()),
            "sha256": hashlib.sha256(plan.swarm.read_bytes()).hexdigest(),
        }
    return {
        "duration_s": plan.duration_s,
        "max_ops_per_user": plan.max_ops_per_user,
        "timeout_s": plan.timeout_s,
        "swarm": swarm,
        "base_env": dict(sorted(plan.base_env.items())),
    }


def sweep_document(
    plan: SweepPlan,
    results: list[RunResult],
    *,
    status: str,
    runs_per_min: float | None,
    shrunk: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``sweep.json``: the plan, the totals and the failure groups (with their shrunk runs)."""
    outcomes: dict[str, int] = {}
    for result in results:
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
    return {
        "format_version": SWEEP_FORMAT_VERSION,
        "status": status,
        "seeds": plan.seeds.text,
        "scheduler": plan.scheduler or "local",
        "workers": plan.workers,
        "plan": plan_fingerprint(plan),
        "runs": len(results),
        "failed": sum(result.failed for result in results),
        "outcomes": outcomes,
        "runs_per_min": runs_per_min,
        "failures": [group.to_json() for group in failure_groups(results, shrunk)],
    }


class ResultLog:
    """``sweep.ndjson``, opened for appending: one fsynced line per finished run."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def append(self, result: RunResult) -> None:
        self._handle.write(orjson.dumps(result.to_json()) + b"\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())


def _read_results(path: Path) -> list[RunResult]:
    """The results in ``path``; a last line cut short by a kill is cut off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    whole = data[: data.rfind(b"\n") + 1]
    if len(whole) != len(data):
        with path.open("r+b") as handle:
            handle.truncate(len(whole))
    results = []
    for number, line in enumerate(whole.splitlines(), start=1):
        try:
            results.append(RunResult.from_json(orjson.loads(line)))
        except (orjson.JSONDecodeError, TypeError) as error:
            raise SweepFolderError(
                str(path), f"line {number} is not a run's result ({error}); use a new --output-dir"
            ) from None
    return results


@contextmanager
def sweep_folder(plan: SweepPlan) -> Iterator[tuple[list[RunResult], ResultLog]]:
    """The sweep's folder, locked: the results already in it (resume) and its result log."""
    folder = plan.output_dir
    if folder.exists() and not folder.is_dir():
        raise SweepFolderError(str(folder), "is not a folder; pass a folder as --output-dir")
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("wb") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepFolderError(str(folder), "another sweep is running in it") from None
        earlier = _earlier_results(plan)
        write_json_atomic(
            folder / _JSON, sweep_document(plan, earlier, status="running", runs_per_min=None)
        )
        with (folder / _NDJSON).open("ab") as handle:
            yield earlier, ResultLog(handle)


def _earlier_results(plan: SweepPlan) -> list[RunResult]:
    folder = plan.output_dir
    has_sweep = (folder / _NDJSON).exists() or (folder / _JSON).exists()
    if not plan.resume:
        if has_sweep:
            raise SweepFolderError(
                str(folder), "already holds a sweep; pass --resume to go on with it, or a new "
                "--output-dir"
            )
        return []
    if not (folder / _JSON).exists():
        raise SweepFolderError(str(folder), "holds no sweep.json to resume; drop --resume")
    try:
        before = orjson.loads((folder / _JSON).read_bytes()).get("plan")
    except (orjson.JSONDecodeError, AttributeError):
        raise SweepFolderError(
            str(folder / _JSON), "is not a sweep's record; use a new --output-dir"
        ) from None
    now = plan_fingerprint(plan)
    if before != now:
        changed = sorted(key for key in now if (before or {}).get(key) != now[key])
        raise SweepFolderError(
            str(folder), f"was swept with other settings ({', '.join(changed)} differ); resume "
            "with the same ones, or use a new --output-dir"
        )
    return _read_results(folder / _NDJSON)
