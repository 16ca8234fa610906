"""``stress bench overhead`` and ``stress bench memory``: what the simulator itself costs.

Overhead: the same single-insert workload for one user with no think time, (a) as a plain
loop over the store API (draw a row, ``record`` it) and (b) through the whole simulator
(``run_simulation`` with one user in the main process: plan, digest, timing, histograms,
coordinator), in one process, in interleaved rounds (a, b, a, b, ...) so drift on a noisy
machine hits both. Each round's ratio b/a is the share of the store's speed the simulator
keeps, on wall time (ops/s) and on CPU time per op (target: at least 0.95); the median and
the spread over the rounds are printed, with the simulator's own cost split by part (plan,
loop, stats, ledger, digest, store: see :mod:`stress.bench.parts`) in us of CPU per op, so
the next regression shows where it is.

Memory: a long count-limited run in the main process (threads), reporting the process's peak
resident memory, which must stay flat however many ops run (target: under 150 MB at 1M ops).

The command and its flags are :mod:`stress.cli.bench`'s; this module takes an
:class:`OverheadPlan`.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stress.bench.parts import PARTS, measure_parts
from stress.config import settings_from_dict
from stress.metadb import ConnectionMode, IdStrategy, MetaDb, StoreOptions
from stress.plan.draws import Draws, user_seed_sequence
from stress.plan.payloads import row_factory
from stress.plan.profiles import Profile, load_profile

__all__ = [
    "OverheadPlan",
    "OverheadRound",
    "bench_profile",
    "format_overhead",
    "measure_memory",
    "measure_plan",
    "measure_rounds",
]

_TABLE = "token_usage"
_PROFILE = f"""description = "benchmark: single inserts only, no think time"
[weights]
single_insert = 1
[single_insert.tables]
{_TABLE} = 1
[bulk_insert.tables]
{_TABLE} = 1
[think]
min_ms = 0
max_ms = 0
"""


@dataclass(frozen=True)
class OverheadPlan:
    """What one ``stress bench overhead`` measures."""

    #: Single inserts per measurement (each of the plain loop and the simulator).
    ops: int = 20_000
    #: Interleaved rounds (plain loop, simulator, parts); medians and spreads are reported.
    rounds: int = 5
    #: Ops of the extra peak-memory run; 0: none.
    memory_ops: int = 0
    #: Store connection mode and id strategy of both loops.
    connection: ConnectionMode = "long-lived"
    ids: IdStrategy = "block"
    seed: int = 1


@dataclass(frozen=True)
class _Timing:
    """One loop's figures in one round."""

    ops_per_s: float
    #: CPU of every thread of this process, per op (us).
    cpu_us_per_op: float


@dataclass(frozen=True)
class OverheadRound:
    """One round: the plain loop, then the simulator, then the parts, back to back."""

    direct: _Timing
    simulated: _Timing
    #: Thread CPU per op (us) of each part of :data:`stress.bench.parts.PARTS`, ``loop`` (the
    #: user loop beyond them), ``oracle`` (its check after the run) and ``rest`` (the
    #: simulator's CPU per op beyond all of these).
    parts_us: dict[str, float]

    @property
    def wall_ratio(self) -> float:
        return self.simulated.ops_per_s / self.direct.ops_per_s

    @property
    def cpu_ratio(self) -> float:
        """Direct CPU per op over the simulator's: 1.0 when the simulator costs nothing."""
        return self.direct.cpu_us_per_op / self.simulated.cpu_us_per_op


def _direct(folder: Path, plan: OverheadPlan) -> _Timing:
    factory = row_factory(_TABLE)
    draws = Draws(user_seed_sequence(plan.seed, 0))
    options = StoreOptions(connection=plan.connection, ids=plan.ids)
    ops, path = plan.ops, folder / "direct.db"
    # Timed as a run's clock times its user: the file's schema is made before (a run makes
    # it before its clock starts), the handle connects at its first write and is closed
    # (SQLite checkpoints its WAL then) before the clock stops.
    MetaDb.open(path, folder, options).close()
    cpu = time.process_time()
    started = time.perf_counter()
    store = MetaDb(path, folder, options)
    for _ in range(ops):
        store.record(_TABLE, factory.make(draws))
    store.close()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return _Timing(ops / elapsed, cpu / ops * 1e6)


