"""Shared test helpers: small runs, plan regeneration, replay-file edits.

Not a test module: the tests import it by name (tests/conftest.py's folder is on ``sys.path``).
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stress.config import Settings, settings_from_dict
from stress.engine.runner import RunOutcome, run_simulation
from stress.metadb import JSON_TABLES
from stress.plan.profiles import Profile
from stress.plan.workload import PlanLimits, PlannedOp, UserPlan
from stress.replay.run import profile_from_dict

REPO = Path(__file__).resolve().parents[1]

#: A small, fast run: tiny batches, think times of at most 1 ms, progress every 0.2 s.
BASE_CONFIG: dict[str, Any] = {
    "seed": 20261121,
    "users": "inserter=1,query=1,mixed=2",
    "databases": 2,
    "processes": 0,
    "think_min_ms": 0,
    "think_max_ms": 1,
    "batch_min": 1,
    "batch_max": 50,
    "log_interval": 0.2,
}


def small_settings(output_dir: Path, **overrides: Any) -> Settings:
    """:data:`BASE_CONFIG` with ``overrides``, writing to ``output_dir``."""
    return settings_from_dict({**BASE_CONFIG, "output_dir": str(output_dir), **overrides})


def run(settings: Settings) -> RunOutcome:
    """Run quietly (the human output goes to a string)."""
    return run_simulation(settings, out=io.StringIO())


def limits_of(settings: Settings) -> PlanLimits:
    return PlanLimits(
        settings.batch_min,
        settings.batch_max,
        settings.think_min_ms,
        settings.think_max_ms,
        settings.query_complexity_max,
    )


def recorded_profiles(replay_doc: dict[str, Any]) -> dict[str, Profile]:
    """The resolved profiles a run recorded in its replay document."""
    return {name: profile_from_dict(data) for name, data in replay_doc["profiles"].items()}


def planned_ops(
    seed: int, user_id: int, profile: Profile, limits: PlanLimits, count: int
) -> list[PlannedOp]:
    """The first ``count`` ops of a user, regenerated from its seed alone."""
    plan = UserPlan(seed, user_id, profile, limits)
    return [plan.next_op() for _ in range(count)]


def canonical(ops: list[PlannedOp]) -> list[bytes]:
    return [op.canonical() for op in ops]


def json_rows(db_path: Path) -> int:
    """Rows in every JSON-row table of one meta.db file."""
    with sqlite3.connect(db_path) as conn:
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in JSON_TABLES)


def scratch_tables(db_path: Path) -> list[str]:
    """Scratch tables a schema-DDL op left behind (there should be none)."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'scratch%'")
        return [row[0] for row in rows]


def rewrite_replay(
    source: Path, target: Path, edit: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Copy replay file ``source`` to ``target`` with ``edit`` applied to its document.

    ``target`` should sit beside ``source`` so the per-op digest files still resolve.
    """
    document: dict[str, Any] = json.loads(source.read_text())
    edit(document)
    target.write_text(json.dumps(document, indent=2))
    return document


def user_entry(document: dict[str, Any], user_id: int) -> dict[str, Any]:
    entry: dict[str, Any] = next(u for u in document["users"] if u["user_id"] == user_id)
    return entry
