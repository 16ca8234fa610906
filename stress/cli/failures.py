"""``stress shrink``, ``stress keep`` and ``stress corpus``: from a failing run to a test.

Thin: parse, call :mod:`stress.shrink.driver` or :mod:`stress.corpus.bundles`, print.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from stress.engine.interrupts import Interrupts
from stress.errors import ConfigError

if TYPE_CHECKING:
    from stress.cli.main import _Commands

__all__ = [
    "add_failure_commands",
    "run_corpus_command",
    "run_keep_command",
    "run_shrink_command",
]

_SHRINK_EPILOG = """examples:
  stress shrink runs/20261121T101500Z-42
  stress shrink runs/20261121T101500Z-42 --budget 5m --tries 5

Writes RUN_DIR/shrunk/ (replay.json, summary.json, reproduce.txt); trial runs live in
RUN_DIR/shrink-work/. SIGINT or the budget stops the search and keeps the best so far.

exit codes:
  0    RUN_DIR/shrunk/ written (the budget may have cut the search short: it says so)
  2    bad input: not a run folder, a run that did not fail, a bad --budget or --tries
  130  interrupted (SIGINT); RUN_DIR/shrunk/ still holds the best so far
"""

_KEEP_EPILOG = """examples:
  stress keep runs/20261121T101500Z-42 --name lost-batch
  stress corpus

Copies the shrunk replay (RUN_DIR/shrunk/, else the run's own), the failure, the environment,
the command and the expected outcome into replay/<signature>-<name>/.
"""

_CORPUS_EPILOG = """examples:
  stress corpus
  stress corpus --replay      # re-run every bundle and record its outcome
"""


def add_failure_commands(commands: _Commands) -> None:
    """The three commands' parsers (they take few flags: built every time)."""
    shrink = commands.add_parser(
        "shrink",
        help="cut a failing run down to a small one that fails the same way",
        epilog=_SHRINK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    shrink.add_argument("run_dir", type=Path, help="the folder of a run that failed")
    shrink.add_argument("--budget", default="10m", help="time budget (default 10m; 90s, 5m)")
    shrink.add_argument("--tries", default="3", help="runs a candidate gets to fail (default 3)")
    keep = commands.add_parser(
        "keep",
        help="keep a run (its shrunk replay when there is one) as a bundle in replay/",
        epilog=_KEEP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    keep.add_argument("run_dir", type=Path, help="the folder of a run")
    keep.add_argument("--name", help="the bundle's name (letters, digits, . _ -)")
    keep.add_argument("--corpus", type=Path, default=Path("replay"), help="default replay/")
    corpus = commands.add_parser(
        "corpus",
        help="list the bundles in replay/ with their signatures and last outcomes",
        epilog=_CORPUS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    corpus.add_argument("--corpus", type=Path, default=Path("replay"), help="default replay/")
    corpus.add_argument(
        "--replay", action="store_true", help="re-run every bundle first and record its outcome"
    )


def _whole(flag: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(flag, text, "must be a whole number >= 1 (e.g. 3)")
    return int(text)


def run_shrink_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.faults import parse_duration
    from stress.shrink.driver import read_failing_run, shrink_run

    try:
        text = args.budget.strip()
        budget = float(text) if text.replace(".", "", 1).isdigit() else parse_duration(text)
    except ValueError:
        budget = 0.0
    if budget <= 0:
        raise ConfigError(
            "--budget", args.budget, "must be a duration above 0: seconds or 90s, 10m, 1h"
        )
    tries = _whole("--tries", args.tries)
    read_failing_run(args.run_dir)  # refused before anything is written
    with Interrupts().installed() as interrupts:
        return shrink_run(
            args.run_dir, budget_s=budget, tries=tries, out=out, interrupts=interrupts
        ).exit_code


def run_keep_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.corpus.bundles import keep_run

    bundle = keep_run(args.run_dir, args.corpus, args.name)
    print(f"kept {bundle.folder}: {bundle.describe()}", file=out)
    print(f"replay it: stress replay {bundle.folder / 'replay.json'}", file=out)
    return 0


def run_corpus_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.corpus.bundles import format_corpus, read_corpus, replay_bundle

    bundles = read_corpus(args.corpus)
    failed = 0
    if args.replay:
        with Interrupts().installed() as interrupts:
            for bundle in bundles:
                check = replay_bundle(bundle, interrupts=interrupts, record=True)
                failed += not check.as_expected
        bundles = read_corpus(args.corpus)
    print(format_corpus(bundles), file=out)
    return 1 if failed else 0
