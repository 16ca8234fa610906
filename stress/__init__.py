"""stress: a Monte Carlo stress simulator for meta.db.

The public API is what ``__all__`` lists; everything else is internal. The store under test
lives in :mod:`stress.metadb` with its own API.

    from stress import load_settings, run_simulation
    outcome = run_simulation(load_settings(overrides={"duration": "10"}))

The names are loaded on first use (PEP 562): importing any part of the package runs this
file, and the command line must start without numpy, pydantic and the engine behind it.
"""

import importlib
import typing

from stress.version import __version__ as __version__

if typing.TYPE_CHECKING:  # the names _SOURCES loads; tests/test_startup.py checks both agree
    from stress.artifacts import ReplayFile, read_replay_file, schema_errors
    from stress.config import Settings, load_settings, settings_from_dict
    from stress.engine.runner import RunOutcome, run_simulation
    from stress.errors import ConfigError, ProfileError, ReplayError, ReplayFormatError, StressError
    from stress.observe.stats import StatsAggregator, StatsRecorder
    from stress.outcomes import StopReason
    from stress.plan.profiles import OpKind, Profile, load_profile, load_profiles
    from stress.plan.workload import PlannedOp, UserPlan
    from stress.replay.run import ReplayVerdict, replay_run

__all__ = [
    "ConfigError",
    "OpKind",
    "PlannedOp",
    "Profile",
    "ProfileError",
    "ReplayError",
    "ReplayFile",
    "ReplayFormatError",
    "ReplayVerdict",
    "RunOutcome",
    "Settings",
    "StatsAggregator",
    "StatsRecorder",
    "StopReason",
    "StressError",
    "UserPlan",
    "load_profile",
    "load_profiles",
    "load_settings",
    "read_replay_file",
    "replay_run",
    "run_simulation",
    "schema_errors",
    "settings_from_dict",
]

# Where each public name is defined: the public API, loaded on first use.
_SOURCES = {
    "ReplayFile": "stress.artifacts",
    "read_replay_file": "stress.artifacts",
    "schema_errors": "stress.artifacts",
    "Settings": "stress.config",
    "load_settings": "stress.config",
    "settings_from_dict": "stress.config",
    "RunOutcome": "stress.engine.runner",
    "run_simulation": "stress.engine.runner",
    "ConfigError": "stress.errors",
    "ProfileError": "stress.errors",
    "ReplayError": "stress.errors",
    "ReplayFormatError": "stress.errors",
    "StressError": "stress.errors",
    "StatsAggregator": "stress.observe.stats",
    "StatsRecorder": "stress.observe.stats",
    "StopReason": "stress.outcomes",
    "OpKind": "stress.plan.profiles",
    "Profile": "stress.plan.profiles",
    "load_profile": "stress.plan.profiles",
    "load_profiles": "stress.plan.profiles",
    "PlannedOp": "stress.plan.workload",
    "UserPlan": "stress.plan.workload",
    "ReplayVerdict": "stress.replay.run",
    "replay_run": "stress.replay.run",
}


def __getattr__(name: str) -> object:
    """Load a public name from its module on first use, then keep it here."""
    if name not in _SOURCES:
        raise AttributeError(f"module 'stress' has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
