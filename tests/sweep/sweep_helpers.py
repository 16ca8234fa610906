"""Helpers of the sweep tests: a small base configuration and a plan around it.

Not a test module: the tests of this folder import it by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stress.sweep.plan import SweepPlan
from stress.sweep.seeds import SeedRange

#: Short, small runs: one database, two users, small batches, a CPU budget no test machine
#: reaches (a backpressure pause would only slow the sweep down).
SMALL_ENV: dict[str, str] = {
    "STRESS_USERS": "inserter=1,query=1",
    "STRESS_DATABASES": "1",
    "STRESS_THINK_MIN_MS": "0",
    "STRESS_THINK_MAX_MS": "5",
    "STRESS_BATCH_MIN": "1",
    "STRESS_BATCH_MAX": "50",
    "STRESS_MAX_CPU_PERCENT": "100000",
}


def small_plan(folder: Path, seeds: range, **fields: Any) -> SweepPlan:
    """A sweep of :data:`SMALL_ENV` runs of at most 1 s and 20 ops per user, two at once."""
    values: dict[str, Any] = {
        "seeds": SeedRange(seeds.start, seeds.stop),
        "duration_s": 1.0,
        "max_ops_per_user": 20,
        "timeout_s": 90.0,
        "workers": 2,
        "output_dir": folder,
        "base_env": dict(SMALL_ENV),
    }
    values.update(fields)
    return SweepPlan(**values)
