"""stress: a Monte Carlo stress simulator for meta.db.

The public API is what ``__all__`` lists; everything else is internal. The store under test
lives in :mod:`stress.metadb` with its own API.

    from stress import load_settings, run_simulation
    outcome = run_simulation(load_settings(overrides={"duration": "10"}))
"""

from stress.artifacts import ReplayFile, read_replay_file, schema_errors
from stress.config import Settings, load_settings, settings_from_dict
from stress.engine.runner import RunOutcome, run_simulation
from stress.errors import ConfigError, ProfileError, ReplayError, ReplayFormatError, StressError
from stress.observe.stats import StatsAggregator, StatsRecorder
from stress.plan.profiles import OpKind, Profile, load_profile, load_profiles
from stress.plan.workload import PlannedOp, UserPlan
from stress.replay.run import ReplayVerdict, replay_run
from stress.version import __version__ as __version__

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