def _profiles(folder: Path) -> Path:
    profiles = folder / "profiles"
    profiles.mkdir(exist_ok=True)
    (profiles / "bench.toml").write_text(_PROFILE)
    return profiles


def bench_profile(folder: Path) -> Profile:
    """The benches' profile (single inserts into one table, no think time), written into
    ``folder`` and loaded from there."""
    return load_profile(_profiles(folder), "bench")


def _run(folder: Path, plan: OverheadPlan, name: str, ops: int) -> tuple[float, float, Path]:
    """One run of ``ops`` ops: its ops/s, the CPU seconds of this process over the call, and
    its run folder."""
    # Here, not at the top: the CLI imports this module for the plan's defaults.
    from stress.engine.runner import run_simulation

    settings = settings_from_dict(
        {
            "users": {"bench": 1},
            "databases": 1,
            "processes": 0,
            "seed": plan.seed,
            "max_ops_per_user": ops,
            "think_min_ms": 0,
            "think_max_ms": 0,
            "connection": plan.connection,
            "id_allocation": plan.ids,
            "log_interval": 1,
            # One busy core reads 100, above the default budget of 90: the bench measures the
            # simulator, not backpressure.
            "max_cpu_percent": 100_000,
            "profile_dir": str(_profiles(folder)),
            "output_dir": str(folder / name),
        }
    )
    cpu = time.process_time()
    with open("/dev/null", "w") as sink:
        outcome = run_simulation(settings, out=sink)
    cpu = time.process_time() - cpu
    return float(outcome.summary["results"]["throughput_ops_per_sec"]), cpu, outcome.run_dir


