"""``stress replay``: re-run every user for exactly its recorded ops and prove it.

The replay pins what the original decided at run time: each user's op count, the op
indexes the disk budget substituted and those the latency limit skipped. Plans are pure
functions of the seed, so the same counts, substitutions and skips give the same hash chains;
the verdict compares every user's plan digest, and where one differs, reads both runs' per-op
digests to name the first op.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from stress.artifacts import ReplayFile, ReplayUser, read_replay_file
from stress.config import Settings, settings_from_dict
from stress.engine.interrupts import Interrupts
from stress.engine.runner import (
    EXIT_CLEAN,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    ReplayInput,
    RunOutcome,
    run_simulation,
)
from stress.engine.users import UserResult, UserSpec
from stress.errors import ReplayFormatError
from stress.plan.profiles import Profile, profile_from_dict
from stress.plan.workload import PLAN_FORMAT_VERSION
from stress.replay.check import refuse_contradictions
from stress.replay.outcome import (
    RecordedOutcome,
    Reproduction,
    judge,
    recorded_outcome,
    replay_outcome,
)

__all__ = ["Divergence", "ReplayVerdict", "load_replay", "replay_run", "verify_replay"]

_DIGEST_BYTES = 8


@dataclass(frozen=True)
class Divergence:
    user_id: int
    user_class: str
    #: First op index whose digest differs (None: not locatable, e.g. side file missing).
    op_index: int | None
    detail: str


@dataclass(frozen=True)
class ReplayVerdict:
    outcome: RunOutcome
    users_checked: int
    ops_checked: int
    divergences: tuple[Divergence, ...]
    #: What the recorded run ended with, and whether the replay's outcome matched it.
    recorded: RecordedOutcome | None = None
    reproduction: Reproduction | None = None
    #: Which of ``tries`` runs this verdict is of (1-based).
    attempt: int = 1
    tries: int = 1

    @property
    def exit_code(self) -> int:
        """1 for diverged ops, a recorded failure that did not come back, or a new failure."""
        if self.outcome.exit_code == EXIT_INTERRUPTED:
            return EXIT_INTERRUPTED
        if self.divergences:
            return EXIT_FAILURE
        if self.reproduction is None:
            return self.outcome.exit_code
        if self.reproduction in (Reproduction.CLEAN, Reproduction.REPRODUCED):
            return EXIT_CLEAN
        return EXIT_FAILURE


def load_replay(
    path: Path, output_dir: Path | None = None
) -> tuple[ReplayFile, Settings, ReplayInput]:
    """Read ``path`` into the settings and pinned users a replay runs with.

    The replay writes a new run folder (``output_dir``, or a fresh one under ``runs/``).
    """
    recorded = read_replay_file(path)
    if not recorded.finished:
        raise ReplayFormatError(
            str(path),
            "stop_reason is null: that run did not finish (it was killed, or is still running), "
            f"so its op counts are not final; check it with: stress verify {path.parent}",
        )
    if recorded.plan_format_version != PLAN_FORMAT_VERSION:
        raise ReplayFormatError(
            str(path),
            f"plan format {recorded.plan_format_version}, but this stress plans with format "
            f"{PLAN_FORMAT_VERSION}: the op sequences would differ; replay with the version "
            "that recorded it, or regenerate the file",
        )
    config = dict(recorded.config)
    config["output_dir"] = str(output_dir) if output_dir is not None else None
    config["replay_file"] = None
    # The seed is read from global_seed alone (older files repeat it in config.seed).
    config["seed"] = recorded.global_seed
    settings = settings_from_dict(config, origin=path.name)
    refuse_contradictions(recorded, settings, path)
    try:
        profiles = {name: profile_from_dict(p) for name, p in recorded.profiles.items()}
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ReplayFormatError(str(path), f"profiles: cannot rebuild ({exc!r})") from None
    users = tuple(_pinned(user, profiles, path) for user in recorded.users)
    return recorded, settings, ReplayInput(users, profiles, path, tuple(recorded.faults))


def _pinned(user: ReplayUser, profiles: dict[str, Profile], path: Path) -> UserSpec:
    if user.class_ not in profiles:
        raise ReplayFormatError(str(path), f"user {user.user_id}: no profile {user.class_!r}")
    return UserSpec(
        user.user_id,
        user.class_,
        user.database_idx,
        user.process_idx,
        ops_limit=user.ops_executed,
        forced_substitutions=frozenset(user.substitutions),
        forced_skips=frozenset(user.skipped),
    )


def verify_replay(recorded: ReplayFile, recorded_dir: Path, outcome: RunOutcome) -> ReplayVerdict:
    """Compare every recorded user with its replay."""
    replayed = {user.user_id: user for user in outcome.users}
    divergences = []
    for user in recorded.users:
        found = replayed.get(user.user_id)
        problem = _compare(user, found, recorded_dir, outcome.run_dir)
        if problem is not None:
            divergences.append(problem)
    ops = sum(user.ops_executed for user in recorded.users)
    return ReplayVerdict(outcome, len(recorded.users), ops, tuple(divergences))


def _compare(
    user: ReplayUser, found: UserResult | None, recorded_dir: Path, replay_dir: Path
) -> Divergence | None:
    if found is None:
        return Divergence(user.user_id, user.class_, None, "did not run in the replay")
    if found.plan_digest == user.plan_digest and found.ops_executed == user.ops_executed:
        return None
    index = _first_differing_op(user, recorded_dir, replay_dir)
    detail = (
        f"recorded {user.ops_executed} ops with digest {user.plan_digest}, "
        f"replayed {found.ops_executed} ops with digest {found.plan_digest}"
    )
    return Divergence(user.user_id, user.class_, index, detail)


def _first_differing_op(user: ReplayUser, recorded_dir: Path, replay_dir: Path) -> int | None:
    if user.op_digests is None:
        return None
    try:
        old = (recorded_dir / user.op_digests).read_bytes()
        new = (replay_dir / user.op_digests).read_bytes()
    except OSError:
        return None
    for index in range(0, min(len(old), len(new)), _DIGEST_BYTES):
        if old[index : index + _DIGEST_BYTES] != new[index : index + _DIGEST_BYTES]:
            return index // _DIGEST_BYTES
    shorter = min(len(old), len(new)) // _DIGEST_BYTES
    return shorter if len(old) != len(new) else None


def replay_run(
    path: Path,
    *,
    output_dir: Path | None = None,
    out: TextIO,
    interrupts: Interrupts | None = None,
    tries: int = 1,
) -> ReplayVerdict:
    """Replay ``path`` into a new run folder, verify it, and print the verdict.

    A recorded failure that does not come back is tried again, up to ``tries`` runs in all
    (the later ones in ``<folder>-try-N``), since the interleaving that made it may not recur.
    """
    recorded, settings, pinned = load_replay(path, output_dir)
    expected = recorded_outcome(path, recorded)
    folder = output_dir
    for attempt in range(1, tries + 1):
        print(
            f"replaying {path}: seed {recorded.global_seed}, {len(recorded.users)} users"
            + (f" (try {attempt} of {tries})" if tries > 1 else ""),
            file=out,
        )
        if attempt > 1:
            settings = load_replay(path, folder)[1]
        outcome = run_simulation(settings, replay=pinned, out=out, interrupts=interrupts)
        verdict = replace(
            verify_replay(recorded, path.parent, outcome),
            recorded=expected,
            reproduction=judge(expected, replay_outcome(outcome.summary)),
            attempt=attempt,
            tries=tries,
        )
        _print_verdict(verdict, out)
        if verdict.reproduction is not Reproduction.NOT_REPRODUCED or verdict.divergences:
            break
        if outcome.exit_code == EXIT_INTERRUPTED:
            break
        base = output_dir if output_dir is not None else outcome.run_dir
        folder = base.with_name(f"{base.name}-try-{attempt + 1}")
    return verdict


def _print_verdict(verdict: ReplayVerdict, out: TextIO) -> None:
    if not verdict.divergences:
        print(
            f"replay verified: {verdict.users_checked} users, {verdict.ops_checked:,} ops, "
            "every plan digest equal",
            file=out,
        )
        _print_reproduction(verdict, out)
        return
    if verdict.recorded is not None and verdict.recorded.failed:
        print("failure not reproduced (the ops diverged: see below)", file=out)
    for d in verdict.divergences:
        where = f"op {d.op_index}" if d.op_index is not None else "an op it could not locate"
        print(
            f"replay DIVERGED: user {d.user_id} ({d.user_class}) at {where}: {d.detail}", file=out
        )


def _print_reproduction(verdict: ReplayVerdict, out: TextIO) -> None:
    recorded, how = verdict.recorded, verdict.reproduction
    if recorded is None or how is None or how is Reproduction.CLEAN:
        return
    replayed = replay_outcome(verdict.outcome.summary)
    if how is Reproduction.REPRODUCED:
        print(f"failure reproduced: {recorded.describe()}", file=out)
    elif how is Reproduction.NEW_FAILURE:
        print(f"replay FAILED where the recording passed: {replayed.describe()}", file=out)
    else:
        now = replayed.describe() if replayed.failed else "a clean run"
        print(
            "failure not reproduced (the ops were identical; the interleaving was not): "
            f"recorded {recorded.describe()}, replayed {now}"
            + (f" in {verdict.tries} tries" if verdict.tries > 1 else ""),
            file=out,
        )
