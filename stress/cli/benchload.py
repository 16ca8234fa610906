"""``stress bench load`` (and the store flags every bench shares): flags checked into plans.

Every bench takes ``--engine``, ``--connection``, ``--ids`` (comma lists, one table row per
combination), ``--mode threads|processes`` and ``--turso-multiprocess-wal``; each bad value is
one :class:`ConfigError` naming the flag (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import orjson

from stress.bench.fanout import MODES, Mode
from stress.bench.figures import StoreChoices, run_statement
from stress.bench.load import LoadPlan
from stress.cli.flags import choices_flag, counts_flag, number_flag, whole_flag
from stress.errors import ConfigError
from stress.metadb import CONNECTION_MODES, ENGINES, ID_STRATEGIES, engine_version

__all__ = [
    "add_load_arguments",
    "add_mode_arguments",
    "add_store_arguments",
    "choices_from_args",
    "mode_from_args",
    "run_load_command",
    "to_stderr",
]

_LOAD = LoadPlan()


def add_store_arguments(parser: argparse.ArgumentParser, defaults: StoreChoices) -> None:
    """The flags every bench shares (values checked later, by :func:`choices_from_args`)."""
    add = parser.add_argument
    add("--engine", default=",".join(defaults.engines),
        help=f"engines, a comma list of {', '.join(ENGINES)} (default: %(default)s)")  # fmt: skip
    add("--connection", default=",".join(defaults.connections),
        help=f"connection modes, a comma list of {', '.join(CONNECTION_MODES)} "
        "(default: %(default)s)")  # fmt: skip
    add("--ids", default=",".join(defaults.ids),
        help=f"id strategies, a comma list of {', '.join(ID_STRATEGIES)} "
        "(default: %(default)s)")  # fmt: skip
    add_mode_arguments(parser, defaults.mode)
    add("--dir", default=None,
        help="keep each row's database under this folder "
        "(default: a temp folder, removed)")  # fmt: skip
    add("--json", action="store_true", help="print only JSON (stable keys)")


def choices_from_args(args: argparse.Namespace) -> StoreChoices:
    """The checked store flags; raises :class:`ConfigError` naming the bad flag and the fix."""
    engines = choices_flag("--engine", args.engine, ENGINES)
    for engine in engines:
        if engine_version(engine) == "not installed":
            raise ConfigError("--engine", engine, "install pyturso (pip install 'stress[turso]')")
    mode, multiprocess_wal = mode_from_args(args, engines)
    return StoreChoices(
        engines=engines,
        connections=choices_flag("--connection", args.connection, CONNECTION_MODES),
        ids=choices_flag("--ids", args.ids, ID_STRATEGIES),
        mode=mode,
        multiprocess_wal=multiprocess_wal,
        directory=Path(args.dir) if args.dir else None,
    )


def add_mode_arguments(parser: argparse.ArgumentParser, default: Mode) -> None:
    """``--mode`` and ``--turso-multiprocess-wal``: how workers run and open (every bench)."""
    add = parser.add_argument
    add("--mode", default=default,
        help="workers as threads of one process (the original's) or as processes "
        "(default: %(default)s)")  # fmt: skip
    add("--turso-multiprocess-wal", action="store_true",
        help="turso: every connection uses pyturso's experimental multi-process WAL")  # fmt: skip


def mode_from_args(args: argparse.Namespace, engines: tuple[str, ...]) -> tuple[Mode, bool]:
    """The checked mode and multi-process WAL switch; a bad one is a :class:`ConfigError`."""
    mode = str(args.mode)
    if mode not in MODES:
        raise ConfigError("--mode", mode, f"choose one of {', '.join(MODES)}")
    if args.turso_multiprocess_wal and "turso" not in engines:
        raise ConfigError("--turso-multiprocess-wal", "set", "it is turso's: add --engine turso")
    return ("threads" if mode == "threads" else "processes"), bool(args.turso_multiprocess_wal)


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser, _LOAD.choices)
    add = parser.add_argument
    add("--writers", default=str(_LOAD.writers), help="writer workers (default: %(default)s)")
    add("--write-seconds", default=f"{_LOAD.write_seconds:g}", help="seconds per write rate")
    add("--write-rates", default=",".join(map(str, _LOAD.write_rates)),
        help="target ops/s, a comma list (default: %(default)s)")  # fmt: skip
    add("--readers", default=str(_LOAD.readers), help="reader workers (default: %(default)s)")
    add("--read-seconds", default=f"{_LOAD.read_seconds:g}", help="seconds per read rate")
    add("--read-rates", default=",".join(map(str, _LOAD.read_rates)),
        help="target queries/s, a comma list (default: %(default)s)")  # fmt: skip
    add("--read-rows", default=str(_LOAD.read_rows), help="rows per read table")


def load_plan_from_args(args: argparse.Namespace) -> LoadPlan:
    return LoadPlan(
        choices=choices_from_args(args),
        writers=whole_flag("--writers", args.writers, 1),
        write_seconds=number_flag("--write-seconds", args.write_seconds, 0.1),
        write_rates=counts_flag("--write-rates", args.write_rates, example="1000,10000"),
        readers=whole_flag("--readers", args.readers, 1),
        read_seconds=number_flag("--read-seconds", args.read_seconds, 0.1),
        read_rates=counts_flag("--read-rates", args.read_rates, example="1,2,4,8"),
        read_rows=whole_flag("--read-rows", args.read_rows, 1),
    )


def run_load_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``stress bench load``: 0, or 1 when a sqlite row failed (silent loss, or slow)."""
    from stress.bench.load import format_markdown, run_plan

    plan = load_plan_from_args(args)
    result = run_plan(plan, to_stderr)
    statement = run_statement(
        "load", plan.choices,
        f"{plan.writers} writers x {plan.write_seconds:g} s, {plan.readers} readers x "
        f"{plan.read_seconds:g} s over {plan.read_rows} rows per table",
    )  # fmt: skip
    if args.json:
        document = {
            "run": statement,
            "writer_heavy": [s.to_json() for s in result.writes],
            "reader_heavy": [s.to_json() for s in result.reads],
        }
        out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        out.write(statement + "\n\n" + format_markdown(result))
    failed = [s.engine for s in result.writes if s.failure != "none"]
    failed += [s.engine for s in result.reads if s.failure != "none"]
    return 1 if "sqlite" in failed else 0


def to_stderr(line: str) -> None:
    # Looked up at call time, never at import, so tests and the CLI can redirect it.
    print(line, file=sys.stderr, flush=True)
