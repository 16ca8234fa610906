"""``stress verify`` and ``stress spool``: the oracle and the spool on a finished run.

A run folder holds ``db-N/meta.db`` with its spool under ``db-N/logs/``; these commands take
either a run folder (every database in it) or one spool home (``--home``, with the database
at ``<home>/meta.db`` unless ``--db`` says otherwise).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from stress.errors import RunFolderError

if TYPE_CHECKING:
    from stress.artifacts import ReplayFile
    from stress.oracle.verify import Verification

# The store, the oracle and the artifacts (numpy, pydantic, jsonschema behind them) are
# imported inside the commands: the CLI builds its parser from this module on every start.

__all__ = ["add_spool_arguments", "add_verify_arguments", "run_spool_command", "run_verify_command"]


@dataclass(frozen=True)
class _Home:
    home: Path
    db: Path


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="the run folder (holds replay.json)")


def add_spool_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["replay", "stats"])
    parser.add_argument("run_dir", type=Path, nargs="?", help="a run folder (every database)")
    parser.add_argument("--home", type=Path, help="one spool home instead of a run folder")
    parser.add_argument("--db", type=Path, help="the database of --home (default HOME/meta.db)")
    from stress.metadb.engines import ENGINES  # the vocabulary alone: sqlite3, no pydantic

    parser.add_argument("--engine", choices=ENGINES, default="sqlite")


def run_verify_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.artifacts import read_replay_file, write_json_atomic
    from stress.oracle.verify import format_verification, verify_run

    run_dir: Path = args.run_dir
    if not (run_dir / "replay.json").is_file():
        raise RunFolderError(run_dir, "no replay.json here; pass the folder of a run")
    # Read once into its model: a damaged file is one ReplayFormatError line (exit 2).
    replay = read_replay_file(run_dir / "replay.json")
    if not replay.finished:
        # Written when the run started and kept current: the run was killed (or still runs).
        print(
            f"run not finished: {run_dir / 'replay.json'} has no stop_reason (the run was "
            "killed, or is still running); checking what it wrote",
            file=out,
        )
    result = verify_run(run_dir, replay)
    print(format_verification(result), file=out)
    _print_signature(result, replay, out)
    target = run_dir / "verification.json"
    try:
        write_json_atomic(target, result.to_dict())
    except OSError as error:
        # A run folder kept on read-only media (an archive, a CI artifact mount) can still be
        # checked: the verdict above stands; only its file could not be written.
        reason = error.strerror or str(error)
        print(f"not written: {target}: {reason} (the verdict above stands)", file=out)
    else:
        print(f"written: {target}", file=out)
    return 0 if result.ok else 1


def _print_signature(result: Verification, replay: ReplayFile, out: TextIO) -> None:
    """The failure line a run that stopped on this verdict prints: the same signature, so a
    folder checked after the fact (a killed run, a soak stopped from outside) is grouped
    with the runs that fail the same way."""
    from stress.oracle.failure import data_failure
    from stress.outcomes import StopReason
    from stress.signature import FailureParts

    found = data_failure(result, replay)
    if found is None:
        return
    parts = FailureParts(StopReason.INVARIANT, found.check, found.op, found.table)
    print(f"failure {parts.signature()}: {parts.readable()}", file=out)


def _homes(args: argparse.Namespace) -> list[_Home]:
    if args.home is not None:
        db = args.db if args.db is not None else args.home / "meta.db"
        return [_Home(args.home, db)]
    if args.run_dir is None:
        raise RunFolderError(Path("."), "pass a run folder or --home DIR")
    homes = sorted(p for p in args.run_dir.glob("db-*") if p.is_dir())
    if not homes:
        raise RunFolderError(args.run_dir, "no db-N folders here; pass a run folder or --home")
    return [_Home(home, home / "meta.db") for home in homes]


def run_spool_command(args: argparse.Namespace, out: TextIO) -> int:
    from stress.metadb import MetaDb, StoreOptions, replay_spool, spool_stats

    homes = _homes(args)
    if args.action == "stats":
        for place in homes:
            stats = spool_stats(place.home)
            print(f"{place.home}: {stats.lines:,} lines in {stats.files} file(s)", file=out)
            for label, counts in (("table", stats.by_table), ("error", stats.by_error_class)):
                for key, count in sorted(counts.items(), key=lambda item: -item[1]):
                    print(f"  {label:5} {key:24} {count:>10,}", file=out)
            for problem in stats.problems[:20]:
                print(f"  bad line {problem}", file=out)
        return 0
    problems = 0
    for place in homes:
        if not place.db.exists():
            raise RunFolderError(place.db, "no database here; pass --db PATH")
        with MetaDb(place.db, place.home, StoreOptions(engine=args.engine)) as store:
            result = replay_spool(store)
        problems += len(result.problems)
        elsewhere = (
            f", {result.applied_elsewhere:,} applied by another replay running at once"
            if result.applied_elsewhere
            else ""
        )
        print(
            f"{place.home}: {result.lines_read:,} lines read, {result.ingested:,} ingested, "
            f"{result.duplicates:,} already present, {len(result.problems)} problems{elsewhere}",
            file=out,
        )
        for problem in result.problems[:20]:
            print(f"  {problem}", file=out)
    return 1 if problems else 0
