"""A replay file that contradicts itself is refused, never half-believed.

Some facts of a run appear in replay.json in two forms: the seed (``global_seed``, and
``config.seed`` in files written before it was recorded once); each user's class, database
and worker (they follow from its id and ``config``, and are listed per user too); a user's
digest side file (named after its ``user_id``); and the users, workers and databases a fault
names. A replay reads each fact from one field; if another says otherwise, the file was
edited or damaged, and a replay that followed one field while printing the other would verify
something nobody asked for. So the file is refused with one line naming both fields and their
values. The users list may leave users out (a replay of some of them); it may not move one.
"""

from __future__ import annotations

from pathlib import Path

from stress.artifacts import ReplayFile
from stress.config import Settings
from stress.engine.journal import digests_path
from stress.engine.runner import assign_users
from stress.errors import ReplayFormatError

__all__ = ["refuse_contradictions"]


def refuse_contradictions(recorded: ReplayFile, settings: Settings, path: Path) -> None:
    """Raise :class:`ReplayFormatError` on the first pair of fields that disagree.

    ``settings`` are those built from the file's ``config``.
    """
    problem = (
        _seed(recorded) or _user_places(recorded, settings) or _fault_targets(recorded, settings)
    )
    if problem is not None:
        raise ReplayFormatError(
            str(path), f"{problem}; the file contradicts itself: restore the run's own file"
        )


def _seed(recorded: ReplayFile) -> str | None:
    seed = recorded.config.get("seed")
    if seed is not None and seed != recorded.global_seed:
        return f"global_seed is {recorded.global_seed} but config.seed is {seed}"
    return None


def _user_places(recorded: ReplayFile, settings: Settings) -> str | None:
    """Each user's class, database and worker follow from its id and the config (a run
    numbers its users in class order, ``database = id % databases``, ``worker = id %
    processes``); the list may leave users out (replaying some of them), never move one."""
    expected = {
        spec.user_id: spec
        for spec in assign_users(settings.user_counts(), settings.databases, settings.processes)
    }
    seen: set[int] = set()
    for user in recorded.users:
        spec = expected.get(user.user_id)
        if spec is None:
            return f"users lists user_id {user.user_id} but config's users make {len(expected)}"
        if user.user_id in seen:
            return f"users lists user_id {user.user_id} more than once"
        seen.add(user.user_id)
        pairs = (
            ("class", user.class_, "config's users per class", spec.user_class),
            ("database_idx", user.database_idx, "config.databases", spec.database_idx),
            ("process_idx", user.process_idx, "config.processes", spec.process_idx),
        )
        for field, value, source, wanted in pairs:
            if value != wanted:
                return f"user {user.user_id} has {field} {value!r} but {source} give it {wanted!r}"
        own = digests_path(Path("plans"), user.user_id).as_posix()
        if user.op_digests is not None and user.op_digests != own:
            return (
                f"user {user.user_id} has op_digests {user.op_digests!r} but its user_id "
                f"gives {own!r}"
            )
    return None


def _fault_targets(recorded: ReplayFile, settings: Settings) -> str | None:
    ids = {user.user_id for user in recorded.users}
    workers = max(settings.processes, 1)
    for number, fault in enumerate(recorded.faults):
        strangers = sorted(set(fault.points) - ids)
        if strangers:
            return f"faults.{number}.points names user {strangers[0]}, not in the users list"
        if fault.worker_idx is not None and fault.worker_idx >= workers:
            return (
                f"faults.{number}.worker_idx is {fault.worker_idx} but config.processes is "
                f"{settings.processes}"
            )
        if fault.database_idx is not None and fault.database_idx >= settings.databases:
            return (
                f"faults.{number}.database_idx is {fault.database_idx} but "
                f"config.databases is {settings.databases}"
            )
    return None
