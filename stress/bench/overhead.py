"""``stress bench overhead`` and ``stress bench memory``: what the simulator itself costs.

Overhead: the same single-insert workload for one user with no think time, (a) as a plain
loop over the store API (draw a row, ``record`` it) and (b) through the whole simulator
(``run_simulation`` with one user in the main process: plan, digest, timing, histograms,
coordinator), in one process, alternating a and b so drift on a noisy machine hits both. The
ratio b/a is the share of the store's speed the simulator keeps (target: at least 0.85).

Memory: a long count-limited run in the main process (threads), reporting the process's peak
resident memory, which must stay flat however many ops run (target: under 150 MB at 1M ops).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import orjson

from stress.bench.flags import whole_flag
from stress.config import settings_from_dict
from stress.engine.runner import run_simulation
from stress.metadb import ConnectionMode, IdStrategy, MetaDb, StoreOptions
from stress.plan.draws import Draws, user_seed_sequence
from stress.plan.payloads import row_factory

__all__ = ["OverheadResult", "add_overhead_arguments", "measure_overhead", "run_overhead_command"]

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


def add_overhead_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", default="20000", help="single inserts per measurement")
    parser.add_argument("--rounds", default="3", help="alternating a/b rounds (median kept)")
    parser.add_argument(
        "--memory-ops",
        default="0",
        help="also run this many ops and report peak RSS (e.g. 1000000)",
    )
    parser.add_argument(
        "--connection",
        choices=["long-lived", "per-op"],
        default="long-lived",
        help="store connection mode of both loops (default: long-lived, the fastest, where "
        "the simulator's own cost shows most)",
    )
    parser.add_argument("--ids", choices=["block", "row", "rowid"], default="block")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


@dataclass(frozen=True)
class _Setup:
    ops: int
    seed: int
    connection: ConnectionMode
    ids: IdStrategy


def _direct(folder: Path, setup: _Setup) -> float:
    factory = row_factory(_TABLE)
    draws = Draws(user_seed_sequence(setup.seed, 0))
    options = StoreOptions(connection=setup.connection, ids=setup.ids)
    ops = setup.ops
    with MetaDb.open(folder / "direct.db", folder, options) as store:
        started = time.perf_counter()
        for _ in range(ops):
            store.record(_TABLE, factory.make(draws))
        elapsed = time.perf_counter() - started
    return ops / elapsed


def _simulated(folder: Path, setup: _Setup, round_idx: int) -> float:
    profiles = folder / "profiles"
    profiles.mkdir(exist_ok=True)
    (profiles / "bench.toml").write_text(_PROFILE)
    settings = settings_from_dict(
        {
            "users": {"bench": 1},
            "databases": 1,
            "processes": 0,
            "seed": setup.seed,
            "max_ops_per_user": setup.ops,
            "think_min_ms": 0,
            "think_max_ms": 0,
            "connection": setup.connection,
            "id_allocation": setup.ids,
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


def measure_overhead(setup: _Setup, rounds: int) -> OverheadResult:
    direct, simulated = [], []
    with tempfile.TemporaryDirectory(prefix="stress-overhead-") as tmp:
        for round_idx in range(rounds):
            folder = Path(tmp) / f"round-{round_idx}"
            folder.mkdir()
            direct.append(_direct(folder, setup))
            simulated.append(_simulated(folder, setup, round_idx))
    return OverheadResult(statistics.median(direct), statistics.median(simulated))


def measure_memory(setup: _Setup) -> float:
    """Peak resident MB of this process over a run of ``setup.ops`` single inserts."""
    with tempfile.TemporaryDirectory(prefix="stress-memory-") as tmp:
        _simulated(Path(tmp), setup, 0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_overhead_command(args: argparse.Namespace, out: TextIO) -> int:
    ops = whole_flag("--ops", args.ops, 100)
    rounds = whole_flag("--rounds", args.rounds, 1)
    memory_ops = whole_flag("--memory-ops", args.memory_ops, 0)
    setup = _Setup(ops, 1, args.connection, args.ids)
    result = measure_overhead(setup, rounds)
    document: dict[str, float] = {
        "direct_ops_per_s": round(result.direct_ops_per_s, 1),
        "simulated_ops_per_s": round(result.simulated_ops_per_s, 1),
        "ratio": round(result.ratio, 3),
    }
    if memory_ops:
        document["memory_ops"] = memory_ops
        memory_setup = _Setup(memory_ops, 1, args.connection, args.ids)
        document["peak_rss_mb"] = round(measure_memory(memory_setup), 1)
    if args.json:
        print(orjson.dumps(document).decode(), file=out)
        return 0
    print(f"direct loop      {document['direct_ops_per_s']:>12,.1f} ops/s", file=out)
    print(f"through stress   {document['simulated_ops_per_s']:>12,.1f} ops/s", file=out)
    print(f"ratio            {document['ratio']:>12.3f}   (target >= 0.85)", file=out)
    if memory_ops:
        print(
            f"peak RSS         {document['peak_rss_mb']:>12,.1f} MB after {memory_ops:,} ops "
            "(target < 150 MB at 1,000,000)",
            file=out,
        )
    return 0
