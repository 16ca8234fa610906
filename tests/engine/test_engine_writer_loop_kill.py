"""A run on the ``writer-loop`` strategy whose worker process is SIGKILLed while it writes.

The worker's users are threads handing rows to one writer thread; the kill lands while they
write (no think time, the kill from the coordinator's own loop once a report shows the user
past 30 ops). The oracle then checks every acknowledged row against the databases: a group
that died uncommitted was never acknowledged, so nothing acknowledged may be missing.
(tests/metadb/test_metadb_writer_loop.py kills a process held exactly inside a group.)
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from engine_helpers import run, small_settings

from stress.engine import coordinator as coordinator_module
from stress.engine.coordinator import CoordinatorResult
from stress.engine.messages import Stats, WorkerMessage
from stress.engine.pool import WorkerPool
from stress.oracle.verify import format_verification, verify_run
from stress.outcomes import StopReason

pytestmark = pytest.mark.slow


def _kill_worker_of(monkeypatch: pytest.MonkeyPatch, user_id: int, ops: int) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    real = coordinator_module.coordinate

    def coordinate(pool: WorkerPool, *args: Any, **kwargs: Any) -> CoordinatorResult:
        receive, on_tick = pool.receive, args[-1]

        def watching(timeout: float) -> list[WorkerMessage]:
            messages = receive(timeout)
            for message in messages:
                if isinstance(message, Stats) and any(
                    p.user_id == user_id and p.ops_executed >= ops for p in message.progress
                ):
                    seen.setdefault("reported", True)
            return messages

        def tick(elapsed: float) -> StopReason | None:
            if seen.get("reported") and "pid" not in seen:
                worker = next(
                    s.worker_idx for s in pool.specs for u in s.users if u.user_id == user_id
                )
                seen["pid"] = pool.pids()[worker]
                os.kill(seen["pid"], signal.SIGKILL)
            result: StopReason | None = on_tick(elapsed)
            return result

        pool.receive = watching  # type: ignore[method-assign]
        return real(pool, *args[:-1], tick, **kwargs)

    monkeypatch.setattr(coordinator_module, "coordinate", coordinate)
    return seen


def test_sigkill_of_a_writer_loop_worker_loses_nothing_acknowledged(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _kill_worker_of(monkeypatch, user_id=0, ops=30)
    settings = small_settings(
        tmp_path / "run",
        users="inserter=6",
        databases=1,
        processes=2,
        think_max_ms=0,
        connection="writer-loop",
        id_allocation="block",
        duration=120,
    )
    outcome = run(settings)

    assert "pid" in seen, "the worker was never killed"
    assert outcome.stop_reason == "CrashDetected"
    verification = verify_run(outcome.run_dir)
    printed = format_verification(verification)
    assert verification.acknowledged > 0, printed
    assert verification.missing == 0 and verification.unaccounted == 0, printed
    assert verification.ok, printed
