"""Regenerate the replay fixtures under replay/ after a deliberate change to plan generation.

Run from the repository root: ``python replay/regenerate.py``. Bump PLAN_FORMAT_VERSION in
stress/plan/workload.py first; the tests re-run every fixture here and require exact digests.
Each fixture is a folder holding ``replay.json`` and the per-op digests it points to.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

from stress import run_simulation, settings_from_dict

HERE = Path(__file__).resolve().parent

FIXTURES: dict[str, dict[str, object]] = {
    # Four users over two worker processes, every op kind, by count.
    "processes-4-users": {
        "users": {"inserter": 1, "query": 1, "mixed": 2},
        "processes": 2,
        "databases": 2,
        "seed": 20261121,
        "max_ops_per_user": 60,
        "think_min_ms": 0,
        "think_max_ms": 1,
        "batch_min": 1,
        "batch_max": 40,
    },
    # Threads in one process with the fast store strategies.
    "threads-long-lived-block": {
        "users": {"inserter": 2, "mixed": 1},
        "processes": 0,
        "databases": 1,
        "seed": 7,
        "max_ops_per_user": 80,
        "think_min_ms": 0,
        "think_max_ms": 0,
        "batch_min": 1,
        "batch_max": 25,
        "connection": "long-lived",
        "id_allocation": "block",
    },
}


def regenerate(name: str, config: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # The repository's profiles by a relative path: a fixture must not carry the path of
        # the machine that made it (the profiles themselves are copied into the file).
        settings = settings_from_dict(
            {**config, "output_dir": str(Path(tmp) / "run"), "profile_dir": "profiles"}
        )
        outcome = run_simulation(settings, out=io.StringIO())
        if outcome.exit_code != 0:
            raise SystemExit(f"{name}: the run itself failed (exit {outcome.exit_code})")
        target = HERE / name
        shutil.rmtree(target, ignore_errors=True)
        (target / "plans").mkdir(parents=True)
        shutil.copy(outcome.run_dir / "replay.json", target / "replay.json")
        for digests in (outcome.run_dir / "plans").glob("*.digests"):
            shutil.copy(digests, target / "plans" / digests.name)
    print(f"wrote {target}")


if __name__ == "__main__":
    for fixture, fixture_config in FIXTURES.items():
        regenerate(fixture, fixture_config)