def _simulated(folder: Path, plan: OverheadPlan, round_idx: int) -> tuple[_Timing, float]:
    """The simulator's ops/s and its CPU per op at the margin; the oracle's CPU per op.

    A run also starts up and verifies its oracle at the end: a second, tenth-size run
    takes the fixed part of that out, so the CPU per op is what one more op costs. The
    oracle's check of the run, timed again on its own, is the part of it spent after the
    run (it costs CPU, not ops/s).
    """
    from stress.oracle.verify import verify_run

    ops_per_s, cpu, run_dir = _run(folder, plan, f"run-{round_idx}", plan.ops)
    small = max(plan.ops // 10, 10)
    _, small_cpu, small_dir = _run(folder, plan, f"small-{round_idx}", small)
    oracle = time.thread_time()
    verify_run(run_dir)
    oracle = time.thread_time() - oracle
    small_oracle = time.thread_time()
    verify_run(small_dir)
    oracle -= time.thread_time() - small_oracle
    margin = plan.ops - small
    if cpu <= small_cpu:  # too few ops for the margin to show: the whole run's CPU instead
        return _Timing(ops_per_s, cpu / plan.ops * 1e6), max(oracle, 0.0) / margin * 1e6
    return _Timing(ops_per_s, (cpu - small_cpu) / margin * 1e6), oracle / margin * 1e6


def _parts(
    folder: Path, plan: OverheadPlan, simulated: _Timing, oracle_us: float
) -> dict[str, float]:
    options = StoreOptions(connection=plan.connection, ids=plan.ids)
    profile = bench_profile(folder)
    seconds = measure_parts(folder, profile, plan.ops, options, plan.seed)
    micros = {part: seconds[part] / plan.ops * 1e6 for part in PARTS}
    micros["loop"] = seconds["user"] / plan.ops * 1e6 - micros["stats"] - micros["digest"]
    micros["oracle"] = oracle_us
    # The run's other threads, and what running the parts together costs beyond running
    # them apart (caches, the GIL's hand-overs).
    micros["rest"] = simulated.cpu_us_per_op - sum(micros.values())
    return micros


def measure_rounds(plan: OverheadPlan) -> list[OverheadRound]:
    """``plan.rounds`` rounds of (plain loop, simulator, parts), each in a fresh folder.

    A round's two loops run back to back, so a change of load on a shared machine hits
    both; their ratio is taken round by round, then the rounds' median and spread. Every
    other round runs the simulator first (A B, B A, ...), so a load that rises or falls
    steadily favours neither.
    """
    rounds = []
    with tempfile.TemporaryDirectory(prefix="stress-overhead-") as tmp:
        for round_idx in range(plan.rounds):
            folder = Path(tmp) / f"round-{round_idx}"
            folder.mkdir()
            if round_idx % 2:
                simulated, oracle_us = _simulated(folder, plan, round_idx)
                direct = _direct(folder, plan)
            else:
                direct = _direct(folder, plan)
                simulated, oracle_us = _simulated(folder, plan, round_idx)
            parts = _parts(folder, plan, simulated, oracle_us)
            rounds.append(OverheadRound(direct, simulated, parts))
    return rounds


def measure_memory(plan: OverheadPlan) -> float:
    """Peak resident MB of this process over a run of ``plan.ops`` single inserts."""
    with tempfile.TemporaryDirectory(prefix="stress-memory-") as tmp:
        _run(Path(tmp), plan, "run", plan.ops)  # the oracle's check included
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _spread(values: list[float], digits: int) -> list[float]:
    return [round(min(values), digits), round(max(values), digits)]


def measure_plan(plan: OverheadPlan) -> dict[str, Any]:
    """The figures of ``plan``: medians over the rounds, with the spread (min, max) of each
    ratio, the CPU per op of each part, the load average, and peak RSS if asked."""
    rounds = measure_rounds(plan)
    wall = [r.wall_ratio for r in rounds]
    cpu = [r.cpu_ratio for r in rounds]
    parts = {
        part: round(statistics.median(r.parts_us[part] for r in rounds), 2)
        for part in (*PARTS, "loop", "oracle", "rest")
    }
    document: dict[str, Any] = {
        "direct_ops_per_s": round(statistics.median(r.direct.ops_per_s for r in rounds), 1),
        "simulated_ops_per_s": round(statistics.median(r.simulated.ops_per_s for r in rounds), 1),
        "ratio": round(statistics.median(wall), 3),
        "ratio_spread": _spread(wall, 3),
        "direct_cpu_us_per_op": round(statistics.median(r.direct.cpu_us_per_op for r in rounds), 2),
        "simulated_cpu_us_per_op": round(
            statistics.median(r.simulated.cpu_us_per_op for r in rounds), 2
        ),
        "cpu_ratio": round(statistics.median(cpu), 3),
        "cpu_ratio_spread": _spread(cpu, 3),
        "rounds": plan.rounds,
        "parts_us_per_op": parts,
        "own_us_per_op": round(sum(parts[p] for p in ("digest", "ledger", "stats", "loop")), 2),
        "load_average": round(os.getloadavg()[0], 2),
    }
    if plan.memory_ops:
        document["memory_ops"] = plan.memory_ops
        memory_run = dataclasses.replace(plan, ops=plan.memory_ops)
        document["peak_rss_mb"] = round(measure_memory(memory_run), 1)
    return document


def format_overhead(document: dict[str, Any]) -> str:
    """The figures of :func:`measure_plan` as lines, with their targets."""
    wall_low, wall_high = document["ratio_spread"]
    cpu_low, cpu_high = document["cpu_ratio_spread"]
    parts = document["parts_us_per_op"]
    lines = [
        f"direct loop      {document['direct_ops_per_s']:>12,.1f} ops/s  "
        f"{document['direct_cpu_us_per_op']:>8.2f} us CPU/op",
        f"through stress   {document['simulated_ops_per_s']:>12,.1f} ops/s  "
        f"{document['simulated_cpu_us_per_op']:>8.2f} us CPU/op",
        f"ratio            {document['ratio']:>12.3f}   (target >= 0.95; rounds "
        f"{wall_low:.3f}-{wall_high:.3f} of {document['rounds']})",
        f"cpu ratio        {document['cpu_ratio']:>12.3f}   (rounds {cpu_low:.3f}-{cpu_high:.3f})",
        "parts us/op      "
        + "  ".join(f"{name} {value:.2f}" for name, value in parts.items())
        + f"   (own: {document['own_us_per_op']:.2f}, target <= 3)",
        f"load average     {document['load_average']:>12.2f}",
    ]
    if "memory_ops" in document:
        lines.append(
            f"peak RSS         {document['peak_rss_mb']:>12,.1f} MB after "
            f"{document['memory_ops']:,} ops (target < 150 MB at 1,000,000)"
        )
    return "\n".join(lines) + "\n"
