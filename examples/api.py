"""The Python API: run a short simulation, read its summary, then replay it and check it.

Usage: python examples/api.py [OUTPUT_DIR]
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from stress import load_settings, replay_run, run_simulation


def main(folder: Path) -> int:
    settings = load_settings(
        environ={},  # ignore the caller's STRESS_* variables: this example is self-contained
        overrides={
            "users": "inserter=2,query=1",
            "max_ops_per_user": "200",
            "think_max_ms": "0",
            "think_min_ms": "0",
            "batch_max": "200",
            "seed": "2026",
            "databases": "1",
            "output_dir": str(folder / "run"),
        },
    )
    outcome = run_simulation(settings, out=io.StringIO())
    results = outcome.summary["results"]
    print(f"stop reason {outcome.stop_reason}, exit code {outcome.exit_code}")
    print(f"{results['total_operations']} ops, p99 {results['latency_ms']['p99']} ms")
    for name, figures in results["latency_by_op"].items():
        print(f"  {name:14} {figures['count']:5} ops  p50 {figures['p50']:8.3f} ms")
    verdict = replay_run(
        outcome.run_dir / "replay.json", output_dir=folder / "replay", out=io.StringIO()
    )
    print(f"replay: {verdict.ops_checked} ops checked, {len(verdict.divergences)} divergences")
    return verdict.exit_code


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/example-api")
    sys.exit(main(target))
