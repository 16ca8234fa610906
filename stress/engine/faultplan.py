"""A run's faults checked against its other settings (a kill needs worker processes, ...).

The settings model parses the spec once (:class:`stress.faults.Faults`); this module then
checks those parsed faults against the rest of the run's settings.
"""

from __future__ import annotations

from stress.config import Settings
from stress.errors import ConfigError
from stress.faults import FaultSpec, KillFault

__all__ = ["fault_plan"]


def fault_plan(settings: Settings) -> tuple[FaultSpec, ...]:
    """The run's faults, checked against its other settings; raises :class:`ConfigError`."""
    if settings.faults is None:
        return ()
    for spec in settings.faults.specs:
        problem = _conflict(spec, settings)
        if problem is not None:
            raise ConfigError(settings.name_of("faults"), settings.faults.text, problem)
    return settings.faults.specs


def _conflict(spec: FaultSpec, settings: Settings) -> str | None:
    """Why ``spec`` cannot run with ``settings``, or None."""
    if isinstance(spec, KillFault):
        if settings.processes == 0:
            return (
                f"kill needs worker processes: set {settings.name_of('processes')} to 1 or more "
                "(with 0 every user is a thread of the coordinator, which a kill would end)"
            )
        return None
    if settings.engine != "sqlite" and not settings.turso_multiprocess_wal:
        return (
            f"lock needs {settings.name_of('engine')}=sqlite (the lock holder is a sqlite3 "
            f"process), or turso with {settings.name_of('turso_multiprocess_wal')}=true (then "
            "it is a pyturso process with the flag)"
        )
    if spec.hold_s * 1000 <= settings.busy_timeout_ms:
        return (
            f"a lock held {spec.hold_s:g} s does not outlast "
            f"{settings.name_of('busy_timeout_ms')}={settings.busy_timeout_ms}, so writers "
            "would wait it out and none would reach the spool; hold it longer or lower the "
            "busy timeout"
        )
    if spec.database is not None and spec.database >= settings.databases:
        return (
            f"lock db:{spec.database} is not a database of this run "
            f"({settings.name_of('databases')}={settings.databases}: 0 to {settings.databases - 1})"
        )
    return None
