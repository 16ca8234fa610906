"""``stress soak``'s flags and command: every ``stress run`` flag, and the soak's own."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from stress.engine.interrupts import Interrupts

__all__ = ["add_soak_arguments", "run_soak_command"]


def add_soak_arguments(parser: argparse.ArgumentParser) -> None:
    from stress.cli.settings_flags import add_arguments

    add_arguments(parser)
    own = parser.add_argument_group("soak")
    own.add_argument("--epoch", default="5m", help="length of one epoch: 30s, 5m (default 5m)")
    own.add_argument(
        "--thresholds",
        type=Path,
        help="TOML file of hard bounds and soft limits (default: the package's thresholds.toml)",
    )
    own.add_argument(
        "--history", type=Path, help="NDJSON file: append this soak, compare with the last nights"
    )
    own.add_argument("--report", action="store_true", help="write RUN_DIR/report.html at the end")


def run_soak_command(args: argparse.Namespace, out: TextIO, interrupts: Interrupts) -> int:
    from stress.cli.settings_flags import overrides_from_namespace
    from stress.errors import ConfigError
    from stress.faults import parse_duration
    from stress.soak.run import SoakOptions, run_soak, soak_settings
    from stress.soak.thresholds import load_thresholds

    try:
        epoch_s = (
            parse_duration(args.epoch)
            if not args.epoch.replace(".", "").isdigit()
            else float(args.epoch)
        )
    except ValueError:
        raise ConfigError("--epoch", args.epoch, "a duration above 0, e.g. 30s, 5m") from None
    if epoch_s <= 0:
        raise ConfigError("--epoch", args.epoch, "a duration above 0, e.g. 30s, 5m")
    thresholds = load_thresholds(args.thresholds)
    settings = soak_settings(overrides_from_namespace(args))
    options = SoakOptions(epoch_s, thresholds, args.history)
    if args.report:
        from stress.report.plots import require_matplotlib

        require_matplotlib()  # refused before the soak, not after it
    outcome = run_soak(settings, options, out, interrupts)
    if args.report:
        from stress.cli.reports import write_run_report

        write_run_report(outcome.run_dir, None, out)
    return outcome.exit_code
