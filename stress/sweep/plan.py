"""A sweep's plan, and the one run each seed gets: its ``STRESS_*`` variables and its folder.

The base configuration is every ``STRESS_*`` variable of the caller's environment, captured
once on the machine that starts the sweep and sent with each run, since a cluster's workers
do not share that environment. Each run's variables are the base, then what the seed draws
(swarm mode; or any per-seed overrides a caller passes), then the sweep's own: the seed, the
run folder and how long it runs. Every run's settings are checked before the first starts, so
a bad value is one line and exit 2, not a sweep of failed runs.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from stress.config import ENV_PREFIX, Settings, load_settings
from stress.engine.faultplan import fault_plan
from stress.errors import ConfigError
from stress.sweep.seeds import SeedRange
from stress.sweep.swarm import USER_VARIABLES

__all__ = [
    "SWEEP_OWNED",
    "Overrides",
    "RunSpec",
    "SweepPlan",
    "base_environment",
    "config_digest",
    "run_spec",
]

#: What a seed adds to the base: ``STRESS_*`` name -> value.
Overrides = Callable[[int], Mapping[str, str]]

#: The variables the sweep sets for each run; the base may not set them.
SWEEP_OWNED = {
    "STRESS_SEED": "the sweep sets each run's seed; use --seeds N or --seed-range A:B",
    "STRESS_OUTPUT_DIR": "the sweep gives each run a folder of its own; use --output-dir",
    "STRESS_REPLAY_FILE": "a sweep runs new seeds; replay a run with stress replay",
}
#: Settings left out of the configuration digest: they differ from run to run by design.
_NOT_CONFIGURATION = ("seed", "output_dir", "replay_file")


@dataclass(frozen=True)
class SweepPlan:
    """What ``stress sweep`` was asked to do, checked."""

    seeds: SeedRange
    #: Each run's duration, in seconds.
    duration_s: float
    #: Wall-clock limit of one run, in seconds (verification included); past it the run's
    #: process group is killed and the run is a ``timeout`` finding.
    timeout_s: float
    output_dir: Path
    base_env: Mapping[str, str] = field(default_factory=dict)
    #: Runs at once; None = the machine's cores (local cluster) or the cluster's threads.
    workers: int | None = None
    max_ops_per_user: int | None = None
    #: ``tcp://HOST:PORT`` of a Dask scheduler; None = a local cluster.
    scheduler: str | None = None
    #: Swarm bounds file; None = every run has the base configuration.
    swarm: Path | None = None
    keep_all: bool = False
    shrink: bool = False
    #: ``stress shrink``'s time budget for each signature's run, in seconds (``--shrink``).
    shrink_budget_s: float = 600.0
    resume: bool = False

    @property
    def local_workers(self) -> int:
        """Threads of the local cluster: ``workers``, else the machine's cores."""
        return self.workers if self.workers is not None else os.cpu_count() or 1

    @property
    def runs_dir(self) -> Path:
        return self.output_dir / "runs"


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep, as sent to a worker: plain data that pickles."""

    seed: int
    #: Every ``STRESS_*`` variable of the run (the worker's own ones are dropped).
    env: Mapping[str, str]
    run_dir: Path
    timeout_s: float
    keep_all: bool
    #: Digest of the run's settings less seed and folder (12 hex): equal for equal configs.
    config_digest: str
    #: What the seed set over the base (its swarm draw, or a caller's overrides).
    overrides: Mapping[str, str] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        """The run's output (its progress lines and results block), beside its folder."""
        return self.run_dir.with_name(self.run_dir.name + ".log")


def base_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The caller's ``STRESS_*`` variables; raises :class:`ConfigError` for a sweep's own."""
    base = {name: value for name, value in environ.items() if name.startswith(ENV_PREFIX)}
    for name, fix in SWEEP_OWNED.items():
        if base.get(name, "").strip():
            raise ConfigError(name, base[name], fix)
        base.pop(name, None)
    return base


def run_spec(plan: SweepPlan, seed: int, overrides: Mapping[str, str]) -> RunSpec:
    """Seed ``seed``'s run, its settings checked; raises :class:`ConfigError` naming the seed."""
    replaced = set(overrides)
    if replaced & set(USER_VARIABLES):
        replaced.update(USER_VARIABLES)  # STRESS_USERS may not meet a per-class count
    env = {name: value for name, value in plan.base_env.items() if name not in replaced}
    env.update(overrides)
    run_dir = (plan.runs_dir / f"seed-{seed}").absolute()
    env.update(STRESS_SEED=str(seed), STRESS_OUTPUT_DIR=str(run_dir))
    env["STRESS_DURATION"] = f"{plan.duration_s:g}"
    if plan.max_ops_per_user is not None:
        env["STRESS_MAX_OPS_PER_USER"] = str(plan.max_ops_per_user)
    settings = _checked(seed, env, bool(overrides))
    return RunSpec(
        seed=seed,
        env=env,
        run_dir=run_dir,
        timeout_s=plan.timeout_s,
        keep_all=plan.keep_all,
        config_digest=config_digest(settings),
        overrides=dict(overrides),
    )


def _checked(seed: int, env: Mapping[str, str], drawn: bool) -> Settings:
    try:
        settings = load_settings(environ=env)
        fault_plan(settings)
    except ConfigError as error:
        where = f"seed {seed}'s drawn configuration: " if drawn else ""
        raise ConfigError(f"{where}{error.name}", error.value, error.fix) from None
    return settings


def config_digest(settings: Settings) -> str:
    """12 hex of the settings less seed and folders, as replay.json's ``config`` holds them."""
    config = settings.model_dump(mode="json")
    for name in _NOT_CONFIGURATION:
        config.pop(name, None)
    return hashlib.sha256(orjson.dumps(config, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]
