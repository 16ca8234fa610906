"""The edits a shrink makes to a recorded run: fewer users, fewer ops, a simpler config.

A candidate is a :class:`ReplayFile`, the same document ``stress replay`` reads, so every
candidate is a run anyone can re-run, and a shrink needs no second description of a run.
Each edit keeps the file consistent with itself (:mod:`stress.replay.check`): a user keeps
its ``user_id`` (its stream, and so its ops, depend on nothing else), its database and worker
follow from the config, and every recorded fault names only users, workers and databases that
are still there. Plan digests are left as they were: a candidate's own run records its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from stress.artifacts import ReplayFault, ReplayFile, ReplayUser
from stress.faults import KILL

__all__ = [
    "Simplification",
    "keep_users",
    "simplifications",
    "total_ops",
    "with_ops",
    "with_share",
    "without_think_time",
]

#: The batch range a "smaller batches" candidate tries (rows).
SMALL_BATCH = (1, 10)


def total_ops(replay: ReplayFile) -> int:
    return sum(user.ops_executed for user in replay.users)


def _fault_kept(fault: ReplayFault, users: list[ReplayUser]) -> ReplayFault | None:
    """``fault`` with its points cut to ``users``; None when no user of its target is left."""
    ids = {user.user_id for user in users}
    if fault.kind == KILL:
        targeted = {u.user_id for u in users if u.process_idx == fault.worker_idx}
    else:
        targeted = {u.user_id for u in users if u.database_idx == fault.database_idx}
    if not targeted:
        return None
    points = {user: ops for user, ops in fault.points.items() if user in ids}
    return fault.model_copy(update={"points": points})


def _with_users(replay: ReplayFile, users: list[ReplayUser], **changes: Any) -> ReplayFile:
    """``replay`` with ``users`` (and other field changes); faults follow the users."""
    faults = [kept for f in replay.faults if (kept := _fault_kept(f, users)) is not None]
    return replay.model_copy(update={"users": users, "faults": faults, **changes})


def keep_users(replay: ReplayFile, user_ids: list[int]) -> ReplayFile:
    """Only the users ``user_ids`` (each keeps its id, so its ops do not change)."""
    wanted = set(user_ids)
    return _with_users(replay, [user for user in replay.users if user.user_id in wanted])


def with_ops(replay: ReplayFile, user_id: int, ops: int) -> ReplayFile:
    """User ``user_id`` runs only its first ``ops`` ops (the same ops: a prefix of its plan)."""
    users = []
    for user in replay.users:
        if user.user_id == user_id:
            user = user.model_copy(
                update={
                    "ops_executed": ops,
                    "substitutions": [i for i in user.substitutions if i < ops],
                    "skipped": [i for i in user.skipped if i < ops],
                }
            )
        users.append(user)
    # A fault point past the new end would wait forever: it is cut to the end.
    faults = [
        fault.model_copy(
            update={
                "points": {u: min(p, ops) if u == user_id else p for u, p in fault.points.items()}
            }
        )
        for fault in replay.faults
    ]
    return replay.model_copy(update={"users": users, "faults": faults})


def with_share(replay: ReplayFile, share: float) -> ReplayFile:
    """Every user runs only the first ``share`` (0..1) of its ops, at least one."""
    shrunk = replay
    for user in replay.users:
        ops = max(1, math.ceil(user.ops_executed * share))
        shrunk = with_ops(shrunk, user.user_id, min(ops, user.ops_executed))
    return shrunk


@dataclass(frozen=True)
class Simplification:
    """One config simplification: what it does (for the shrink's log) and the candidate."""

    what: str
    replay: ReplayFile


def _without_kill_spec(spec: str | None) -> str | None:
    """The faults spec with its kill parts removed (no kill is left to replay)."""
    if spec is None:
        return None
    parts = [part for part in spec.split(",") if not part.strip().startswith(f"{KILL}=")]
    return ",".join(parts) or None


def _drop_fault(replay: ReplayFile, index: int) -> ReplayFile:
    faults = [f for number, f in enumerate(replay.faults) if number != index]
    config = dict(replay.config)
    if not faults:
        config["faults"] = None
    elif not any(f.kind == KILL for f in faults):
        config["faults"] = _without_kill_spec(config.get("faults"))
    return replay.model_copy(update={"faults": faults, "config": config})


def _placed(replay: ReplayFile, config: dict[str, Any]) -> ReplayFile:
    """Users moved to the database and worker ``config`` gives them (id % databases, id %
    processes); faults on a database or worker that is gone are dropped."""
    databases, processes = int(config["databases"]), int(config["processes"])
    users = [
        user.model_copy(
            update={
                "database_idx": user.user_id % databases,
                "process_idx": user.user_id % processes if processes > 0 else 0,
            }
        )
        for user in replay.users
    ]
    faults = [
        f
        for f in replay.faults
        if (f.database_idx is None or f.database_idx < databases)
        and (f.worker_idx is None or processes > 0)
    ]
    moved = replay.model_copy(update={"config": config, "faults": faults})
    return _with_users(moved, users)


def _profiles_with(replay: ReplayFile, **fields: Any) -> dict[str, dict[str, Any]]:
    """Every recorded profile with ``fields`` set where it overrides the config's range."""
    profiles = {}
    for name, profile in replay.profiles.items():
        changed = dict(profile)
        for key, value in fields.items():
            if changed.get(key) is not None:
                changed[key] = value
        profiles[name] = changed
    return profiles


def simplifications(replay: ReplayFile) -> Iterator[Simplification]:
    """The config simplifications worth trying on ``replay``, simplest first.

    Faults one by one, processes to threads, one database, smaller batches. Each is built
    from ``replay`` as it is when it is asked for, so the caller may keep one and go on.
    """
    for index, fault in enumerate(replay.faults):
        target = f"worker {fault.worker_idx}" if fault.kind == KILL else f"db {fault.database_idx}"
        yield Simplification(
            f"drop fault ({fault.kind} {target} at {fault.t_s:.1f} s)",
            _drop_fault(replay, index),
        )
    config = dict(replay.config)
    if config["processes"] > 0 and not any(f.kind == KILL for f in replay.faults):
        yield Simplification(
            f"processes {config['processes']} -> threads",
            _placed(replay, {**config, "processes": 0}),
        )
    if config["databases"] > 1:
        yield Simplification(
            f"databases {config['databases']} -> 1", _placed(replay, {**config, "databases": 1})
        )
    low, high = SMALL_BATCH
    if config["batch_max"] > high or any(
        (p.get("batch_max") or 0) > high for p in replay.profiles.values()
    ):
        smaller = replay.model_copy(
            update={
                "config": {**config, "batch_min": low, "batch_max": high},
                "profiles": _profiles_with(replay, batch_min=low, batch_max=high),
            }
        )
        yield Simplification(f"batches -> {low}..{high} rows", smaller)


def without_think_time(replay: ReplayFile) -> ReplayFile | None:
    """``replay`` with no think time between ops; None when it has none already.

    Tried first: it changes no op a user draws (each draw takes a fixed count of uniforms),
    and every later candidate then runs as fast as the store allows.
    """
    config = replay.config
    profiles = replay.profiles.values()
    if config["think_max_ms"] <= 1 and all((p.get("think_max_ms") or 0) <= 1 for p in profiles):
        return None
    return replay.model_copy(
        update={
            "config": {**config, "think_min_ms": 0.0, "think_max_ms": 0.0},
            "profiles": _profiles_with(replay, think_min_ms=0.0, think_max_ms=0.0),
        }
    )
