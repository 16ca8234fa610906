"""``stress bench writers|overhead|monitor|rows|opcodes``: flags checked into typed plans.

Each bench module takes a plan or plain values and returns figures; this module owns their
flags, turns them into those (every bad value one :class:`ConfigError` naming the flag, exit
2), and prints the figures. Flags are read as text and checked by :mod:`stress.cli.flags`, so
a bad value never ends in argparse's usage dump.

``stress bench writers`` exits 0 when no sqlite row lost or failed a write, 1 when one did
(each listed on stderr with the command that reproduces it).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

import orjson

from stress.bench.monitor import MonitorPlan
from stress.bench.opcodes import OpcodesPlan
from stress.bench.overhead import OverheadPlan
from stress.bench.rows import RowsPlan
from stress.bench.store import StoreBenchPlan
from stress.bench.sweep import SweepBenchPlan
from stress.bench.writers import TABLES, BenchPlan
from stress.cli.benchload import add_mode_arguments, mode_from_args
from stress.cli.flags import choices_flag, counts_flag, number_flag, whole_flag
from stress.errors import ConfigError
from stress.metadb import CONNECTION_MODES, ENGINES, ID_STRATEGIES, engine_version

__all__ = [
    "add_monitor_arguments",
    "add_opcodes_arguments",
    "add_overhead_arguments",
    "add_rows_arguments",
    "add_store_arguments",
    "add_sweep_bench_arguments",
    "add_writers_arguments",
    "plan_from_args",
    "run_monitor_command",
    "run_opcodes_command",
    "run_overhead_command",
    "run_rows_command",
    "run_store_command",
    "run_sweep_bench_command",
    "run_writers_command",
]

# The defaults the flags show are the plans' own.
_DEFAULT = BenchPlan()
_OVERHEAD = OverheadPlan()
_MONITOR = MonitorPlan()
_SWEEP = SweepBenchPlan()
_STORE = StoreBenchPlan()
_ROWS = RowsPlan()
_OPCODES = OpcodesPlan()


def _comma(values: tuple[object, ...]) -> str:
    return ",".join(str(value) for value in values)


# -- writers -----------------------------------------------------------------------------


def add_writers_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``stress bench writers`` to ``parser`` (values checked later)."""
    add = parser.add_argument
    add(
        "--writers",
        default=_comma(_DEFAULT.writer_counts),
        help="writer counts, a comma list (default: %(default)s)",
    )
    add(
        "--rows-per-writer",
        default=str(_DEFAULT.rows_per_writer),
        help="rows each writer attempts (default: %(default)s)",
    )
    add(
        "--threads",
        default=str(_DEFAULT.threads),
        help="threads per writer process, each with its own handle, splitting its rows "
        "(writer-loop groups their writes) (default: %(default)s)",
    )
    add(
        "--engine",
        default=_comma(_DEFAULT.engines),
        help=f"engines, a comma list of {', '.join(ENGINES)} (default: %(default)s)",
    )
    add(
        "--connection",
        default=_comma(_DEFAULT.connections),
        help=f"connection modes, a comma list of {', '.join(CONNECTION_MODES)} "
        "(default: %(default)s)",
    )
    add(
        "--ids",
        default=_comma(_DEFAULT.ids),
        help=f"id strategies, a comma list of {', '.join(ID_STRATEGIES)} (default: %(default)s)",
    )
    add(
        "--table",
        default=_DEFAULT.table,
        help=f"table written, one of {', '.join(TABLES)} (default: %(default)s)",
    )
    add(
        "--seed",
        default=str(_DEFAULT.seed),
        help="seed of the rows' contents (default: %(default)s)",
    )
    add(
        "--dir",
        default=None,
        help="keep each combination's database under this folder (default: a temp folder, removed)",
    )
    add_mode_arguments(parser, _DEFAULT.mode)
    add("--json", action="store_true", help="print only a JSON list of result objects")


