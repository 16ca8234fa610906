"""``stress bench open``: its flags checked into an :class:`OpenPlan`, its table printed.

Exits 0, or 1 when a sqlite row's write is not in its file; a bad flag is one
:class:`ConfigError` (exit 2).
"""

from __future__ import annotations

import argparse
from typing import TextIO

import orjson

from stress.bench.openwrite import OpenPlan
from stress.cli.benchload import add_store_arguments, choices_from_args, to_stderr
from stress.cli.flags import whole_flag

__all__ = ["add_open_arguments", "open_plan_from_args", "run_open_command"]

_OPEN = OpenPlan()


def add_open_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser, _OPEN.choices)
    parser.add_argument("--iterations", default=str(_OPEN.iterations),
                        help="cold and warm iterations each (default: %(default)s)")  # fmt: skip


def open_plan_from_args(args: argparse.Namespace) -> OpenPlan:
    return OpenPlan(
        choices=choices_from_args(args),
        iterations=whole_flag("--iterations", args.iterations, 1),
    )


def run_open_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.bench.figures import run_statement
    from stress.bench.openwrite import format_markdown, run_plan

    plan = open_plan_from_args(args)
    result = run_plan(plan, to_stderr)
    statement = run_statement(
        "open", plan.choices,
        f"{plan.iterations} cold first-write and {plan.iterations} warm open-write "
        "iterations in one worker",
    )  # fmt: skip
    if args.json:
        document = {
            "run": statement,
            "scenarios": [s.to_json() for s in result.scenarios],
            "cold_overhead": [o.to_json() for o in result.overheads],
        }
        out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        out.write(statement + "\n\n" + format_markdown(result))
    failed = [s.engine for s in result.scenarios if s.failure != "none"]
    return 1 if "sqlite" in failed else 0
