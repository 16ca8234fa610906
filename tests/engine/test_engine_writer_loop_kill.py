"""A run on the ``writer-loop`` strategy whose worker process is SIGKILLed while it writes.

The worker's users are threads handing rows to one writer thread; the kill lands while they
write (no think time, the kill from the coordinator's own loop once a report shows the user
past 30 ops). The oracle then checks every acknowledged row against the databases: a group
that died uncommitted was never acknowledged, so nothing acknowledged may be missing.
(tests/metadb/test_metadb_writer_loop.py kills a process held exactly inside a group.)
"""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import run, small_settings
from kill_helpers import kill_worker_after

from stress.oracle.verify import format_verification, verify_run

pytestmark = pytest.mark.slow


def test_sigkill_of_a_writer_loop_worker_loses_nothing_acknowledged(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = kill_worker_after(monkeypatch, user_id=0, ops=30)
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