def plan_from_args(args: argparse.Namespace) -> BenchPlan:
    """The checked plan; raises :class:`ConfigError` naming the bad flag and the fix."""
    engines = choices_flag("--engine", args.engine, ENGINES)
    for engine in engines:
        if engine_version(engine) == "not installed":
            raise ConfigError("--engine", engine, "install pyturso (pip install 'stress[turso]')")
    table = str(args.table)
    if table not in TABLES:
        raise ConfigError("--table", table, f"choose one of {', '.join(TABLES)}")
    mode, multiprocess_wal = mode_from_args(args, engines)
    return BenchPlan(
        writer_counts=counts_flag("--writers", args.writers, example="1,4,8,16,32"),
        rows_per_writer=whole_flag("--rows-per-writer", args.rows_per_writer, 1),
        threads=whole_flag("--threads", args.threads, 1),
        engines=engines,
        connections=choices_flag("--connection", args.connection, CONNECTION_MODES),
        ids=choices_flag("--ids", args.ids, ID_STRATEGIES),
        table=table,
        seed=whole_flag("--seed", args.seed, 0),
        directory=Path(args.dir) if args.dir else None,
        mode=mode,
        multiprocess_wal=multiprocess_wal,
    )


def run_writers_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``stress bench writers``: table (or JSON) to ``out``, progress to stderr.

    Returns the exit code (0 clean, 1 a sqlite row lost or failed writes); raises
    :class:`ConfigError` for a bad flag, for the caller to print (exit 2).
    """
    from stress.bench.figures import StoreChoices, run_statement
    from stress.bench.writers import format_markdown, run_plan, sqlite_failures, target_summaries

    plan = plan_from_args(args)
    rows = run_plan(plan, _to_stderr)
    summaries = target_summaries(rows)
    statement = run_statement(
        "writers",
        StoreChoices(plan.engines, mode=plan.mode, multiprocess_wal=plan.multiprocess_wal),
        f"{plan.rows_per_writer} rows per writer into {plan.table}",
    )
    if args.json:
        _to_stderr(statement)  # stdout stays the JSON list it always was
        out.write(
            orjson.dumps([row.to_json() for row in rows], option=orjson.OPT_INDENT_2).decode()
        )
        out.write("\n")
        for line in summaries:
            _to_stderr(line)
    else:
        out.write(statement + "\n\n" + format_markdown(rows))
        if summaries:
            out.write("\n" + "\n".join(summaries) + "\n")
    failures = sqlite_failures(rows, plan)
    for line in failures:
        _to_stderr(line)
    return 1 if failures else 0


def _emit(out: TextIO, as_json: bool, document: Any, text: str) -> int:
    """A bench's result: one JSON object on one line (``--json``), or its text; exit 0."""
    if as_json:
        print(orjson.dumps(document).decode(), file=out)
    else:
        out.write(text)
    return 0


def _to_stderr(line: str) -> None:
    # Looked up at call time, never at import, so tests and the CLI can redirect it.
    print(line, file=sys.stderr, flush=True)


# -- overhead ------------------------------------------------------------------------------


def add_overhead_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", default=str(_OVERHEAD.ops), help="single inserts per measurement")
    parser.add_argument(
        "--rounds",
        default=str(_OVERHEAD.rounds),
        help="interleaved a/b rounds (median and spread reported)",
    )
    parser.add_argument(
        "--memory-ops",
        default=str(_OVERHEAD.memory_ops),
        help="also run this many ops and report peak RSS (e.g. 1000000)",
    )
    parser.add_argument(
        "--connection",
        choices=CONNECTION_MODES,
        default=_OVERHEAD.connection,
        help="store connection mode of both loops (default: long-lived, the fastest, where "
        "the simulator's own cost shows most)",
    )
    parser.add_argument("--ids", choices=ID_STRATEGIES, default=_OVERHEAD.ids)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_overhead_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.bench.overhead import format_overhead, measure_plan

    plan = OverheadPlan(
        ops=whole_flag("--ops", args.ops, 100),
        rounds=whole_flag("--rounds", args.rounds, 1),
        memory_ops=whole_flag("--memory-ops", args.memory_ops, 0),
        connection=args.connection,
        ids=args.ids,
    )
    document = measure_plan(plan)
    return _emit(out, args.json, document, format_overhead(document))


# -- monitor -------------------------------------------------------------------------------


def add_monitor_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--processes", default=str(_MONITOR.processes), help="worker processes (one user each)")
    add("--duration", default=f"{_MONITOR.duration_s:g}", help="seconds to run")
    add("--interval-ms", default=f"{_MONITOR.interval_ms:g}", help="sampling interval in ms")
    add("--json", action="store_true", help="print one JSON object")


def run_monitor_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.bench.monitor import format_monitor, measure_monitor

    plan = MonitorPlan(
        processes=whole_flag("--processes", args.processes, 1),
        duration_s=number_flag("--duration", args.duration, 1),
        interval_ms=number_flag("--interval-ms", args.interval_ms, 10),
    )
    result = measure_monitor(plan)
    return _emit(out, args.json, asdict(result), format_monitor(result))


