"""A real signal (SIGKILL, or SIGSTOP for a stuck worker) to a real worker process in the
middle of a real run, at a chosen point."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from stress.engine import coordinator as coordinator_module
from stress.engine.coordinator import CoordinatorResult
from stress.engine.messages import Stats, WorkerMessage
from stress.engine.pool import WorkerPool
from stress.outcomes import StopReason


def kill_worker_after(
    monkeypatch: pytest.MonkeyPatch,
    user_id: int,
    ops: int,
    sig: signal.Signals = signal.SIGKILL,
) -> dict[str, Any]:
    """Make the run send ``sig`` to ``user_id``'s worker once a report shows it past ``ops``."""
    seen: dict[str, Any] = {}
    real = coordinator_module.coordinate

    def coordinate(pool: WorkerPool, *args: Any, **kwargs: Any) -> CoordinatorResult:
        receive = pool.receive

        def watching(timeout: float) -> list[WorkerMessage]:
            messages = receive(timeout)
            for message in messages:
                if isinstance(message, Stats) and any(
                    p.user_id == user_id and p.ops_executed >= ops for p in message.progress
                ):
                    seen.setdefault("reported", True)
            return messages

        on_tick = args[-1]

        def tick(elapsed: float) -> StopReason | None:
            if seen.get("reported") and "killed_at" not in seen:
                worker = next(
                    s.worker_idx for s in pool.specs for u in s.users if u.user_id == user_id
                )
                seen["pid"] = pool.pids()[worker]
                os.kill(seen["pid"], sig)
                seen["killed_at"], seen["worker"] = elapsed, worker
            result: StopReason | None = on_tick(elapsed)
            return result

        pool.receive = watching  # type: ignore[method-assign]
        return real(pool, *args[:-1], tick, **kwargs)

    # The runner imports coordinate() when the run starts, so patch it where it lives.
    monkeypatch.setattr(coordinator_module, "coordinate", coordinate)
    return seen
