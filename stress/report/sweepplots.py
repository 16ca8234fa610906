"""The sweep page's plots (matplotlib, inline SVG, as the run report's): runs over time, the
outcomes, and the spread of the swarm's draws with the failing runs set apart."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from stress.report.plots import figure_rows, inline_svg, require_matplotlib
from stress.report.sweepdata import BASE, Feature, SweepData, spread_of
from stress.sweep.outcome import RunResult

__all__ = ["SweepPlots", "draw_sweep_plots"]

#: One colour per outcome, the same in every plot.
OUTCOME_COLOURS = {
    "pass": "#2ca02c",
    "fail": "#d62728",
    "timeout": "#ff7f0e",
    "error": "#9467bd",
    "cancelled": "#7f7f7f",
}
_COLUMNS = 3
_BINS = 10


@dataclass(frozen=True)
class SweepPlots:
    """Each plot's inline SVG, keyed by the section that shows it."""

    runs_over_time: str
    outcomes: str
    swarm_spread: str


def _times(results: list[RunResult]) -> tuple[list[float], list[float], str]:
    """Each run's start and end in minutes into the sweep, and the axis' label; an older
    sweep's lines have no start time: then their order is the axis."""
    if results and all(r.started_at is not None for r in results):
        zero = min(float(r.started_at or 0.0) for r in results)
        starts = [(float(r.started_at or 0.0) - zero) / 60 for r in results]
        ends = [start + r.seconds / 60 for start, r in zip(starts, results, strict=True)]
        return starts, ends, "minutes into the sweep"
    order = [float(i) for i in range(len(results))]
    return order, order, "runs in the order they finished"


def runs_over_time(results: list[RunResult]) -> str:
    """Each run's wall-clock seconds at its start, by outcome; runs done and failing so far."""
    starts, ends, label = _times(results)
    with figure_rows(2) as (fig, (each, total)):
        for outcome, colour in OUTCOME_COLOURS.items():
            points = [
                (s, r.seconds) for s, r in zip(starts, results, strict=True) if r.outcome == outcome
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                each.scatter(xs, ys, s=12, color=colour, label=outcome)
        each.set_ylabel("run's seconds")
        each.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        order = sorted(range(len(results)), key=lambda i: ends[i])
        done_at = [ends[i] for i in order]
        failing = [sum(results[j].failed for j in order[: k + 1]) for k in range(len(order))]
        total.step(done_at, range(1, len(order) + 1), where="post", label="runs done")
        total.step(done_at, failing, where="post", color="#d62728", label="failing")
        total.set_ylabel("runs")
        total.set_xlabel(label)
        total.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return inline_svg(fig)


def outcomes(results: list[RunResult]) -> str:
    """Runs per outcome, and how long runs took, by outcome."""
    plt = require_matplotlib()
    fig, (bars, spread) = plt.subplots(1, 2, figsize=(10.0, 3.0))
    try:
        present = [o for o in OUTCOME_COLOURS if any(r.outcome == o for r in results)]
        counts = [sum(r.outcome == o for r in results) for o in present]
        bars.bar(present, counts, color=[OUTCOME_COLOURS[o] for o in present])
        bars.set_ylabel("runs")
        seconds = [[r.seconds for r in results if r.outcome == o] for o in present]
        if present:
            spread.hist(
                seconds,
                bins=_BINS,
                stacked=True,
                label=present,
                color=[OUTCOME_COLOURS[o] for o in present],
            )
            spread.legend(fontsize=7)
        spread.set_xlabel("run's seconds")
        spread.set_ylabel("runs")
        return inline_svg(fig)
    finally:
        plt.close(fig)


def _feature(ax: Any, feature: Feature) -> None:
    """Bars of the runs per value (per bin, for numbers): passing below, failing above."""
    if feature.numeric:
        numbers = feature.numbers
        passing = [value for value, failed in numbers if not failed]
        failing = [value for value, failed in numbers if failed]
        ax.hist(
            [passing, failing],
            bins=_BINS,
            stacked=True,
            label=["passed", "failed"],
            color=[OUTCOME_COLOURS["pass"], OUTCOME_COLOURS["fail"]],
        )
        base = len(feature.values) - len(numbers)
        if base:
            ax.text(0.98, 0.9, f"{BASE} x{base}", transform=ax.transAxes, ha="right", fontsize=7)
    else:
        names = sorted({str(value) for value, _ in feature.values})[:12]
        ok = [sum(str(v) == n and not f for v, f in feature.values) for n in names]
        bad = [sum(str(v) == n and f for v, f in feature.values) for n in names]
        ax.bar(names, ok, color=OUTCOME_COLOURS["pass"], label="passed")
        ax.bar(names, bad, bottom=ok, color=OUTCOME_COLOURS["fail"], label="failed")
        ax.tick_params(axis="x", labelsize=7, labelrotation=20)
    ax.set_title(feature.name, fontsize=9)


def swarm_spread(results: list[RunResult]) -> str:
    """One small plot per feature the swarm drew (none drawn: a note says so)."""
    plt = require_matplotlib()
    features = spread_of(results)
    rows = max(1, math.ceil(len(features) / _COLUMNS))
    fig, axes = plt.subplots(rows, _COLUMNS, figsize=(10.0, 2.2 * rows), squeeze=False)
    try:
        cells = [ax for row in axes for ax in row]
        for ax, feature in zip(cells, features, strict=False):
            _feature(ax, feature)
        for ax in cells[len(features) :]:
            ax.set_axis_off()
        if features:
            cells[0].legend(fontsize=7)
        else:
            cells[0].text(0, 0.5, "no swarm: every run had the base configuration", fontsize=10)
        return inline_svg(fig)
    finally:
        plt.close(fig)


def draw_sweep_plots(data: SweepData) -> SweepPlots:
    """Every plot of the sweep's page."""
    require_matplotlib()
    return SweepPlots(
        runs_over_time=runs_over_time(data.results),
        outcomes=outcomes(data.results),
        swarm_spread=swarm_spread(data.results),
    )
