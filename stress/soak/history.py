"""``--history FILE``: one NDJSON line per soak, and this night compared with the last ones.

Each line holds the commit (``GIT_COMMIT``/``GITHUB_SHA`` or ``git rev-parse HEAD``), a digest
of the settings (nights are compared only with nights of the same settings), the verdict and
the key metrics. A metric worse than the median of the last ``nights`` comparable soaks by
more than ``regression_pct`` percent is a soft failure, printed with both values.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "KEY_METRICS",
    "Regression",
    "append_history",
    "compare",
    "read_history",
    "settings_digest",
]

#: The key metrics and whether higher is worse.
KEY_METRICS: Mapping[str, bool] = {
    "throughput_ops_per_s": False,
    "p99_ms_max": True,
    "rss_slope_mb_per_h_max": True,
    "wal_high_water_mb": True,
}


@dataclass(frozen=True)
class Regression:
    metric: str
    tonight: float
    baseline: float
    change_pct: float
    limit_pct: float

    @property
    def ok(self) -> bool:
        return self.change_pct <= self.limit_pct

    def line(self) -> str:
        return (
            f"{self.metric}: {self.tonight:.3f} tonight vs {self.baseline:.3f} (median of last "
            f"nights), {self.change_pct:+.1f}% worse; allowed {self.limit_pct:g}%"
        )


def settings_digest(config: Mapping[str, Any]) -> str:
    """A digest of the settings that shape the load (seed, output folder and duration aside)."""
    kept = {k: v for k, v in config.items() if k not in ("seed", "output_dir", "duration")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]


def current_commit() -> str | None:
    for name in ("GIT_COMMIT", "GITHUB_SHA"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every readable line (a torn last line, from a killed writer, is passed over)."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def compare(
    tonight: Mapping[str, Any], past: list[dict[str, Any]], nights: int, limit_pct: float
) -> list[Regression]:
    """Each key metric against the median of the last ``nights`` soaks of the same settings."""
    same = [e for e in past if e.get("settings_digest") == tonight["settings_digest"]][-nights:]
    found = []
    for metric, higher_is_worse in KEY_METRICS.items():
        now = tonight["metrics"].get(metric)
        before = [
            e["metrics"][metric] for e in same if e.get("metrics", {}).get(metric) is not None
        ]
        if now is None or not before:
            continue
        baseline = statistics.median(before)
        if baseline == 0:
            continue
        change = (now - baseline) / abs(baseline) * 100
        found.append(
            Regression(metric, now, baseline, change if higher_is_worse else -change, limit_pct)
        )
    return found


def append_history(path: Path, entry: Mapping[str, Any]) -> None:
    """One line, appended whole (O_APPEND, one write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(entry, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
