"""``stress bench reads``: its flags checked into a :class:`ReadsPlan`, its tables printed.

Exits 0, or 1 when a sqlite row had a read or write error (turso's refusals are what is
measured there, never a bench failure); a bad flag is one :class:`ConfigError` (exit 2).
"""

from __future__ import annotations

import argparse
from typing import TextIO

import orjson

from stress.bench.reads import ReadsPlan
from stress.cli.benchload import add_store_arguments, choices_from_args, to_stderr
from stress.cli.flags import number_flag, whole_flag

__all__ = ["add_reads_arguments", "reads_plan_from_args", "run_reads_command"]

_READS = ReadsPlan()


def add_reads_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser, _READS.choices)
    add = parser.add_argument
    add("--writers", default=str(_READS.writers), help="writer workers (default: %(default)s)")
    add("--seconds", default=f"{_READS.seconds:g}", help="seconds of writing and reading")
    add("--interval-ms", default=f"{_READS.interval_ms:g}",
        help="each reader runs its query every this many ms (default: %(default)s)")  # fmt: skip


def reads_plan_from_args(args: argparse.Namespace) -> ReadsPlan:
    return ReadsPlan(
        choices=choices_from_args(args),
        writers=whole_flag("--writers", args.writers, 1),
        seconds=number_flag("--seconds", args.seconds, 0.1),
        interval_ms=number_flag("--interval-ms", args.interval_ms, 1),
    )


def run_reads_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.bench.figures import run_statement
    from stress.bench.reads import format_markdown, run_plan

    plan = reads_plan_from_args(args)
    result = run_plan(plan, to_stderr)
    statement = run_statement(
        "reads", plan.choices,
        f"{plan.writers} writers x {plan.seconds:g} s, one reader per query every "
        f"{plan.interval_ms:g} ms",
    )  # fmt: skip
    if args.json:
        document = {
            "run": statement,
            "queries": [s.to_json() for s in result.queries],
            "writes": [w.to_json() for w in result.writes],
        }
        out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        out.write(statement + "\n\n" + format_markdown(result))
    failed = [s.engine for s in result.queries if s.read_errors]
    failed += [w.engine for w in result.writes if w.write_errors]
    return 1 if "sqlite" in failed else 0
