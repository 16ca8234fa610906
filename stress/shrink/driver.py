"""``stress shrink RUN_DIR``: a failing run cut down to a small one that fails the same way.

The steps, each candidate a real run (:mod:`stress.shrink.trials`) judged by its failure
signature, ``tries`` runs at most (:class:`stress.shrink.ddmin.FlakyTest`'s rule):

1. think time to zero, when the run had any: it changes no op a user draws, and every later
   run is then as fast as the store allows (a 20,000-op run with think times of 10-200 ms
   would take minutes a candidate);
2. every user's op count cut together (a bisection of the share of its ops each user runs):
   a defect met early is then shrunk in runs that take a fraction of the original's time;
3. ddmin over the users: a user keeps its ``user_id``, and its stream depends on nothing else,
   so removing a user never changes another's ops;
4. a bisection of each remaining user's op count (a prefix of its plan: the same ops);
5. config simplification: faults dropped one by one, processes to threads, one database,
   smaller batches.

Every candidate that fails the same way becomes the best so far: with the signature, or with
the same failure confined to fewer tables or op kinds (a defect that spanned several tables
may leave its few rows of a small run in one, which names it:
:meth:`stress.signature.FailureParts.narrows`). The shrunk run's signature is then the
narrower one, and ``shrink.json`` keeps both. The budget and SIGINT
stop the search (the run in flight is stopped, as a run's Ctrl-C stops it); the best so far
is written to ``RUN_DIR/shrunk/``: the replay.json, summary.json and per-op digests of the
smallest run that failed, and the one line that reproduces it.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson

from stress.artifacts import ReplayFile, read_replay_file, write_json_atomic
from stress.engine.interrupts import Interrupts
from stress.errors import RunFolderError
from stress.shrink.candidate import (
    keep_users,
    simplifications,
    total_ops,
    with_ops,
    with_share,
    without_think_time,
)
from stress.shrink.ddmin import FlakyTest, ddmin
from stress.shrink.trials import Trial, Trials, failure_of
from stress.signature import FailureParts

__all__ = ["ShrinkOutcome", "read_failing_run", "shrink_run"]

#: Where the shrink writes its result, and where its trial runs live, inside RUN_DIR.
SHRUNK = "shrunk"
WORK = "shrink-work"
#: The files of a run that a replay of it needs (besides plans/, its per-op digests).
RUN_FILES = ("replay.json", "summary.json")


@dataclass(frozen=True)
class ShrinkOutcome:
    #: The shrunk run's signature: the original's, or the same failure narrowed.
    signature: str
    #: The original run's signature.
    source_signature: str
    users_before: int
    users_after: int
    ops_before: int
    ops_after: int
    runs: int
    seconds: float
    #: Why the search ended before it had tried everything (None: it finished).
    cut_short: str | None
    shrunk_dir: Path
    command: str

    @property
    def exit_code(self) -> int:
        """130 when SIGINT stopped it (the best so far is still written), else 0."""
        return 130 if self.cut_short == "interrupted" else 0


def read_failing_run(run_dir: Path) -> tuple[ReplayFile, dict[str, Any]]:
    """The run's replay file and its summary's failure block; refuses anything else."""
    if not run_dir.is_dir():
        raise RunFolderError(str(run_dir), "no such folder; pass the folder of a run")
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    if missing:
        raise RunFolderError(
            str(run_dir),
            f"not a run folder (no {' or '.join(missing)}); pass the folder a run wrote",
        )
    try:
        summary = orjson.loads((run_dir / "summary.json").read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise RunFolderError(str(run_dir), f"summary.json cannot be read ({exc})") from None
    replay = read_replay_file(run_dir / "replay.json")
    if not replay.finished:
        raise RunFolderError(
            str(run_dir),
            "the run did not finish (replay.json's stop_reason is null), so its op counts are "
            f"not final; check it with: stress verify {run_dir}",
        )
    failure = failure_of(summary) if isinstance(summary, dict) else None
    if failure is None or not failure.get("signature"):
        stop = summary.get("stop_reason") if isinstance(summary, dict) else None
        raise RunFolderError(
            str(run_dir),
            f"the run did not fail (stop_reason {stop}, no failure in summary.json): "
            "there is nothing to shrink; pass a run that ended with exit 1",
        )
    return replay, failure


@dataclass
class _Search:
    """The best failing candidate so far and the runs that judge the others."""

    target: FailureParts
    trials: Trials
    tries: int
    out: TextIO
    stop: threading.Event
    best: ReplayFile
    #: The folder of the run that proved ``best`` fails (the original run at first).
    best_dir: Path
    #: How ``best`` fails: the target, or the same failure narrowed.
    best_failure: FailureParts
    cut_short: str | None = None
    runs: int = field(default=0)

    def judge(self, candidate: ReplayFile, what: str) -> bool:
        """Whether ``candidate`` fails with the target in one of ``tries`` runs (the rule of
        :class:`FlakyTest`); if so it becomes the best so far."""
        if self.stop.is_set():
            return False
        size = f"{len(candidate.users)} users, {total_ops(candidate):,} ops"
        made: list[Trial] = []

        def once(replay: ReplayFile) -> FailureParts | None:
            if self.stop.is_set():
                return None  # the budget or SIGINT: the tries left are not run
            made.append(self.trials.run(replay))
            self.runs += 1
            return made[-1].failure

        if FlakyTest(once, self.target, self.tries, FailureParts.narrows)(candidate):
            found = made[-1].failure
            narrowed = ""
            if found is not None and found != self.target:
                narrowed = f", narrowed to {found.readable()}"
            print(
                f"  {what} ({size}): fails the same way{narrowed} (try {len(made)}): kept",
                file=self.out,
            )
            for trial in made[:-1]:
                self.trials.discard(trial)
            self._adopt(candidate, made[-1])
            return True
        for trial in made:
            self.trials.discard(trial)
        if self.stop.is_set():
            print(f"  {what} ({size}): stopped", file=self.out)
        else:
            endings = ", ".join(_ending(trial) for trial in made)
            print(f"  {what} ({size}): {endings}: not kept", file=self.out)
        return False

    def _adopt(self, candidate: ReplayFile, trial: Trial) -> None:
        if self.best_dir.parent.parent == self.trials.work:
            shutil.rmtree(self.best_dir.parent, ignore_errors=True)
        self.best, self.best_dir = candidate, trial.run_dir
        assert trial.failure is not None  # adopted: it failed the same way
        self.best_failure = trial.failure


def _ending(trial: Trial) -> str:
    if trial.refused is not None:
        return f"refused ({trial.refused})"
    if trial.failure is not None:
        return f"fails otherwise ({trial.signature}: {trial.failure.readable()})"
    return f"passes ({trial.stop_reason})"


def _shrink_users(search: _Search) -> None:
    ids = [user.user_id for user in search.best.users]
    print(f"users: ddmin over {len(ids)} users", file=search.out)
    base = search.best

    def fails(kept: list[int]) -> bool:
        return search.judge(keep_users(base, kept), f"users {kept}")

    # Every candidate that fails becomes ddmin's current list and, in judge(), the best: so
    # ddmin's result is already the best when it returns.
    ddmin(ids, fails, stop=search.stop.is_set)


#: The share of every user's ops the first bisection can reach: 1/64 of the original.
SHARE_STEPS = 64


def _shrink_all_ops(search: _Search) -> None:
    print("ops: every user's op count cut together", file=search.out)
    base = search.best
    low, high = 0, SHARE_STEPS  # in 1/64ths of each user's ops: passes at 0, fails at all
    while high - low > 1 and not search.stop.is_set():
        middle = (low + high) // 2
        candidate = with_share(base, middle / SHARE_STEPS)
        if search.judge(candidate, f"every user's first {middle}/{SHARE_STEPS} of its ops"):
            high = middle
        else:
            low = middle


def _shrink_ops(search: _Search) -> None:
    print("ops: bisection of each user's op count", file=search.out)
    for user in sorted(search.best.users, key=lambda u: -u.ops_executed):
        low, high = 0, user.ops_executed  # passes at low (no ops), fails at high
        while high - low > 1 and not search.stop.is_set():
            middle = (low + high) // 2
            candidate = with_ops(search.best, user.user_id, middle)
            if search.judge(candidate, f"user {user.user_id} ops {high} -> {middle}"):
                high = middle
            else:
                low = middle


def _simplify_config(search: _Search) -> None:
    print("config: faults, processes, databases, batches", file=search.out)
    tried: set[str] = set()
    while not search.stop.is_set():
        fresh = [s for s in simplifications(search.best) if s.what not in tried]
        if not fresh:
            return
        for step in fresh:
            tried.add(step.what)
            if search.judge(step.replay, step.what):
                break  # the rest are rebuilt from the new best


def shrink_run(
    run_dir: Path,
    *,
    budget_s: float = 600.0,
    tries: int = 3,
    out: TextIO,
    interrupts: Interrupts | None = None,
) -> ShrinkOutcome:
    """Shrink the failing run in ``run_dir``; writes ``run_dir/shrunk/`` (see the module doc)."""
    original, failure = read_failing_run(run_dir)
    signals = interrupts if interrupts is not None else Interrupts()
    work = run_dir / WORK
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    target = FailureParts.of(failure)
    search = _Search(
        target, Trials(work, signals), tries, out, signals.abort, original, run_dir, target
    )
    print(
        f"shrinking {run_dir}: signature {target.signature()} ({failure.get('detail')}); "
        f"{len(original.users)} users, {total_ops(original):,} ops; "
        f"budget {budget_s:g} s, {tries} {'try' if tries == 1 else 'tries'} a candidate",
        file=out,
    )
    started = time.monotonic()
    # At the deadline the run in flight is stopped as Ctrl-C stops it; its result is dropped.
    timer = threading.Timer(budget_s, _spend, (search,))
    timer.daemon = True
    timer.start()
    try:
        _steps(search)
    finally:
        timer.cancel()
    if search.cut_short is None and signals.abort.is_set():
        search.cut_short = "interrupted"
    return _write_shrunk(search, run_dir, original, time.monotonic() - started)


def _spend(search: _Search) -> None:
    search.cut_short = "budget spent"
    search.stop.set()


def _steps(search: _Search) -> None:
    unhurried = without_think_time(search.best)
    if unhurried is not None:
        print("think time: to zero", file=search.out)
        search.judge(unhurried, "think time -> 0 ms")
    _shrink_all_ops(search)
    if len(search.best.users) > 1:
        _shrink_users(search)
    _shrink_ops(search)
    _simplify_config(search)


def _write_shrunk(
    search: _Search, run_dir: Path, original: ReplayFile, seconds: float
) -> ShrinkOutcome:
    """Copy the best run's replay, summary and digests to ``run_dir/shrunk/`` (whole or not
    at all: written aside, then renamed into place)."""
    target = run_dir / SHRUNK
    staging = run_dir / f".{SHRUNK}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name in RUN_FILES:
        shutil.copy2(search.best_dir / name, staging / name)
    if (search.best_dir / "plans").is_dir():
        shutil.copytree(search.best_dir / "plans", staging / "plans")
    command = f"stress replay {target / 'replay.json'}"
    shrunk = read_replay_file(staging / "replay.json")
    outcome = ShrinkOutcome(
        search.best_failure.signature(),
        search.target.signature(),
        len(original.users),
        len(shrunk.users),
        total_ops(original),
        total_ops(shrunk),
        search.runs,
        seconds,
        search.cut_short,
        target,
        command,
    )
    write_json_atomic(staging / "shrink.json", _record(outcome, run_dir))
    (staging / "reproduce.txt").write_text(command + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    _report(outcome, search.out)
    return outcome


def _record(outcome: ShrinkOutcome, run_dir: Path) -> dict[str, Any]:
    return {
        "source": str(run_dir),
        "signature": outcome.signature,
        "source_signature": outcome.source_signature,
        "users": [outcome.users_before, outcome.users_after],
        "ops": [outcome.ops_before, outcome.ops_after],
        "runs": outcome.runs,
        "seconds": round(outcome.seconds, 1),
        "cut_short": outcome.cut_short,
        "command": outcome.command,
    }


def _report(outcome: ShrinkOutcome, out: TextIO) -> None:
    share = outcome.ops_after / outcome.ops_before if outcome.ops_before else 1.0
    ending = f" ({outcome.cut_short}: the best so far)" if outcome.cut_short else ""
    signature = outcome.signature
    if signature != outcome.source_signature:
        signature = f"{outcome.source_signature} -> {signature} (the same failure, narrowed)"
    print(
        f"shrunk{ending}: users {outcome.users_before} -> {outcome.users_after}, "
        f"ops {outcome.ops_before:,} -> {outcome.ops_after:,} ({share:.1%}), "
        f"signature {signature}; {outcome.runs} runs in {outcome.seconds:.0f} s",
        file=out,
    )
    print(f"shrunk run: {outcome.shrunk_dir}", file=out)
    print(f"reproduce: {outcome.command}", file=out)
