"""``stress selftest``: the command line of :mod:`stress.selftest`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from stress.errors import ConfigError

if TYPE_CHECKING:
    from stress.cli.main import _Commands

__all__ = ["add_selftest", "run_selftest_command"]

_EPILOG = """examples:
  stress selftest
  stress selftest --only drop-write --only corrupt-row --seed 7

exit codes:
  0    every mutant was caught by the check it names
  1    a mutant was not caught: a gap in the oracle
  2    bad input (an unknown mutant)
"""


def add_selftest(commands: _Commands) -> None:
    parser = commands.add_parser(
        "selftest",
        help="run every store mutant briefly and show the oracle catches each",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=1, help="global seed of every run")
    parser.add_argument(
        "--only", action="append", metavar="MUTANT", help="run only this mutant (repeatable)"
    )


def run_selftest_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.mutants import selftest_mutants
    from stress.selftest import format_selftest, run_selftest

    chosen: list[str] | None = args.only
    known = selftest_mutants()
    for name in chosen or ():
        if name not in known:
            fix = f"known mutants a short run must catch: {', '.join(known)}"
            raise ConfigError("--only", name, fix)
    print(format_selftest([], header=True), file=out, flush=True)
    rows = run_selftest(args.seed, chosen, out=out)
    missed = [row.mutant for row in rows if not row.caught]
    if missed:
        print(f"NOT caught: {', '.join(missed)}: the oracle has a gap", file=out)
        return 1
    print(f"all {len(rows)} mutants caught", file=out)
    return 0
