"""``replay.json`` from a run's first op to its end, so every run folder can be verified.

The oracle (``stress verify``) needs the run's seed, configuration, profiles and users to know
who wrote where; the ledgers, plans and databases say the rest. A run writes its replay file
before its users start and rewrites it (atomically) at every log interval, so a coordinator
killed with SIGKILL still leaves a folder the oracle can check. Until the run ends the file's
``stop_reason`` is null: that one field says the run did not finish, each user's
``ops_executed`` is the last count its worker reported, and its ``plan_digest`` is null (the
digest of a user still running is not known). ``stress replay`` refuses such a file; the
finished file (written by the runner with the artifacts) has the same fields as ever.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stress.artifacts import write_json_atomic
from stress.engine.journal import digests_path
from stress.engine.users import UserProgress, UserResult, UserSpec
from stress.outcomes import StopReason

__all__ = ["ReplayLog", "user_entry"]


def user_entry(user: UserResult) -> dict[str, Any]:
    """One finished user in replay.json."""
    return {
        "user_id": user.user_id,
        "class": user.user_class,
        "database_idx": user.database_idx,
        "process_idx": user.process_idx,
        "ops_executed": user.ops_executed,
        "plan_digest": user.plan_digest,
        "substitutions": user.substitutions,
        "skipped": user.skipped,
        "op_digests": _op_digests(user.user_id),
    }


def _op_digests(user_id: int) -> str:
    # Relative to the replay file's folder, so a copied run folder still finds them.
    return digests_path(Path("plans"), user_id).as_posix()


def _running_entry(spec: UserSpec, reported: UserProgress | None) -> dict[str, Any]:
    """A user still running: its last reported op count, and no digest yet."""
    ops = reported.ops_executed if reported is not None else 0
    so_far = UserResult(spec.user_id, spec.user_class, spec.database_idx, spec.process_idx, ops)
    return {**user_entry(so_far), "plan_digest": None}


class ReplayLog:
    """Writes one run's replay.json while the run goes, and builds the finished one.

    ``head`` holds the fields fixed for the whole run (format versions, seed, config,
    profiles); ``fault_entries`` gives the faults injected so far.
    """

    def __init__(
        self,
        path: Path,
        head: Mapping[str, Any],
        users: Sequence[UserSpec],
        fault_entries: Callable[[], list[dict[str, Any]]],
    ) -> None:
        self.path = path
        self._head = dict(head)
        self._users = sorted(users, key=lambda user: user.user_id)
        self._fault_entries = fault_entries
        #: The last in-progress write that failed (e.g. a full disk), if any.
        self.write_error: OSError | None = None

    def write_running(self, reported: Mapping[int, UserProgress] | None = None) -> None:
        """Rewrite the in-progress file with each user's last reported op count.

        A failed rewrite leaves the previous file whole and the run going: only the final
        write must succeed, and the runner makes that one.
        """
        known = reported or {}
        users = [_running_entry(user, known.get(user.user_id)) for user in self._users]
        document = self._document(None, users)
        try:
            write_json_atomic(self.path, document)
        except OSError as exc:
            self.write_error = exc

    def finished(self, users: Sequence[UserResult], stop_reason: StopReason) -> dict[str, Any]:
        """The finished document (the caller writes it with the summary)."""
        entries = [user_entry(user) for user in sorted(users, key=lambda u: u.user_id)]
        return self._document(stop_reason, entries)

    def _document(
        self, stop_reason: StopReason | None, users: list[dict[str, Any]]
    ) -> dict[str, Any]:
        head = self._head
        # The key order of every replay.json written so far (it is read by people too).
        return {
            "format_version": head["format_version"],
            "plan_format_version": head["plan_format_version"],
            "global_seed": head["global_seed"],
            "config": head["config"],
            "stop_reason": stop_reason,
            "profiles": head["profiles"],
            "users": users,
            "faults": self._fault_entries(),
        }