# -- sweep ---------------------------------------------------------------------------------


def add_sweep_bench_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--seeds", default=str(_SWEEP.seeds), help="seeds a side runs (default: %(default)s)")
    add("--per-run", default=f"{_SWEEP.per_run_s:g}", help="seconds of each run")
    add("--workers", default=str(_SWEEP.workers), help="runs at once, both sides")
    add("--rounds", default=str(_SWEEP.rounds), help="rounds a side, alternating")
    add("--json", action="store_true", help="print one JSON object")


def run_sweep_bench_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.bench.sweep import format_sweep_bench, measure_sweep

    plan = SweepBenchPlan(
        seeds=whole_flag("--seeds", args.seeds, 1),
        per_run_s=number_flag("--per-run", args.per_run, 0.1),
        workers=whole_flag("--workers", args.workers, 1),
        rounds=whole_flag("--rounds", args.rounds, 1),
    )
    bench = measure_sweep(plan)
    document = {**asdict(bench), "median_ratio": bench.median_ratio}
    return _emit(out, args.json, document, format_sweep_bench(bench))


# -- store ---------------------------------------------------------------------------------


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--rounds", default=str(_STORE.rounds), help="interleaved raw/store rounds")
    add("--single-rows", default=str(_STORE.single_rows), help="rows of the single-row loops")
    add("--batches", default=str(_STORE.batches), help="1,000-row batches of the batch loops")
    add(
        "--processes",
        default=str(_STORE.processes),
        help="writer processes of the processes scenario (0: skip it)",
    )
    add("--rows-per-process", default=str(_STORE.rows_per_process), help="rows each writes")
    add(
        "--connection",
        choices=CONNECTION_MODES,
        default=_STORE.connection,
        help="the store's connection mode (default: %(default)s)",
    )
    add("--ids", choices=ID_STRATEGIES, default=_STORE.ids, help="default: %(default)s")
    add("--json", action="store_true", help="print one JSON object")


def run_store_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.bench.store import format_store, measure_store

    plan = StoreBenchPlan(
        rounds=whole_flag("--rounds", args.rounds, 1),
        single_rows=whole_flag("--single-rows", args.single_rows, 10),
        batches=whole_flag("--batches", args.batches, 1),
        processes=whole_flag("--processes", args.processes, 0),
        rows_per_process=whole_flag("--rows-per-process", args.rows_per_process, 1),
        connection=args.connection,
        ids=args.ids,
    )
    document = measure_store(plan)
    return _emit(out, args.json, document, format_store(document))


# -- rows ----------------------------------------------------------------------------------


def add_rows_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--rows", default=str(_ROWS.rows), help="rows per table, per way, per round")
    add("--rounds", default=str(_ROWS.rounds), help="interleaved rounds (median and spread)")
    add(
        "--tables", default=_comma(_ROWS.tables), help="tables, a comma list (default: %(default)s)"
    )
    add("--json", action="store_true", help="print one JSON object")


def run_rows_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.bench.rows import format_rows, measure_rows
    from stress.metadb import JSON_TABLES

    plan = RowsPlan(
        rows=whole_flag("--rows", args.rows, 1),
        rounds=whole_flag("--rounds", args.rounds, 1),
        tables=choices_flag("--tables", args.tables, JSON_TABLES),
    )
    document = measure_rows(plan)
    return _emit(out, args.json, document, format_rows(document))


# -- opcodes -------------------------------------------------------------------------------


def add_opcodes_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--ops", default=str(_OPCODES.ops), help="single inserts run under the tracer")
    add("--connection", choices=CONNECTION_MODES, default=_OVERHEAD.connection)
    add("--ids", choices=ID_STRATEGIES, default=_OVERHEAD.ids)
    add("--json", action="store_true", help="print one JSON object")


def run_opcodes_command(args: argparse.Namespace, out: TextIO) -> int:
    import tempfile

    from stress.bench.opcodes import count_opcodes, format_opcodes
    from stress.bench.overhead import bench_profile
    from stress.metadb import StoreOptions

    plan = OpcodesPlan(ops=whole_flag("--ops", args.ops, 10))
    options = StoreOptions(connection=args.connection, ids=args.ids)
    with tempfile.TemporaryDirectory(prefix="stress-opcodes-") as tmp:
        profile = bench_profile(Path(tmp))
    document = count_opcodes(plan, profile, options)
    return _emit(out, args.json, document, format_opcodes(document))
