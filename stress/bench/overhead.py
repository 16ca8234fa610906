"""``stress bench overhead`` and ``stress bench memory``: what the simulator itself costs.

Overhead: the same single-insert workload for one user with no think time, (a) as a plain
loop over the store API (draw a row, ``record`` it) and (b) through the whole simulator
(``run_simulation`` with one user in the main process: plan, digest, timing, histograms,
coordinator), in one process, alternating a and b so drift on a noisy machine hits both. The
ratio b/a is the share of the store's speed the simulator keeps (target: at least 0.85).

Memory: a long count-limited run in the main process (threads), reporting the process's peak
resident memory, which must stay flat however many ops run (target: under 150 MB at 1M ops).

The command and its flags are :mod:`stress.cli.bench`'s; this module takes an
:class:`OverheadPlan`.
"""

from __future__ import annotations

import dataclasses
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from stress.config import settings_from_dict
from stress.metadb import ConnectionMode, IdStrategy, MetaDb, StoreOptions
from stress.plan.draws import Draws, user_seed_sequence
from stress.plan.payloads import row_factory

__all__ = [
    "OverheadPlan",
    "OverheadResult",
    "format_overhead",
    "measure_memory",
    "measure_overhead",
    "measure_plan",
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
class OverheadResult:
    direct_ops_per_s: float
    simulated_ops_per_s: float

    @property
    def ratio(self) -> float:
        return self.simulated_ops_per_s / self.direct_ops_per_s


@dataclass(frozen=True)
class OverheadPlan:
    """What one ``stress bench overhead`` measures."""

    #: Single inserts per measurement (each of the plain loop and the simulator).
    ops: int = 20_000
    #: Alternating plain/simulator rounds; the median of each is kept.
    rounds: int = 3
    #: Ops of the extra peak-memory run; 0: none.
    memory_ops: int = 0
    #: Store connection mode and id strategy of both loops.
    connection: ConnectionMode = "long-lived"
    ids: IdStrategy = "block"
    seed: int = 1


def _direct(folder: Path, plan: OverheadPlan) -> float:
    factory = row_factory(_TABLE)
    draws = Draws(user_seed_sequence(plan.seed, 0))
    options = StoreOptions(connection=plan.connection, ids=plan.ids)
    ops = plan.ops
    with MetaDb.open(folder / "direct.db", folder, options) as store:
        started = time.perf_counter()
        for _ in range(ops):
            store.record(_TABLE, factory.make(draws))
        elapsed = time.perf_counter() - started
    return ops / elapsed


def _simulated(folder: Path, plan: OverheadPlan, round_idx: int) -> float:
    # Here, not at the top: the CLI imports this module for the plan's defaults.
    from stress.engine.runner import run_simulation

    profiles = folder / "profiles"
    profiles.mkdir(exist_ok=True)
    (profiles / "bench.toml").write_text(_PROFILE)
    settings = settings_from_dict(
        {
            "users": {"bench": 1},
            "databases": 1,
            "processes": 0,
            "seed": plan.seed,
            "max_ops_per_user": plan.ops,
            "think_min_ms": 0,
            "think_max_ms": 0,
            "connection": plan.connection,
            "id_allocation": plan.ids,
            "log_interval": 1,
            # One busy core reads 100, above the default budget of 90: the bench measures the
            # simulator, not backpressure.
            "max_cpu_percent": 100_000,
            "profile_dir": str(profiles),
            "output_dir": str(folder / f"run-{round_idx}"),
        }
    )
    with open("/dev/null", "w") as sink:
        outcome = run_simulation(settings, out=sink)
    return float(outcome.summary["results"]["throughput_ops_per_sec"])


def measure_overhead(plan: OverheadPlan) -> OverheadResult:
    direct, simulated = [], []
    with tempfile.TemporaryDirectory(prefix="stress-overhead-") as tmp:
        for round_idx in range(plan.rounds):
            folder = Path(tmp) / f"round-{round_idx}"
            folder.mkdir()
            direct.append(_direct(folder, plan))
            simulated.append(_simulated(folder, plan, round_idx))
    return OverheadResult(statistics.median(direct), statistics.median(simulated))


def measure_memory(plan: OverheadPlan) -> float:
    """Peak resident MB of this process over a run of ``plan.ops`` single inserts."""
    with tempfile.TemporaryDirectory(prefix="stress-memory-") as tmp:
        _simulated(Path(tmp), plan, 0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure_plan(plan: OverheadPlan) -> dict[str, float]:
    """The figures of ``plan``: ops/s of both loops and their ratio, and peak RSS if asked."""
    result = measure_overhead(plan)
    document: dict[str, float] = {
        "direct_ops_per_s": round(result.direct_ops_per_s, 1),
        "simulated_ops_per_s": round(result.simulated_ops_per_s, 1),
        "ratio": round(result.ratio, 3),
    }
    if plan.memory_ops:
        document["memory_ops"] = plan.memory_ops
        memory_run = dataclasses.replace(plan, ops=plan.memory_ops)
        document["peak_rss_mb"] = round(measure_memory(memory_run), 1)
    return document


def format_overhead(document: dict[str, float]) -> str:
    """The figures of :func:`measure_plan` as lines, with their targets."""
    lines = [
        f"direct loop      {document['direct_ops_per_s']:>12,.1f} ops/s",
        f"through stress   {document['simulated_ops_per_s']:>12,.1f} ops/s",
        f"ratio            {document['ratio']:>12.3f}   (target >= 0.85)",
    ]
    if "memory_ops" in document:
        lines.append(
            f"peak RSS         {document['peak_rss_mb']:>12,.1f} MB after "
            f"{document['memory_ops']:,} ops (target < 150 MB at 1,000,000)"
        )
    return "\n".join(lines) + "\n"
