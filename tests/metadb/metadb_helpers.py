"""Shared data and worker processes for the meta.db tests.

Not a test module: the tests import it by name (pytest puts this folder on ``sys.path``), and
spawned worker processes import it to find their entry points, so it imports nothing but the
store and the standard library.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stress.metadb import MetaDb, StoreOptions, replay_spool
from stress.metadb.spool import SpoolEntry, append_entries


def _turso_missing() -> bool:
    try:
        import turso  # noqa: F401
    except ImportError:
        return True
    return False


TURSO_MISSING = _turso_missing()
TURSO_SKIP_REASON = "pyturso is not installed (pip install 'stress[turso]'); CI installs it"

#: ``open_store(**options)``, the conftest fixture: a migrated handle in the test's folder.
StoreFactory = Callable[..., MetaDb]

TS = "2024-05-01T12:00:00.000000+00:00"

#: One valid row per JSON-row table: every required field, in the original's style.
SAMPLE_ROWS: dict[str, dict[str, Any]] = {
    "messages": {
        "ts_utc": TS,
        "source": "telegram",
        "direction": "inbound",
        "chat_id": "c-1",
        "from_agent": "owner",
        "to_agent": "agent0",
        "body": "ship it",
    },
    "cli_invocations": {
        "ts_utc": TS,
        "bin": "netsky",
        "argv_json": '["netsky", "status"]',
        "exit_code": 0,
        "duration_ms": 12.5,
        "host": "box-1",
    },
    "crashes": {"ts_utc": TS, "kind": "panic", "agent": "agent1"},
    "ticks": {"ts_utc": TS, "source": "watchdog"},
    "workspaces": {"ts_utc_created": TS, "name": "ws-1", "branch": "feat/x"},
    "sessions": {"ts_utc": TS, "agent": "agent0", "session_num": 3, "event": "up"},
    "clone_dispatches": {
        "ts_utc": TS,
        "lifecycle": "started",
        "brief": "fix the spool",
        "branch": "clone/1",
        "status": "running",
    },
    "harvest_events": {
        "ts_utc": TS,
        "source_branch": "clone/1",
        "target_branch": "main",
        "commit_sha": "0123abcd",
        "status": "merged",
        "conflicts": 0,
    },
    "communication_events": {
        "ts_utc": TS,
        "source": "imessage",
        "tool": "send",
        "direction": "outbound",
        "chat_id": "c-2",
        "message_id": "m-9",
        "handle": "+100",
        "agent": "agent2",
        "body": "done",
        "status": "sent",
    },
    "mcp_tool_calls": {
        "ts_utc_start": TS,
        "ts_utc_end": TS,
        "source": "mcp",
        "tool": "read_file",
        "agent": "agent0",
        "duration_ms": 3.0,
        "success": True,
    },
    "git_operations": {
        "ts_utc": TS,
        "operation": "push",
        "repo": "netsky",
        "branch": "main",
        "status": "ok",
    },
    "owner_directives": {
        "ts_utc": TS,
        "source": "telegram",
        "directive": "pause clones",
        "agent": "agent0",
        "status": "applied",
    },
    "token_usage": {
        "ts_utc": TS,
        "session_id": "s-1",
        "agent": "agent0",
        "runtime": "claude",
        "model": "opus",
        "input_tokens": 1200,
        "output_tokens": 300,
        "cost_usd_micros": 4500,
    },
    "tests": {
        "ts_utc": TS,
        "suite": "unit",
        "name": "test_spool",
        "outcome": "passed",
        "duration_ms": 8.0,
        "agent": "agent3",
    },
    "watchdog_events": {
        "ts_utc": TS,
        "source": "watchdog",
        "event": "restart",
        "agent": "agent1",
        "severity": "warn",
    },
    "tasks": {
        "ts_utc": TS,
        "task_id": "t-7",
        "title": "write tests",
        "status": "in_progress",
        "agent": "agent0",
    },
    "source_errors": {
        "ts_utc": TS,
        "source": "imap",
        "error_class": "timeout",
        "message": "read timed out",
    },
    "iroh_events": {
        "ts_utc": TS,
        "event_type": "connect",
        "peer_id_hash": "0123456789abcdef",
        "peer_label": "laptop",
    },
    "tool_use_events": {
        "ts_utc": TS,
        "agent": "agent0",
        "tool": "Bash",
        "duration_ms": 40.0,
        "success": True,
    },
    "clone_lifecycle_events": {
        "ts_utc": TS,
        "clone_id": "clone-1",
        "phase": "harvest",
        "status": "ok",
    },
    "prepush_bypass_events": {
        "ts_utc": TS,
        "repo": "netsky",
        "branch": "main",
        "agent": "agent0",
        "reason": "hotfix",
    },
    "marker_state_events": {
        "ts_utc": TS,
        "marker": "deploy",
        "state": "set",
        "agent": "agent0",
    },
    "dependency_installs": {
        "ts_utc": TS,
        "manager": "uv",
        "package": "orjson",
        "version": "3.10.0",
        "duration_ms": 900.0,
        "success": True,
    },
}


def tick(source: str, ts_utc: str = TS) -> dict[str, Any]:
    """A tick row; a distinct ``source`` makes its row_json distinct."""
    return {"ts_utc": ts_utc, "source": source}


def rows_by_id(store: MetaDb, table: str) -> dict[int, str]:
    """``id -> row_json`` of every row of ``table``."""
    result = store.query(f"SELECT id, row_json FROM {table} ORDER BY id")
    return {int(row[0]): str(row[1]) for row in result.rows}


# -- worker processes (spawned: keep the arguments picklable) --------------------------

#: How long a worker waits for the others at the start: a sibling that died before it got
#: there breaks the barrier (the worker exits with an error) instead of hanging the test.
BARRIER_TIMEOUT_S = 120


def write_worker(
    path: str, home: str, options: StoreOptions, worker: int, singles: int, batch: int, barrier: Any
) -> list[tuple[str, int | None, str | None]]:
    """Open a handle, wait for every worker, then write ``singles`` rows and one batch.

    Returns ``(status, id, error_class)`` per row, so the parent can check every one landed.
    """
    store = MetaDb(Path(path), Path(home), options)
    barrier.wait(BARRIER_TIMEOUT_S)
    report: list[tuple[str, int | None, str | None]] = []
    for seq in range(singles):
        out = store.record("ticks", tick(f"w{worker}-{seq}"))
        report.append((out.status, out.id, out.error_class))
    rows = [tick(f"w{worker}-b{seq}") for seq in range(batch)]
    outcome = store.record_batch("ticks", rows)
    ids: list[int | None] = list(outcome.ids) if outcome.ids else [None] * batch
    report.extend((outcome.status, row_id, outcome.error_class) for row_id in ids)
    store.close()
    return report


def write_worker_to_queue(queue: Any, *args: Any) -> None:
    queue.put(write_worker(*args))


def spool_worker(home: str, worker: int, lines: int, barrier: Any) -> None:
    """Append ``lines`` spool lines, one ``append_entries`` call each, some 5-20 KB long."""
    barrier.wait(BARRIER_TIMEOUT_S)
    for seq in range(lines):
        # Every seventh line is large, so a torn write would show; sizes vary by seq.
        size = 5_000 + (seq * 7_919) % 15_000 if seq % 7 == 0 else 20
        row_json = json.dumps({"worker": worker, "seq": seq, "pad": "x" * size})
        entry = SpoolEntry(
            "ticks", "insert", "lock_timeout", "database is locked", None, row_json, {"seq": seq}
        )
        append_entries(Path(home), [entry], "sqlite")


def turso_second_process(path: str, home: str, queue: Any) -> None:
    """Write through turso while another process holds the file; report what happened."""
    store = MetaDb(Path(path), Path(home), StoreOptions(engine="turso"))
    report: dict[str, Any] = {"pid": os.getpid()}
    try:
        single = store.record("ticks", tick("second-process"))
        batch = store.record_batch("ticks", [tick("second-b0"), tick("second-b1")])
        cursor = store.upsert_source_cursor("second", "1")
        report["outcomes"] = [
            (single.status, single.error_class),
            (batch.status, batch.error_class),
            (cursor.status, cursor.error_class),
        ]
    except BaseException as exc:  # the test asserts there was none
        report["raised"] = f"{type(exc).__name__}: {exc}"
    queue.put(report)


def replay_worker(path: str, home: str, barrier: Any, queue: Any) -> None:
    """Wait for every replayer, replay the spool once, report what this process applied."""
    store = MetaDb(Path(path), Path(home))
    barrier.wait(BARRIER_TIMEOUT_S)
    result = replay_spool(store)
    store.close()
    queue.put(
        {
            "pid": os.getpid(),
            "lines_read": result.lines_read,
            "ingested": result.ingested,
            "duplicates": result.duplicates,
            "applied_elsewhere": result.applied_elsewhere,
            "problems": result.problems,
        }
    )
