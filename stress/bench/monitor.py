"""``stress bench monitor``: what the resource monitor itself costs.

A real run with 16 worker processes (one user each, the default think times) at the default
sampling interval; the monitor times its own thread: CPU seconds (``time.thread_time``) per
wall second, and the wall time of one sample (reading every process, the database files and
applying the limits). CPU is the honest figure: on a machine busier than it has cores, a
sample's wall time also counts the time the thread waited to be scheduled.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import orjson

from stress.bench.flags import number_flag, whole_flag
from stress.config import settings_from_dict
from stress.engine.runner import run_simulation

__all__ = ["MonitorBench", "add_monitor_arguments", "measure_monitor", "run_monitor_command"]


@dataclass(frozen=True)
class MonitorBench:
    processes: int
    interval_ms: float
    duration_s: float
    #: Processes the monitor read each sample (coordinator, workers, helpers).
    process_labels: int
    samples: int
    #: Monitor thread CPU seconds per wall second (0.01 = 1% of one core).
    cpu_share: float
    mean_sample_ms: float
    max_sample_ms: float


def add_monitor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processes", default="16", help="worker processes (one user each)")
    parser.add_argument("--duration", default="10", help="seconds to run")
    parser.add_argument("--interval-ms", default="250", help="sampling interval in ms")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def measure_monitor(
    processes: int = 16, duration_s: float = 10.0, interval_ms: float = 250.0, seed: int = 1
) -> MonitorBench:
    """Run ``processes`` workers for ``duration_s`` and read the monitor's own figures."""
    with tempfile.TemporaryDirectory(prefix="stress-monitor-") as tmp:
        settings = settings_from_dict(
            {
                "users": {"mixed": processes},
                "processes": processes,
                "databases": 3,
                "duration": duration_s,
                "seed": seed,
                "batch_max": 1000,
                "monitor_interval_ms": interval_ms,
                # The bench measures sampling; limits that pause the run would only add noise.
                "max_cpu_percent": 1_000_000,
                "output_dir": str(Path(tmp) / "run"),
            }
        )
        with open(os.devnull, "w") as sink:
            outcome = run_simulation(settings, out=sink)
    resources = outcome.summary["resources"]
    monitor = resources["monitor"]
    return MonitorBench(
        processes=processes,
        interval_ms=interval_ms,
        duration_s=duration_s,
        process_labels=len(resources["peak_rss_mb_by_process"]),
        samples=int(monitor["samples"]),
        cpu_share=float(monitor["cpu_share"]),
        mean_sample_ms=float(monitor["mean_sample_ms"]),
        max_sample_ms=float(monitor["max_sample_ms"]),
    )


def run_monitor_command(args: argparse.Namespace, out: TextIO) -> int:
    processes = whole_flag("--processes", args.processes, 1)
    duration = number_flag("--duration", args.duration, 1)
    interval = number_flag("--interval-ms", args.interval_ms, 10)
    result = measure_monitor(processes, duration, interval)
    if args.json:
        print(orjson.dumps(asdict(result)).decode(), file=out)
        return 0
    print(
        f"monitor with {result.processes} worker processes, every {result.interval_ms:g} ms, "
        f"for {result.duration_s:g} s ({result.samples} samples, "
        f"{result.process_labels} process labels)",
        file=out,
    )
    print(
        f"CPU of the monitor thread  {100 * result.cpu_share:8.3f} % of one core",
        file=out,
    )
    print(f"wall time per sample       {result.mean_sample_ms:8.3f} ms mean", file=out)
    print(f"                           {result.max_sample_ms:8.3f} ms max", file=out)
    return 0
