"""The command line: a thin layer over the library.

Every command catches :class:`StressError` (and the store's typed errors) in one place and
prints one line, ``ErrorType: message``, then exits with the error's code. Library code
never calls ``sys.exit``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeAlias

from stress.cli.blas import one_blas_thread
from stress.cli.failures import (
    add_failure_commands,
    run_corpus_command,
    run_keep_command,
    run_shrink_command,
)
from stress.cli.reports import (
    add_compare_arguments,
    add_db_arguments,
    add_report_arguments,
    run_compare_command,
    run_db_command,
    run_report_command,
    write_run_report,
)
from stress.cli.selftest import add_selftest, run_selftest_command
from stress.cli.tools import (
    add_spool_arguments,
    add_verify_arguments,
    run_spool_command,
    run_verify_command,
)
from stress.engine.interrupts import Interrupts
from stress.errors import StressError
from stress.metadb.errors import EngineUnavailableError, MetaDbError, SchemaTooNewError
from stress.version import __version__

# The library (the settings model, numpy, the engine, the benches) is imported inside the
# commands that use it, and a command's flags are added only when that command runs, so that
# `stress --help` and the start of `stress run` do not wait for what they do not use
# (tests/test_startup.py keeps the import of this module light).

__all__ = ["main"]

EXIT_CODES = """exit codes:
  0    the run was clean (replay: every plan digest equal, and the recorded outcome again)
  1    the run found a failure: a crash, a harness error, a broken invariant or threshold,
       a replay that diverged, or a recorded failure a replay did not reproduce
  2    bad input: a STRESS_* variable or flag, a profile, a replay file
  130  interrupted (SIGINT or SIGTERM); both artifacts are still written
"""

_RUN_EXAMPLE = """examples:
  stress run --duration 30
  STRESS_USERS=inserter=4,query=2 STRESS_PROCESSES=2 STRESS_SEED=42 stress run
  stress run --max-ops-per-user 500 --connection long-lived --id-allocation block
"""


_BENCH_HELP = "benchmarks that print figures"
_SWEEP_HELP = "run many seeds (each a stress run) on Dask: a local cluster or a scheduler"

# Subscripted only for the type checker: argparse's class is not generic at run time.
_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _command(
    commands: _Commands, name: str, help_text: str, epilog: str
) -> argparse.ArgumentParser:
    """A subcommand whose epilog (examples, exit codes) keeps its line breaks."""
    return commands.add_parser(
        name, help=help_text, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The command named on the line: the first word that is not an option.

    The top-level options (``--help``, ``--version``) take no value, so the first other word
    is the command; argparse still checks it.
    """
    return next((word for word in argv if not word.startswith("-")), None)


def _parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """Every command with its help line; only the command in ``argv`` gets its flags."""
    chosen = _chosen_command(argv)
    parser = argparse.ArgumentParser(
        prog="stress",
        description="Monte Carlo stress simulator for meta.db.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stress {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = _command(
        commands,
        "run",
        help_text="run a stress simulation (settings from STRESS_* variables or flags)",
        epilog=_RUN_EXAMPLE + "\n" + EXIT_CODES,
    )
    if chosen == "run":
        from stress.cli.settings_flags import add_arguments

        add_arguments(run)
        run.add_argument(
            "--report", action="store_true", help="write RUN_DIR/report.html at the end"
        )
    replay = _command(
        commands,
        "replay",
        help_text="re-run a run's exact op sequences from its replay.json and verify them",
        epilog="example:\n  stress replay runs/20261121T101500Z-42/replay.json\n\n" + EXIT_CODES,
    )
    replay.add_argument("path", type=Path, nargs="?", help="replay.json (or STRESS_REPLAY_FILE)")
    replay.add_argument("--output-dir", type=Path, help="folder of the replay's run")
    replay.add_argument(
        "--tries",
        type=_tries,
        default=1,
        help="runs to try a recorded failure that does not come back (default 1)",
    )
    _add_soak(commands, chosen == "soak")
    _add_profiles(commands)
    commands.add_parser("settings", help="print the table of STRESS_* variables (Markdown)")
    _add_oracle(commands)
    add_selftest(commands)
    _add_reports(commands)
    _add_sweep(commands, chosen == "sweep")
    add_failure_commands(commands)
    if chosen == "bench":
        _add_bench(commands)
    else:
        commands.add_parser("bench", help=_BENCH_HELP)
    return parser


