"""A replay file that contradicts itself is refused, never half-believed.

Some facts of a run appear in replay.json in two forms: the seed (``global_seed``, and
``config.seed`` in files written before it was recorded once), the users per class
(``config``'s counts and the ``users`` list), each user's database and worker (indexes that
``config.databases`` and ``config.processes`` bound), a user's digest side file (named after
its ``user_id``), and the users and workers a fault names. A replay reads each fact from one
field; if another field says otherwise, the file was edited or damaged, and a replay that
followed one field while printing the other would verify something nobody asked for. So the
file is refused with one line naming both fields and their values.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from stress.artifacts import ReplayFile
from stress.config import Settings
from stress.errors import ReplayFormatError
from stress.journal import digests_path

__all__ = ["refuse_contradictions"]


def refuse_contradictions(recorded: ReplayFile, settings: Settings, path: Path) -> None:
    """Raise :class:`ReplayFormatError` on the first pair of fields that disagree.

    ``settings`` are those built from the file's ``config``.
    """
    problem = (
        _seed(recorded)
        or _user_counts(recorded, settings)
        or _user_places(recorded, settings)
        or _fault_targets(recorded, settings)
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


def _user_counts(recorded: ReplayFile, settings: Settings) -> str | None:
    listed = dict(Counter(user.class_ for user in recorded.users))
    configured = settings.user_counts()
    if listed != configured:
        return f"config's users per class are {configured} but the users list has {listed}"
    ids = [user.user_id for user in recorded.users]
    if len(set(ids)) != len(ids):
        twice = sorted(i for i, n in Counter(ids).items() if n > 1)
        return f"users lists user_id {twice[0]} more than once"
    return None


def _user_places(recorded: ReplayFile, settings: Settings) -> str | None:
    workers = max(settings.processes, 1)
    for user in recorded.users:
        if user.database_idx >= settings.databases:
            return (
                f"user {user.user_id} has database_idx {user.database_idx} but "
                f"config.databases is {settings.databases}"
            )
        if user.process_idx >= workers:
            return (
                f"user {user.user_id} has process_idx {user.process_idx} but "
                f"config.processes is {settings.processes}"
            )
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
