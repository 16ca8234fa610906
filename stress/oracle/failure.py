"""Which check failed, in which table, through which op kind: the oracle's part of a signature.

The oracle may find several problems at once, in many rows of many tables. A signature must
name the same bug the same way whatever the seed, and a shrunk run (fewer users, fewer ops)
must still match it, so the parts are chosen canonically, never from a particular row:

- **check**: the first failed check in :data:`CHECK_PRIORITY`, the most specific cause
  first (an unreadable file or a failed integrity check explains everything after it; an id
  handed out twice also shows as a missing and an unaccounted row, so it comes before them);
- **table**: the one table every failing row of that check is in, else none. A defect of one
  table's path shows as that table in every seed; a defect of every write (a dropped write)
  shows as none in every seed that hits two tables or more. (The alternative, the first table
  in alphabetical order, changes with the seed whenever that table happens not to be hit,
  which for the rarer tables is most runs; "one table or none" changes only when every hit
  lands in one table, which the skewed table mix makes unlikely past a few hits.)
- **op**: the same rule over the op kinds of the failing rows (``single_insert`` or
  ``bulk_insert``), told by regenerating each op from its user's seed (O(1) an op, at most
  :data:`~stress.oracle.verify.FINDING_OPS` of them); none when any failing row's op is not
  known (a row no one wrote).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stress.artifacts import ReplayFile
from stress.oracle.ledger import INTENT, iter_ledger_chunks
from stress.oracle.verify import SPOOL_CHECK, UNIQUE_IDS_CHECK, Finding, Verification
from stress.plan.profiles import profile_from_dict
from stress.plan.workload import PlanLimits, UserPlan
from stress.signature import Check

__all__ = ["CHECK_PRIORITY", "DataFailure", "data_failure"]

#: The order in which failed checks name a failure: the first that failed wins.
CHECK_PRIORITY: tuple[str, ...] = (
    Check.UNREADABLE,
    Check.INTEGRITY,
    UNIQUE_IDS_CHECK,
    SPOOL_CHECK,
    Check.CHANGED,
    Check.UNACCOUNTED,
    Check.MISSING,
)


@dataclass(frozen=True)
class DataFailure:
    """The oracle's choice of a failure's check, table and op kind (None: not one)."""

    check: str
    table: str | None
    op: str | None


def _rank(check: str) -> tuple[int, str]:
    # A named invariant the list does not know (a soak's) comes after the known ones.
    known = check in CHECK_PRIORITY
    return (CHECK_PRIORITY.index(check) if known else len(CHECK_PRIORITY), check)


def data_failure(verification: Verification, replay: ReplayFile) -> DataFailure | None:
    """The canonical parts of the verdict's failure; None when no check failed."""
    failed = [
        check
        for check, found in verification.findings.items()
        if found.tables or found.ops or found.unknown_ops
    ]
    if not failed:
        return None
    check = min(failed, key=_rank)
    finding = verification.findings[check]
    table = next(iter(finding.tables)) if len(finding.tables) == 1 else None
    return DataFailure(check, table, _op_kind(finding, replay))


def _op_kind(finding: Finding, replay: ReplayFile) -> str | None:
    if finding.unknown_ops or not finding.ops:
        return None
    kinds = {
        kind for path, ops in _by_ledger(finding).items() for kind in _kinds(path, ops, replay)
    }
    return kinds.pop() if len(kinds) == 1 else None


def _by_ledger(finding: Finding) -> dict[Path, set[int]]:
    grouped: dict[Path, set[int]] = defaultdict(set)
    for path, op in finding.ops:
        grouped[path].add(op)
    return grouped


def _kinds(path: Path, ops: set[int], replay: ReplayFile) -> list[str | None]:
    """The op kind of each of ``ops`` of one user's ledger (None: not a user's op)."""
    if not path.stem.startswith("user-"):
        return [None]  # the databases' seed rows: no op of a user
    user_id = int(path.stem.removeprefix("user-"))
    classes = {user.user_id: user.class_ for user in replay.users}
    profile = profile_from_dict(replay.profiles[classes[user_id]])
    limits = PlanLimits.from_config(replay.config)
    wanted = np.fromiter(ops, dtype=np.uint32)
    kinds: list[str | None] = []
    for records in iter_ledger_chunks(path):
        intents = records[(records["status"] == INTENT) & np.isin(records["op"], wanted)]
        for op_index, draws_at in zip(
            intents["op"].tolist(), intents["digest"].tolist(), strict=True
        ):
            plan = UserPlan(replay.global_seed, user_id, profile, limits)
            plan.resume_at(int(op_index), int(draws_at))
            kinds.append(str(plan.next_op().kind))
    return kinds
