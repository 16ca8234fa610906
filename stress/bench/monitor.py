"""``stress bench monitor``: what the resource monitor itself costs.

A real run with 16 worker processes (one user each, the default think times) at the default
sampling interval; the monitor times its own thread: CPU seconds (``time.thread_time``) per
wall second, and the wall time of one sample (reading every process, the database files and
applying the limits). CPU is the honest figure: on a machine busier than it has cores, a
sample's wall time also counts the time the thread waited to be scheduled.

The command and its flags are :mod:`stress.cli.bench`'s.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stress.config import settings_from_dict

__all__ = ["MonitorBench", "MonitorPlan", "format_monitor", "measure_monitor"]


@dataclass(frozen=True)
class MonitorPlan:
    """What one ``stress bench monitor`` runs."""

    #: Worker processes, one user each.
    processes: int = 16
    #: Length of the run, s.
    duration_s: float = 10.0
    #: The monitor's sampling interval, ms.
    interval_ms: float = 250.0
    seed: int = 1


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


def measure_monitor(plan: MonitorPlan) -> MonitorBench:
    """Run the plan's workers for its duration and read the monitor's own figures."""
    # Here, not at the top: the CLI imports this module for the plan's defaults.
    from stress.engine.runner import run_simulation

    processes, duration_s, interval_ms = plan.processes, plan.duration_s, plan.interval_ms
    with tempfile.TemporaryDirectory(prefix="stress-monitor-") as tmp:
        settings = settings_from_dict(
            {
                "users": {"mixed": processes},
                "processes": processes,
                "databases": 3,
                "duration": duration_s,
                "seed": plan.seed,
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


def format_monitor(result: MonitorBench) -> str:
    """The figures as lines: what was sampled, then the thread's CPU and time per sample."""
    return (
        f"monitor with {result.processes} worker processes, every {result.interval_ms:g} ms, "
        f"for {result.duration_s:g} s ({result.samples} samples, "
        f"{result.process_labels} process labels)\n"
        f"CPU of the monitor thread  {100 * result.cpu_share:8.3f} % of one core\n"
        f"wall time per sample       {result.mean_sample_ms:8.3f} ms mean\n"
        f"                           {result.max_sample_ms:8.3f} ms max\n"
    )
