"""``stress report``, ``stress compare`` and ``stress db``: reading finished runs.

The report, its matplotlib, the comparison and the database views are imported inside the
commands: the CLI builds its parser from this module on every start.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TextIO

# Light (the standard library only): the parser's help names the default page.
from stress.report.folders import REPORT_NAME

__all__ = [
    "add_compare_arguments",
    "add_db_arguments",
    "add_report_arguments",
    "run_compare_command",
    "run_db_command",
    "run_report_command",
    "write_run_report",
]



def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir",
        type=Path,
        help="a run folder (summary.json), a soak's (soak.json) or a sweep's (sweep.json)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, help=f"the HTML file to write (default DIR/{REPORT_NAME})"
    )


def write_run_report(run_dir: Path, output: Path | None, out: TextIO) -> int:
    """Write the report of ``run_dir`` (a run's, a soak's or a sweep's folder); prints where,
    its size and the time it took."""
    from stress.report.folders import write_view
    from stress.report.plots import require_matplotlib

    require_matplotlib()  # before reading anything: the one line says what to install
    started = time.perf_counter()
    view, target, size = write_view(run_dir, output)
    took = time.perf_counter() - started
    what = "" if view.kind == "run" else f"{view.kind} "
    print(f"{what}report: {target} ({size / 1024:.0f} KB, {took:.1f} s)", file=out)
    return 0


def run_report_command(args: argparse.Namespace, out: TextIO) -> int:
    return write_run_report(args.run_dir, args.output, out)


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("before", type=Path, help="run folder or summary.json (the baseline)")
    parser.add_argument("after", type=Path, help="run folder or summary.json (the candidate)")
    parser.add_argument(
        "--threshold-pct",
        type=float,
        default=10.0,
        help="a change beyond this percent is marked (default 10)",
    )
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when a marked regression exists",
    )


def run_compare_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.report.compare import compare_runs, format_comparison

    comparison = compare_runs(args.before, args.after, args.threshold_pct)
    if args.json:
        import orjson

        out.write(orjson.dumps(comparison.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        out.write(format_comparison(comparison))
    return 1 if args.fail_on_regression and comparison.regressions else 0


def add_db_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="the run folder (holds db-N/meta.db)")
    parser.add_argument(
        "view",
        choices=["hot-tables", "recent", "summary", "delivery", "spool"],
        help="what to show",
    )
    parser.add_argument("table", nargs="?", help="the table of `recent`")
    parser.add_argument("--limit", type=int, default=10, help="rows of `recent` (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run_db_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.dbview.views import show

    out.write(show(args.run_dir, args.view, args.table, args.limit, as_json=args.json))
    return 0
