"""A run's faults checked against its other settings (a kill needs worker processes, ...).

Parsing (:mod:`stress.faults`) checks the text alone, inside the settings model; this module
then checks the parsed faults against the rest of the run's settings.
"""

from __future__ import annotations

from stress.config import Settings
from stress.errors import ConfigError
from stress.faults import FaultSpec, KillFault, parse_faults

__all__ = ["fault_plan"]


def fault_plan(settings: Settings) -> tuple[FaultSpec, ...]:
    """The run's faults, checked against its other settings; raises :class:`ConfigError`."""
    if settings.faults is None:
        return ()
    source = settings.source_of("faults")
    # Settings built in code have no recorded source ("default"): name the variable.
    name = "STRESS_FAULTS" if source == "default" else source
    specs = parse_faults(settings.faults, name)
    for spec in specs:
        problem = _conflict(spec, settings)
        if problem is not None:
            raise ConfigError(name, settings.faults, problem)
    return specs


def _conflict(spec: FaultSpec, settings: Settings) -> str | None:
    """Why ``spec`` cannot run with ``settings``, or None."""
    if isinstance(spec, KillFault):
        if settings.processes == 0:
            return (
                "kill needs worker processes: set STRESS_PROCESSES to 1 or more (with 0 every "
                "user is a thread of the coordinator, which a kill would end)"
            )
        return None
    if settings.engine != "sqlite":
        return "lock needs STRESS_ENGINE=sqlite (the lock holder is a sqlite3 process)"
    if spec.hold_s * 1000 <= settings.busy_timeout_ms:
        return (
            f"a lock held {spec.hold_s:g} s does not outlast STRESS_BUSY_TIMEOUT_MS="
            f"{settings.busy_timeout_ms}, so writers would wait it out and none would reach "
            "the spool; hold it longer or lower the busy timeout"
        )
    if spec.database is not None and spec.database >= settings.databases:
        return (
            f"lock db:{spec.database} is not a database of this run "
            f"(STRESS_DATABASES={settings.databases}: 0 to {settings.databases - 1})"
        )
    return None
