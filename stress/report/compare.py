"""``stress compare A B``: two runs side by side, per op and per class, and what changed.

For each op (every class's) and each class's op: throughput (ops per second of the run),
p50, p99 and p99.9 latency (ms) and the error rate (failed per op, in percent). The change is
``(B - A) / A`` in percent; beyond the threshold it is marked ``regression`` when it is worse
(less throughput, more latency or errors) and ``improvement`` when better. An error rate that
rises from zero is a regression whatever the threshold. Settings that differ are listed too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from stress.report.data import read_summary

__all__ = ["Comparison", "Row", "compare_runs", "compare_summaries", "format_comparison"]

Mark = Literal["regression", "improvement", ""]
#: (metric, True when a higher value is better)
_METRICS = (
    ("ops_per_s", True),
    ("p50_ms", False),
    ("p99_ms", False),
    ("p99_9_ms", False),
    ("error_pct", False),
)
_PERCENTILE_KEYS = {"p50_ms": "p50", "p99_ms": "p99", "p99_9_ms": "p99_9"}


@dataclass(frozen=True)
class Row:
    """One figure of one op (``name`` is ``op`` or ``class/op``) in both runs."""

    name: str
    metric: str
    before: float
    after: float
    change_pct: float | None
    """``None`` when the baseline is zero (and the candidate not)."""
    mark: Mark


@dataclass
class Comparison:
    before: str
    after: str
    threshold_pct: float
    rows: list[Row] = field(default_factory=list)
    #: (setting, before, after) for each setting or environment fact that differs.
    config_changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    #: Ops present in one run only.
    only_in_one: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Row]:
        return [row for row in self.rows if row.mark == "regression"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "threshold_pct": self.threshold_pct,
            "regressions": len(self.regressions),
            "rows": [asdict(row) for row in self.rows],
            "config_changes": [
                {"name": name, "before": a, "after": b} for name, a, b in self.config_changes
            ],
            "only_in_one": self.only_in_one,
        }


def _figures(summary: dict[str, Any]) -> dict[str, dict[str, float]]:
    """name -> metric -> value, for every op and class/op of a summary."""
    results = summary["results"]
    duration = float(results.get("actual_duration_secs") or 0.0)
    failed_op = results.get("failed_operations_by_type", {})
    failed_class = results.get("failed_operations_by_class", {})
    found: dict[str, dict[str, float]] = {}
    for op, pct in results["latency_by_op"].items():
        found[op] = _row_figures(pct, failed_op.get(op, 0), duration)
    for user_class, ops in results["latency_by_class"].items():
        for op, pct in ops.items():
            failed = failed_class.get(user_class, {})
            errors = sum(failed.values()) if op == "all" else failed.get(op, 0)
            found[f"{user_class}/{op}"] = _row_figures(pct, errors, duration)
    return found


def _row_figures(pct: dict[str, Any], errors: int, duration: float) -> dict[str, float]:
    count = int(pct["count"])
    figures = {metric: float(pct[key]) for metric, key in _PERCENTILE_KEYS.items()}
    figures["ops_per_s"] = round(count / duration, 3) if duration > 0 else 0.0
    figures["error_pct"] = round(100.0 * errors / count, 3) if count else 0.0
    return figures


def _row(name: str, metric: str, before: float, after: float, threshold: float) -> Row:
    higher_is_better = dict(_METRICS)[metric]
    if before == 0:
        change = None if after else 0.0
        worse = after > 0 and not higher_is_better
        mark: Mark = "regression" if worse else ""
        return Row(name, metric, before, after, change, mark)
    change = round(100.0 * (after - before) / before, 1)
    mark = ""
    if abs(change) > threshold:
        better = (change > 0) == higher_is_better
        mark = "improvement" if better else "regression"
    return Row(name, metric, before, after, change, mark)


def compare_summaries(
    before: dict[str, Any], after: dict[str, Any], threshold_pct: float, names: tuple[str, str]
) -> Comparison:
    comparison = Comparison(names[0], names[1], threshold_pct)
    first, second = _figures(before), _figures(after)
    for name in sorted(first.keys() | second.keys()):
        if name not in first or name not in second:
            comparison.only_in_one.append(f"{name} (only in {'A' if name in first else 'B'})")
            continue
        for metric, _ in _METRICS:
            row = _row(name, metric, first[name][metric], second[name][metric], threshold_pct)
            comparison.rows.append(row)
    for section in ("config", "environment"):
        a, b = before.get(section, {}), after.get(section, {})
        for key in sorted(a.keys() | b.keys()):
            if key != "output_dir" and a.get(key) != b.get(key):
                comparison.config_changes.append((f"{section}.{key}", a.get(key), b.get(key)))
    return comparison


def compare_runs(before: Path, after: Path, threshold_pct: float) -> Comparison:
    """Compare two run folders (or summary.json files)."""
    if not threshold_pct >= 0:
        from stress.errors import ConfigError

        raise ConfigError(
            "--threshold-pct", threshold_pct, "must be a percent of 0 or more, e.g. 10"
        )
    _, first = read_summary(before)
    _, second = read_summary(after)
    return compare_summaries(first, second, threshold_pct, (str(before), str(after)))


def format_comparison(comparison: Comparison) -> str:
    """Plain text: one line per op and figure, the marked ones flagged, then the settings."""
    lines = [
        f"A: {comparison.before}",
        f"B: {comparison.after}",
        f"marked beyond {comparison.threshold_pct:g}%",
        "",
    ]
    rows = [("op", "figure", "A", "B", "change", "")]
    for row in comparison.rows:
        change = "new" if row.change_pct is None else f"{row.change_pct:+.1f}%"
        flag = {"regression": "<< REGRESSION", "improvement": "improved", "": ""}[row.mark]
        rows.append((row.name, row.metric, f"{row.before:g}", f"{row.after:g}", change, flag))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
        cells += [r[i].rjust(widths[i]) for i in (2, 3, 4)]
        lines.append("  ".join(cells) + ("  " + r[5] if r[5] else ""))
    lines.append("")
    lines.append(f"{len(comparison.regressions)} regression(s) marked")
    for name in comparison.only_in_one:
        lines.append(f"op {name}")
    if comparison.config_changes:
        lines.append("settings that differ:")
        lines.extend(f"  {name}: {a!r} -> {b!r}" for name, a, b in comparison.config_changes)
    else:
        lines.append("settings: the same")
    return "\n".join(lines) + "\n"
