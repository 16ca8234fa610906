"""The soak's thresholds, as data: a TOML file of hard bounds, soft limits and history.

The default file ships in the package (``stress/soak/thresholds.toml``, documented there);
``--thresholds FILE`` replaces it. A file that is not TOML, a section or metric this module
does not know, or a limit that is not a number is refused in one line (exit 2) before the
soak starts.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from stress.errors import StressError
from stress.plan.profiles import OpKind

__all__ = [
    "HARD_METRICS",
    "SOFT_METRICS",
    "Limit",
    "ThresholdError",
    "Thresholds",
    "default_thresholds_text",
    "load_thresholds",
]

#: Hard bounds of the boundary invariants.
HARD_METRICS: Mapping[str, str] = {
    "event_pending_max_s": "longest an event may stay pending, s",
    "recovery_max_s": "longest a faulted user may take to complete an op again, s",
    "wal_after_checkpoint_mb": "WAL above its baseline right after a TRUNCATE checkpoint, MB",
}
#: Soft limits judged at the end; ``p50_ms.<op>`` and ``p99_ms.<op>`` besides these.
SOFT_METRICS: Mapping[str, str] = {
    "rss_slope_mb_per_h": "resident memory growth of any one process, MB/h",
    "open_files_slope_per_h": "open file descriptors growth of any one process, per h",
    "threads_slope_per_h": "threads growth of any one process, per h",
    "wal_high_water_mb": "highest WAL size of any database, MB",
    "bytes_per_row_slope_per_h": "database bytes per row growth, bytes per row per h",
    "spool_lines_slope_per_h": "spool lines growth, lines per h",
    "throughput_drop_pct": "last measured epoch's throughput below the first's, %",
}
_LATENCY_PREFIXES = ("p50_ms", "p99_ms")
_HISTORY_KEYS = {"nights": "soaks compared", "regression_pct": "allowed regression, %"}
_SECTIONS = ("hard", "soft", "history")


class ThresholdError(StressError, ValueError):
    """A thresholds file that cannot be used; exit 2."""

    exit_code = 2

    def __init__(self, path: str, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.problem))


@dataclass(frozen=True)
class Limit:
    """One metric and its upper bound."""

    metric: str
    limit: float
    hard: bool

    def passes(self, measured: float) -> bool:
        return measured < self.limit if not self.hard else measured <= self.limit


@dataclass(frozen=True)
class Thresholds:
    source: str
    hard: dict[str, Limit] = field(default_factory=dict)
    soft: dict[str, Limit] = field(default_factory=dict)
    history_nights: int = 5
    history_regression_pct: float = 20.0

    def bound(self, metric: str) -> float:
        """A hard bound (every hard metric has one: the default file's if not given)."""
        return self.hard[metric].limit


def default_thresholds_text() -> str:
    return resources.files("stress.soak").joinpath("thresholds.toml").read_text("utf-8")


def load_thresholds(path: Path | None = None) -> Thresholds:
    """The thresholds of ``path`` over the defaults' hard bounds; the defaults alone if None."""
    defaults = _parse(tomllib.loads(default_thresholds_text()), "stress/soak/thresholds.toml")
    if path is None:
        return defaults
    name = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ThresholdError(name, f"cannot read it ({error.strerror}); pass a TOML file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ThresholdError(name, f"not valid TOML: {error}; fix the file") from None
    mine = _parse(data, name)
    # Hard bounds always exist: a file that names only soft limits keeps the default bounds.
    return Thresholds(
        name,
        {**defaults.hard, **mine.hard},
        mine.soft,
        mine.history_nights,
        mine.history_regression_pct,
    )


def _parse(data: Mapping[str, Any], name: str) -> Thresholds:
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ThresholdError(
            name, f"unknown section [{unknown[0]}]; sections are {', '.join(_SECTIONS)}"
        )
    hard = {
        key: Limit(key, _number(name, "hard", key, value), True)
        for key, value in _section(data, "hard", name).items()
        if _known(name, "hard", key)
    }
    soft = {
        key: Limit(key, _number(name, "soft", key, value), False)
        for key, value in _section(data, "soft", name).items()
        if _known(name, "soft", key)
    }
    history = _section(data, "history", name)
    for key in history:
        if key not in _HISTORY_KEYS:
            raise ThresholdError(
                name, f"[history] {key}: unknown key; known: {', '.join(_HISTORY_KEYS)}"
            )
    nights = _number(name, "history", "nights", history.get("nights", 5))
    if nights < 1 or nights != int(nights):
        raise ThresholdError(name, f"[history] nights = {nights}: must be a whole number >= 1")
    regression = _number(name, "history", "regression_pct", history.get("regression_pct", 20))
    return Thresholds(name, hard, soft, int(nights), regression)


def _section(data: Mapping[str, Any], section: str, name: str) -> dict[str, Any]:
    value = data.get(section, {})
    if not isinstance(value, dict):
        raise ThresholdError(name, f"{section} = {value!r}: must be a table ([{section}])")
    return value


def _known(name: str, section: str, key: str) -> bool:
    if section == "hard" and key in HARD_METRICS:
        return True
    if section == "soft" and (key in SOFT_METRICS or _latency_metric(key)):
        return True
    known = HARD_METRICS if section == "hard" else [*SOFT_METRICS, "p50_ms.<op>", "p99_ms.<op>"]
    raise ThresholdError(name, f"[{section}] {key}: unknown metric; known: {', '.join(known)}")


def _latency_metric(key: str) -> bool:
    prefix, _, op = key.partition(".")
    return prefix in _LATENCY_PREFIXES and op in {kind.value for kind in OpKind}


def _number(name: str, section: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ThresholdError(name, f"[{section}] {key} = {value!r}: must be a number")
    return float(value)