def _tries(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number >= 1 (e.g. 3)")
    return int(text)
def _add_soak(commands: _Commands, chosen: bool) -> None:
    soak = _command(
        commands,
        "soak",
        help_text="a long run cut into epochs: invariants, leaks and drift, thresholds, JUnit",
        epilog="examples:\n  stress soak --duration 2h --epoch 5m --history soak-history.ndjson\n"
        "  stress soak --duration 1m --epoch 15s --thresholds my-thresholds.toml\n\n"
        + EXIT_CODES,
    )
    if chosen:
        from stress.cli.soak import add_soak_arguments

        add_soak_arguments(soak)


def _add_oracle(commands: _Commands) -> None:
    verify = _command(
        commands,
        "verify",
        help_text="check a finished run: every acknowledged row present, nothing unaccounted",
        epilog="example:\n  stress verify runs/20261121T101500Z-42\n\n" + EXIT_CODES,
    )
    add_verify_arguments(verify)
    spool = _command(
        commands,
        "spool",
        help_text="re-ingest a run's error spool (replay) or count its lines (stats)",
        epilog="examples:\n  stress spool stats runs/20261121T101500Z-42\n"
        "  stress spool replay runs/20261121T101500Z-42\n"
        "  stress spool replay --home ~/.netsky --db ~/.netsky/meta.db",
    )
    add_spool_arguments(spool)


def _add_reports(commands: _Commands) -> None:
    report = _command(
        commands,
        "report",
        help_text="write a run's or a sweep's self-contained HTML report (extra stress[report])",
        epilog="examples:\n  stress report runs/20261121T101500Z-42 -o report.html\n"
        "  stress report sweeps/nightly      # the sweep's view: runs, outcomes, failures",
    )
    add_report_arguments(report)
    compare = _command(
        commands,
        "compare",
        help_text="two runs side by side: throughput, latency, errors, configuration",
        epilog="examples:\n  stress compare runs/A runs/B\n"
        "  stress compare runs/A/summary.json runs/B --threshold-pct 5 --fail-on-regression\n\n"
        "exit codes:\n  0  compared (1 with --fail-on-regression when a regression is marked)\n"
        "  2  bad input",
    )
    add_compare_arguments(compare)
    db = _command(
        commands,
        "db",
        help_text="an operator's view of a run's databases (read-only)",
        epilog="examples:\n  stress db runs/20261121T101500Z-42 hot-tables\n"
        "  stress db runs/20261121T101500Z-42 recent token_usage --limit 5 --json",
    )
    add_db_arguments(db)


def _add_sweep(commands: _Commands, chosen: bool) -> None:
    if not chosen:
        commands.add_parser("sweep", help=_SWEEP_HELP)
        return
    from stress.cli.sweep import SWEEP_EXAMPLE, add_sweep_arguments

    add_sweep_arguments(_command(commands, "sweep", _SWEEP_HELP, SWEEP_EXAMPLE))


def _add_profiles(commands: _Commands) -> None:
    profiles = _command(
        commands,
        "profiles",
        help_text="list user classes, or show one resolved (stress profiles show mixed)",
        epilog="examples:\n  stress profiles\n  stress profiles show inserter",
    )
    profiles.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    profiles.add_argument("name", nargs="?", help="profile to show")
    profiles.add_argument("--profile-dir", type=Path, help="folder of *.toml profiles")


@dataclass(frozen=True)
class _Bench:
    """One ``stress bench`` kind: its flags and its command, in ``module``."""

    name: str
    help_text: str
    example: str
    module: str = "stress.cli.bench"
    #: The module's names are ``add_<stem>_arguments`` and ``run_<stem>_command``.
    stem: str = ""

    def adder(self) -> Callable[[argparse.ArgumentParser], None]:
        module = importlib.import_module(self.module)
        found: Callable[[argparse.ArgumentParser], None] = getattr(
            module, f"add_{self.stem or self.name}_arguments"
        )
        return found

    def runner(self) -> Callable[[argparse.Namespace, TextIO], int]:
        module = importlib.import_module(self.module)
        found: Callable[[argparse.Namespace, TextIO], int] = getattr(
            module, f"run_{self.stem or self.name}_command"
        )
        return found


#: Every ``stress bench`` kind, in the order ``stress bench --help`` lists them.
_BENCHES = (
    _Bench(
        "writers",
        "concurrent writer processes against one meta.db, per strategy",
        "stress bench writers --writers 1,8,32 --connection per-op,long-lived --ids row,block",
    ),
    _Bench(
        "overhead",
        "the simulator's cost over a plain loop on the store API",
        "stress bench overhead --ops 20000 --json",
    ),
    _Bench(
        "monitor",
        "the resource monitor's own cost with 16 worker processes",
        "stress bench monitor --processes 16 --duration 10 --json",
    ),
    _Bench(
        "store",
        "the store's write paths against a raw sqlite3 loop on the same rows",
        "stress bench store --rounds 5 --processes 32",
    ),
    _Bench(
        "sweep",
        "stress sweep's own overhead against xargs -P starting the same runs",
        "stress bench sweep --seeds 40 --per-run 5 --workers 2 --rounds 2",
        stem="sweep_bench",
    ),
    _Bench(
        "load",
        "the original's load profile: paced writers, then paced analytics readers",
        "stress bench load --engine sqlite,turso --mode threads --json",
        "stress.cli.benchload",
    ),
    _Bench(
        "reads",
        "the original's reads under write load: two queries while 8 writers write",
        "stress bench reads --engine sqlite,turso --seconds 20 --json",
        "stress.cli.benchreads",
    ),
    _Bench(
        "open",
        "the original's cold first writes and warm open-writes",
        "stress bench open --engine sqlite,turso --iterations 30",
        "stress.cli.benchopen",
    ),
    _Bench(
        "rows",
        "rows drawn one at a time vs a batch drawn in bulk, rows/s",
        "stress bench rows --rows 20000 --rounds 5",
    ),
    _Bench(
        "opcodes",
        "Python bytecodes per single insert, by part (deterministic, load-proof)",
        "stress bench opcodes --ops 1000 --json",
    ),
)


def _add_bench(commands: _Commands) -> None:
    bench = commands.add_parser("bench", help=_BENCH_HELP)
    kinds = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    for kind in _BENCHES:
        parser = _command(kinds, kind.name, kind.help_text, f"example:\n  {kind.example}")
        kind.adder()(parser)


def _cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    from stress.cli.settings_flags import overrides_from_namespace
    from stress.config import load_settings
    from stress.engine.runner import run_simulation

    settings = load_settings(overrides=overrides_from_namespace(args))
    # SIGINT and SIGTERM stop the users (both artifacts are still written), and one while the
    # run verifies skips the verification.
    with Interrupts().installed() as interrupts:
        if settings.replay_file is not None:
            from stress.replay.run import replay_run

            return replay_run(
                settings.replay_file,
                output_dir=settings.output_dir,
                out=out,
                interrupts=interrupts,
            ).exit_code
        if args.report:
            from stress.report.plots import require_matplotlib

            require_matplotlib()  # refused before the run, not after it
        outcome = run_simulation(settings, out=out, interrupts=interrupts)
    if args.report:
        write_run_report(outcome.run_dir, None, out)
    return outcome.exit_code


def _cmd_soak(args: argparse.Namespace, out: TextIO) -> int:
    from stress.cli.soak import run_soak_command

    with Interrupts().installed() as interrupts:
        return run_soak_command(args, out, interrupts)


def _cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    from stress.config import load_settings
    from stress.replay.run import replay_run

    path = args.path
    if path is None:
        path = load_settings().replay_file
    if path is None:
        raise StressUsage(
            "replay", "no file", "pass the replay.json path or set STRESS_REPLAY_FILE"
        )
    with Interrupts().installed() as interrupts:
        return replay_run(
            path, output_dir=args.output_dir, out=out, interrupts=interrupts, tries=args.tries
        ).exit_code


def _cmd_profiles(args: argparse.Namespace, out: TextIO) -> int:
    from stress.config import load_settings
    from stress.plan.profiles import (
        format_profile,
        format_profile_list,
        load_profile,
        load_profiles,
    )

    folder = args.profile_dir if args.profile_dir is not None else load_settings().profile_dir
    if args.action == "show":
        if not args.name:
            raise StressUsage(
                "profiles show", "no name", "name a profile: stress profiles show mixed"
            )
        _print_block(format_profile(load_profile(folder, args.name)), out)
    else:
        _print_block(format_profile_list(load_profiles(folder)), out)
    return 0


def _print_block(text: str, out: TextIO) -> int:
    """Print a formatted block with exactly one trailing newline."""
    out.write(text.rstrip("\n") + "\n")
    return 0


def _cmd_settings(out: TextIO) -> int:
    from stress.config import settings_table_markdown

    return _print_block(settings_table_markdown(), out)


def _cmd_sweep(args: argparse.Namespace, out: TextIO) -> int:
    from stress.cli.sweep import run_sweep_command

    return run_sweep_command(args, out)


def _cmd_bench(args: argparse.Namespace, out: TextIO) -> int:
    kind = next(kind for kind in _BENCHES if kind.name == args.bench)
    return kind.runner()(args, out)


class StressUsage(StressError, ValueError):
    """A command was called without what it needs."""

    exit_code = 2

    def __init__(self, command: str, value: str, fix: str) -> None:
        super().__init__(f"stress {command}: {value}: {fix}")


_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "run": _cmd_run,
    "replay": _cmd_replay,
    "profiles": _cmd_profiles,
    "bench": _cmd_bench,
    "sweep": _cmd_sweep,
    "verify": run_verify_command,
    "soak": lambda args, out: _cmd_soak(args, out),
    "spool": run_spool_command,
    "settings": lambda args, out: _cmd_settings(out),
    "selftest": run_selftest_command,
    "report": run_report_command,
    "compare": run_compare_command,
    "db": run_db_command,
    "shrink": run_shrink_command,
    "keep": run_keep_command,
    "corpus": run_corpus_command,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; returns its exit code (the console script exits with it)."""
    one_blas_thread()  # before anything loads numpy
    stream = out if out is not None else sys.stdout
    words = list(argv) if argv is not None else sys.argv[1:]
    args = _parser(words).parse_args(words)
    try:
        return _COMMANDS[args.command](args, stream)
    except StressError as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return error.exit_code
    except (SchemaTooNewError, EngineUnavailableError) as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 2
    except MetaDbError as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1


def console_main() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``stress spool stats | head``): not an error of ours. Point
        # stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
