"""``stress sweep``: its flags, checked into a :class:`~stress.sweep.plan.SweepPlan`, and the run.

Flags are read as text and checked here (one :class:`ConfigError` naming the flag, exit 2);
the base configuration is every ``STRESS_*`` variable, checked by the settings model once per
run before the first starts. The sweep itself (and Dask) is imported only when the command
runs: ``stress --help`` stays light.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from stress.cli.flags import whole_flag
from stress.errors import ConfigError

if TYPE_CHECKING:
    from stress.sweep.plan import SweepPlan
    from stress.sweep.seeds import SeedRange

__all__ = ["SWEEP_EXAMPLE", "add_sweep_arguments", "plan_from_args", "run_sweep_command"]

SWEEP_EXAMPLE = """examples:
  stress sweep --seeds 1000 --per-run 30s
  STRESS_USERS=inserter=4,query=2 stress sweep --seed-range 5000:5100 --per-run 10s --workers 2
  stress sweep --seeds 200 --per-run 20s --swarm                 # a configuration per seed
  stress sweep --seeds 5000 --scheduler tcp://10.0.0.5:8786 --output-dir /shared/sweep-1
  stress sweep --seeds 5000 --output-dir /shared/sweep-1 --resume  # skip seeds already run
  stress sweep --seeds 500 --per-run 10s --shrink --shrink-budget 5m  # failures shrunk too

exit codes:
  0    no run failed
  1    a run failed (a finding, a timeout, or a run that could not do its job)
  2    bad input: a flag, a STRESS_* variable, a swarm file, Dask not installed
  130  interrupted (SIGINT or SIGTERM): running runs killed, every finished result written
"""

_DURATION_FIX = "must be a duration above 0: seconds, or a number with ms, s, m or h (e.g. 30s)"
#: Per-run duration when neither --per-run nor STRESS_DURATION says: short runs, many seeds.
_DEFAULT_PER_RUN_S = 30.0
#: ``stress shrink``'s own default budget.
_DEFAULT_SHRINK_BUDGET_S = 600.0


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--seeds", help="run seeds 0 to N-1 (count)")
    add("--seed-range", help="run seeds A to B-1 (A:B)")
    add(
        "--per-run",
        help="each run's duration (e.g. 30s); default STRESS_DURATION, else 30s",
    )
    add("--max-ops-per-user", help="stop each run by count instead (operations per user)")
    add(
        "--timeout",
        help="wall-clock limit of one run, verification included; past it the run's process "
        "group is killed and the run is a finding (default: 2 x per-run + 60s)",
    )
    add("--workers", help="runs at once (default: cores; with --scheduler, the cluster's threads)")
    add("--scheduler", help="tcp://HOST:PORT of a Dask scheduler (default: a local cluster)")
    add(
        "--swarm",
        nargs="?",
        const="",
        help="draw each seed's configuration within bounds (a TOML file; default: the "
        "built-in stress/sweep/swarm.toml)",
    )
    add("--output-dir", help="the sweep's folder (default: sweeps/<UTC time>/)")
    add("--keep-all", action="store_true", help="keep passing runs' folders too")
    add("--shrink", action="store_true", help="shrink each signature's fastest failing run")
    add("--shrink-budget", help="stress shrink's time budget per signature (default 10m)")
    add("--resume", action="store_true", help="skip seeds already in the folder's sweep.ndjson")


def _duration(flag: str, text: str) -> float:
    from stress.faults import parse_duration

    try:
        value = float(text)
    except ValueError:
        try:
            value = parse_duration(text)
        except ValueError:
            raise ConfigError(flag, text, _DURATION_FIX) from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(flag, text, _DURATION_FIX)
    return value


def _seeds(args: argparse.Namespace) -> SeedRange:
    from stress.sweep.seeds import parse_seed_count, parse_seed_range

    if args.seeds is not None and args.seed_range is not None:
        raise ConfigError("--seeds", args.seeds, "give --seeds N or --seed-range A:B, not both")
    if args.seeds is not None:
        return parse_seed_count("--seeds", args.seeds)
    if args.seed_range is not None:
        return parse_seed_range("--seed-range", args.seed_range)
    raise ConfigError("--seeds", "(none)", "give --seeds N or --seed-range A:B")


def _scheduler(text: str | None) -> str | None:
    if text is None:
        return None
    scheme, sep, place = text.partition("://")
    host, colon, port = place.rpartition(":")
    if scheme not in ("tcp", "tls") or not sep or not colon or not host or not port.isdigit():
        raise ConfigError(
            "--scheduler", text, "must be tcp://HOST:PORT (what `dask scheduler` prints)"
        )
    return text


def _shrink_budget(args: argparse.Namespace) -> float:
    if args.shrink_budget is None:
        return _DEFAULT_SHRINK_BUDGET_S
    if not args.shrink:
        raise ConfigError("--shrink-budget", args.shrink_budget, "goes with --shrink; add it")
    return _duration("--shrink-budget", args.shrink_budget)


def plan_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> SweepPlan:
    """The checked :class:`SweepPlan`; raises :class:`ConfigError` naming the bad flag."""
    from stress.config import load_settings
    from stress.sweep.plan import SweepPlan, base_environment
    from stress.sweep.swarm import DEFAULT_BOUNDS

    base = base_environment(environ)
    load_settings(environ=base)  # the base alone, so its errors name the variable
    if args.per_run is not None:
        per_run = _duration("--per-run", args.per_run)
    elif base.get("STRESS_DURATION", "").strip():
        per_run = _duration("STRESS_DURATION", base["STRESS_DURATION"])
    else:
        per_run = _DEFAULT_PER_RUN_S
    timeout = 2 * per_run + 60 if args.timeout is None else _duration("--timeout", args.timeout)
    if args.resume and args.output_dir is None:
        raise ConfigError("--resume", "set", "name the sweep to resume with --output-dir DIR")
    output = args.output_dir or f"sweeps/{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    swarm = None if args.swarm is None else Path(args.swarm) if args.swarm else DEFAULT_BOUNDS
    return SweepPlan(
        seeds=_seeds(args),
        duration_s=per_run,
        timeout_s=timeout,
        workers=None if args.workers is None else whole_flag("--workers", args.workers, 1),
        output_dir=Path(output).absolute(),
        base_env=base,
        max_ops_per_user=(
            None
            if args.max_ops_per_user is None
            else whole_flag("--max-ops-per-user", args.max_ops_per_user, 1)
        ),
        scheduler=_scheduler(args.scheduler),
        swarm=swarm,
        keep_all=args.keep_all,
        shrink=args.shrink,
        shrink_budget_s=_shrink_budget(args),
        resume=args.resume,
    )


def run_sweep_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.engine.interrupts import Interrupts
    from stress.sweep.driver import require_dask, run_sweep

    require_dask()  # before any other check: without Dask nothing else matters
    plan = plan_from_args(args, os.environ)
    with Interrupts().installed() as interrupts:
        return run_sweep(plan, out, interrupts).exit_code
