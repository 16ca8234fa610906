"""A soak folder read for a report: ``soak.json``, the process samples, and the run inside it.

A soak folder is a run folder with a ``soak.json`` beside its ``summary.json``
(:func:`is_soak_folder`). Its times are seconds on the soak's own clock, which starts when the
soak attaches to the run, a moment (the workers' start-up) before the run's clock that times
the faults: :func:`run_clock_offset_s` finds that moment from the killed processes' samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from stress.artifacts import schema_errors
from stress.errors import RunFolderError
from stress.report.data import RunData, load_run
from stress.soak.resources import ResourceLog
from stress.soak.run import SAMPLES_CSV, SOAK_FORMAT_VERSION, SOAK_JSON

__all__ = ["SoakData", "is_soak_folder", "load_soak", "run_clock_offset_s"]


@dataclass(frozen=True)
class SoakData:
    """Everything a soak's report draws: its document, its samples and its run."""

    soak: dict[str, Any]
    samples: ResourceLog
    run: RunData
    #: The soak's clock minus the run's, s (fault times + this = soak times).
    offset_s: float


def is_soak_folder(path: Path) -> bool:
    """A folder (or its ``soak.json``) that ``stress soak`` wrote."""
    return (path / SOAK_JSON).is_file() if path.is_dir() else path.name == SOAK_JSON


def load_soak(path: Path) -> SoakData:
    """The soak folder at ``path`` (or its ``soak.json``); one line on what is wrong with it."""
    folder = path if path.is_dir() else path.parent
    soak = _read_document(folder / SOAK_JSON)
    samples_file = folder / SAMPLES_CSV
    try:
        samples = ResourceLog.read_csv(samples_file)
    except FileNotFoundError:
        raise RunFolderError(
            samples_file, "missing; a soak writes it beside soak.json: pass a whole soak folder"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunFolderError(
            samples_file, f"not the soak's samples ({exc!r}); pass an intact soak folder"
        ) from None
    run = load_run(folder)
    offset = run_clock_offset_s(run.summary, samples)
    return SoakData(soak, samples, run, offset)


def _read_document(file: Path) -> dict[str, Any]:
    try:
        document = orjson.loads(file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise RunFolderError(file, f"not readable JSON ({exc}); pass an intact soak.json") from None
    version = document.get("format_version") if isinstance(document, dict) else None
    if version != SOAK_FORMAT_VERSION:
        raise RunFolderError(
            file,
            f"format_version {version!r}, this stress reads {SOAK_FORMAT_VERSION}: "
            "report it with the stress that wrote it",
        )
    errors = schema_errors(document, "soak")
    if errors:
        raise RunFolderError(file, f"not a soak document ({errors[0]}); pass an intact soak.json")
    found: dict[str, Any] = document  # a dict: its format_version was read
    return found


def run_clock_offset_s(summary: dict[str, Any], samples: ResourceLog) -> float:
    """The soak's clock minus the run's, s, estimated from the kill faults (0 without any).

    A killed process's last sample comes before its kill and the next sample of anything after
    it, so each kill bounds the offset from both sides; the middle of the tightest bounds is
    the estimate (within about a second: the samples are a second apart).
    """
    lows, highs = [], []
    times = sorted({sample.t_s for sample in samples.samples})
    for event in summary.get("faults", {}).get("events", []):
        if event.get("kind") != "kill":
            continue
        seen = [s.t_s for s in samples.samples if s.pid == event.get("pid")]
        if not seen:
            continue
        last = max(seen)
        after = next((t for t in times if t > last), None)
        lows.append(last - float(event["t_s"]))
        if after is not None:
            highs.append(after - float(event["t_s"]))
    if not lows:
        return 0.0
    low = max(0.0, *lows)
    high = min(highs, default=low)
    return round((low + high) / 2 if high >= low else low, 3)
