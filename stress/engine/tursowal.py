"""turso's experimental multi-process WAL in a run: who opens with the flag, and who not.

With ``STRESS_TURSO_MULTIPROCESS_WAL`` every connection of the run passes pyturso's
``experimental_features="multiprocess_wal"``: the users', the parent's that prepares the
databases, the lock fault's holder and the oracle's. ``STRESS_TURSO_UNFLAGGED_PROCESSES=N``
makes the first N worker processes open without it, a mixed deployment: pyturso 0.8.3 is
documented to refuse such an open ("already open with/without experimental multiprocess WAL",
classified ``engine_refused``), but on Linux both sides open, and the oracle then reports
what became of the rows.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from stress.config import Settings
from stress.errors import ConfigError

if TYPE_CHECKING:
    from stress.metadb import StoreOptions

__all__ = ["check_turso_wal", "lock_holder_engine", "worker_options"]


def check_turso_wal(settings: Settings) -> None:
    """Refuse settings the mode cannot run with; raises :class:`ConfigError`."""
    flag, unflagged = settings.turso_multiprocess_wal, settings.turso_unflagged_processes
    if flag and settings.engine != "turso":
        raise ConfigError(
            settings.name_of("turso_multiprocess_wal"),
            "true",
            f"the multi-process WAL is turso's: set {settings.name_of('engine')}=turso, "
            "or leave it false",
        )
    if unflagged and not flag:
        raise ConfigError(
            settings.name_of("turso_unflagged_processes"),
            str(unflagged),
            f"a mixed deployment needs {settings.name_of('turso_multiprocess_wal')}=true "
            "for the other processes",
        )
    if unflagged and unflagged >= settings.processes:
        raise ConfigError(
            settings.name_of("turso_unflagged_processes"),
            str(unflagged),
            f"must be below {settings.name_of('processes')}={settings.processes}, so that "
            "some worker process still opens with the flag",
        )


def worker_options(options: StoreOptions, settings: Settings, worker_idx: int) -> StoreOptions:
    """Worker ``worker_idx``'s store options: without the flag if it is one of the unflagged."""
    if worker_idx < settings.turso_unflagged_processes:
        return dataclasses.replace(options, multiprocess_wal=False)
    return options


def lock_holder_engine(settings: Settings) -> str:
    """How the lock fault's holder opens a database (see :mod:`stress.engine.lockholder`)."""
    return "turso-multiprocess-wal" if settings.turso_multiprocess_wal else "sqlite"
