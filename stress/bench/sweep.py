"""``stress bench sweep``: the sweep's own overhead against a shell loop of the same runs.

The same seeds, each a ``stress run`` of the same length, run twice with the same
parallelism: by ``stress sweep`` (its Dask cluster, a subprocess per run, reading each
run's summary, deleting passing folders, writing its results) and by ``xargs -P K``
starting ``stress run`` one seed after another. Both are started as commands and timed from
outside, wall clock, start to exit. Rounds alternate A B B A ..., so a machine that grows
busier part way hurts neither side alone; the figure is runs per minute of each side, the
ratio sweep / loop of each pair of rounds, and their median and spread. Both inherit the
caller's ``STRESS_*`` variables (the base configuration).

The command and its flags are :mod:`stress.cli.bench`'s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SweepBench", "SweepBenchPlan", "format_sweep_bench", "measure_sweep"]


@dataclass(frozen=True)
class SweepBenchPlan:
    """What one ``stress bench sweep`` runs."""

    seeds: int = 40
    #: Length of each run, s.
    per_run_s: float = 5.0
    #: Runs at once, on both sides.
    workers: int = 2
    #: Rounds of each side (alternating A B B A ...).
    rounds: int = 2


@dataclass(frozen=True)
class SweepBench:
    plan: SweepBenchPlan
    #: Runs per minute of each round, in the order they ran.
    sweep_runs_per_min: list[float]
    loop_runs_per_min: list[float]
    #: sweep / loop runs per minute, one per pair of rounds.
    ratios: list[float]
    #: 1-minute load average before and after, from os.getloadavg().
    load_before: float
    load_after: float

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios)


def _stress(*words: str) -> list[str]:
    return [sys.executable, "-m", "stress", *words]


def _timed(argv: list[str], stdin: bytes | None = None) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("STRESS_SEED", "STRESS_OUTPUT_DIR")}
    started = time.perf_counter()
    done = subprocess.run(argv, input=stdin, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # a failing run is a finding, not a broken bench
        raise RuntimeError(f"{argv[:4]} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return seconds


def _sweep_round(plan: SweepBenchPlan, folder: Path) -> float:
    return _timed(
        _stress(
            "sweep", "--seeds", str(plan.seeds), "--per-run", f"{plan.per_run_s:g}",
            "--workers", str(plan.workers), "--output-dir", str(folder),
        )
    )


def _loop_round(plan: SweepBenchPlan, folder: Path) -> float:
    seeds = "".join(f"{seed}\n" for seed in range(plan.seeds)).encode()
    command = [
        "xargs", "-P", str(plan.workers), "-I{}",
        *_stress("run", "--seed", "{}", "--duration", f"{plan.per_run_s:g}",
                 "--output-dir", f"{folder}/{{}}"),
    ]
    return _timed(command, stdin=seeds)


def measure_sweep(plan: SweepBenchPlan) -> SweepBench:
    """Run the rounds (each in a fresh temporary folder) and return the figures."""
    sweep: list[float] = []
    loop: list[float] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="stress-bench-sweep-") as tmp:
        for round_ in range(plan.rounds):
            order = ("sweep", "loop") if round_ % 2 == 0 else ("loop", "sweep")
            for side in order:
                folder = Path(tmp) / f"{side}-{round_}"
                seconds = (_sweep_round if side == "sweep" else _loop_round)(plan, folder)
                (sweep if side == "sweep" else loop).append(60.0 * plan.seeds / seconds)
                subprocess.run(["rm", "-rf", str(folder)], check=False)
    ratios = [a / b for a, b in zip(sweep, loop, strict=True)]
    return SweepBench(plan, sweep, loop, ratios, load_before, os.getloadavg()[0])


def format_sweep_bench(bench: SweepBench) -> str:
    plan = bench.plan
    lines = [
        f"{plan.seeds} seeds of {plan.per_run_s:g} s, {plan.workers} at once, "
        f"{plan.rounds} round(s) a side (alternating)",
        f"{'round':>5}  {'sweep runs/min':>14}  {'loop runs/min':>13}  {'ratio':>6}",
    ]
    for index, (a, b, ratio) in enumerate(
        zip(bench.sweep_runs_per_min, bench.loop_runs_per_min, bench.ratios, strict=True)
    ):
        lines.append(f"{index + 1:>5}  {a:>14.2f}  {b:>13.2f}  {ratio:>6.3f}")
    spread = max(bench.ratios) - min(bench.ratios)
    lines.append(
        f"sweep / loop: median {bench.median_ratio:.3f}, spread {spread:.3f} "
        f"(target >= 0.90: {'met' if bench.median_ratio >= 0.9 else 'not met'}); "
        f"load {bench.load_before:.2f} before, {bench.load_after:.2f} after"
    )
    return "\n".join(lines) + "\n"
