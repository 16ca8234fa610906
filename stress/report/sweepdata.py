"""A sweep folder read for its report: ``sweep.json``, ``sweep.ndjson`` and the kept runs.

Read only: a line of ``sweep.ndjson`` cut short by a kill is skipped here (``--resume`` is what
trims it). The swarm's spread is read from each run's ``overrides`` (what its seed set over
the base), split into features a person compares: users per class, each fault kind present,
every other variable as it was drawn.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from stress.errors import RunFolderError
from stress.report.folders import REPORT_NAME
from stress.sweep.outcome import RunResult
from stress.sweep.results import FailureGroup, failure_groups

__all__ = [
    "BASE",
    "RUN_REPORT",
    "Feature",
    "SweepData",
    "is_sweep_folder",
    "load_sweep",
    "spread_of",
]

_JSON = "sweep.json"
_NDJSON = "sweep.ndjson"
#: A run folder's own report (``stress report RUN_DIR`` writes it there by default).
RUN_REPORT = REPORT_NAME
#: The value of a feature a run did not draw: it kept the base configuration's.
BASE = "(base)"


def is_sweep_folder(path: Path) -> bool:
    return path.is_dir() and (path / _JSON).is_file()


@dataclass(frozen=True)
class Feature:
    """One feature of the swarm's draws: its value in each run that drew it."""

    name: str
    #: (value, failed) per run; a number when every value is one, else text.
    values: list[tuple[float | str, bool]]

    @property
    def numbers(self) -> list[tuple[float, bool]]:
        """The numeric values (a run that kept the base value has none)."""
        return [(value, failed) for value, failed in self.values if isinstance(value, float)]

    @property
    def numeric(self) -> bool:
        """Whether every value drawn is a number (the base's aside)."""
        drawn = [value for value, _ in self.values if value != BASE]
        return bool(drawn) and all(isinstance(value, float) for value in drawn)

    def describe(self) -> str:
        """The spread in a few words: range and median, or the values with their counts."""
        if self.numeric:
            numbers = [value for value, _ in self.numbers]
            text = f"{min(numbers):g} to {max(numbers):g}, median {statistics.median(numbers):g}"
            base = len(self.values) - len(numbers)
            return text + (f"; {BASE} x{base}" if base else "")
        counts: dict[str, int] = {}
        for value, _ in self.values:
            counts[str(value)] = counts.get(str(value), 0) + 1
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return ", ".join(f"{value} x{count}" for value, count in ranked[:8]) + (
            f", {len(ranked) - 8} more" if len(ranked) > 8 else ""
        )


@dataclass(frozen=True)
class SweepData:
    """Everything the sweep's page shows."""

    folder: Path
    #: ``sweep.json`` as written.
    record: dict[str, Any]
    #: Every run's line, in the order they finished.
    results: list[RunResult]
    groups: list[FailureGroup]

    def failing(self, signature: str) -> list[RunResult]:
        """The group's runs, lowest seed first."""
        runs = [r for r in self.results if r.failed and r.signature == signature]
        return sorted(runs, key=lambda run: run.seed)


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise RunFolderError(path, f"not readable JSON ({exc}); pass an intact sweep") from None


def _results(path: Path) -> list[RunResult]:
    if not path.is_file():
        return []
    data = path.read_bytes()
    whole = data[: data.rfind(b"\n") + 1]  # a last line without its newline was cut short
    results = []
    for number, line in enumerate(whole.splitlines(), start=1):
        try:
            results.append(RunResult.from_json(orjson.loads(line)))
        except (orjson.JSONDecodeError, TypeError) as error:
            raise RunFolderError(
                path, f"line {number} is not a run's result ({error}); pass a sweep's folder"
            ) from None
    return results


def load_sweep(folder: Path) -> SweepData:
    """The sweep in ``folder``; raises :class:`RunFolderError` for anything else."""
    record = _read_json(folder / _JSON)
    if not isinstance(record, dict) or "plan" not in record:
        raise RunFolderError(folder / _JSON, "not a sweep's record; pass a sweep's folder")
    results = _results(folder / _NDJSON)
    shrunk = {
        group["signature"]: group["shrunk_dir"]
        for group in record.get("failures", [])
        if isinstance(group, dict) and group.get("shrunk_dir")
    }
    return SweepData(folder, record, results, failure_groups(results, shrunk))


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _features_of(overrides: dict[str, str]) -> dict[str, float | str]:
    """One run's draw as features: ``users.inserter`` = 5, ``faults.kill`` = yes, ..."""
    found: dict[str, float | str] = {}
    for name, text in overrides.items():
        short = name.removeprefix("STRESS_").lower()
        if short == "users":
            for part in filter(None, text.split(",")):
                user_class, _, count = part.partition("=")
                found[f"users.{user_class.strip()}"] = _number(count.strip())
        elif short == "faults":
            kinds = {part.partition("=")[0].strip() for part in text.split(",") if part.strip()}
            found["faults"] = "+".join(sorted(kinds)) or "none"
        else:
            found[short] = _number(text) if text else BASE
    return found


def spread_of(results: list[RunResult]) -> list[Feature]:
    """Every feature the runs drew, by name; a user class a run did not draw counts as 0."""
    drawn = [(r, _features_of(r.overrides or {})) for r in results if r.outcome != "cancelled"]
    names = sorted({name for _, features in drawn for name in features})
    spread = []
    for name in names:
        absent: float | str = 0.0 if name.startswith("users.") else BASE
        values = [(features.get(name, absent), run.failed) for run, features in drawn]
        spread.append(Feature(name, values))
    return spread
