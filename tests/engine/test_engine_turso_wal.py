"""turso's experimental multi-process WAL in whole runs (``STRESS_TURSO_MULTIPROCESS_WAL``).

- settings the mode cannot run with are refused in one line naming the variable;
- every process flagged: two worker processes share one file, the lock fault's holder is a
  flagged pyturso process whose lock sends writes to the spool, and the flagged oracle finds
  every acknowledged row;
- a mixed deployment (one worker process opens WITHOUT the flag): pyturso 0.8.3 does not
  refuse the open on Linux, and the run is caught not clean. What the oracle finds, as it is
  (four runs of 4 s by hand, seeds 7-9 and 5): acknowledged rows missing with
  ``integrity_check`` still ok (the usual case), the unflagged process aborting (a panic in the
  engine, SIGABRT), or its stale view of the ``ids`` table reserving an id already taken
  (``UNIQUE constraint failed``). The test asserts that the run fails with one of those.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from engine_helpers import small_settings
from faults_helpers import cli_run, read_json

from stress.engine.tursowal import check_turso_wal, lock_holder_engine, worker_options
from stress.errors import ConfigError
from stress.metadb import StoreOptions

needs_turso = pytest.mark.skipif(
    importlib.util.find_spec("turso") is None,
    reason="pyturso is not installed (pip install 'stress[turso]'); CI installs it",
)


def test_the_flag_needs_turso(tmp_path: Path) -> None:
    settings = small_settings(tmp_path, turso_multiprocess_wal="true")
    with pytest.raises(ConfigError, match=r"STRESS_TURSO_MULTIPROCESS_WAL=true: .*turso"):
        check_turso_wal(settings)


def test_unflagged_processes_need_the_flag_and_a_flagged_process(tmp_path: Path) -> None:
    lone = small_settings(tmp_path, engine="turso", processes=2, turso_unflagged_processes=1)
    with pytest.raises(ConfigError, match=r"STRESS_TURSO_UNFLAGGED_PROCESSES=1: .*WAL=true"):
        check_turso_wal(lone)
    every = small_settings(
        tmp_path,
        engine="turso",
        processes=2,
        turso_multiprocess_wal="true",
        turso_unflagged_processes=2,
    )
    with pytest.raises(ConfigError, match="must be below STRESS_PROCESSES=2"):
        check_turso_wal(every)


def test_only_the_first_n_workers_open_without_the_flag(tmp_path: Path) -> None:
    settings = small_settings(
        tmp_path,
        engine="turso",
        processes=3,
        turso_multiprocess_wal="true",
        turso_unflagged_processes=1,
    )
    check_turso_wal(settings)
    flagged = StoreOptions(engine="turso", multiprocess_wal=True)
    assert [worker_options(flagged, settings, i).multiprocess_wal for i in range(3)] == [
        False,
        True,
        True,
    ]
    assert lock_holder_engine(settings) == "turso-multiprocess-wal"


@pytest.mark.slow
@needs_turso
def test_flagged_processes_share_a_file_and_a_flagged_lock_holder_spools_writes(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    code, output = cli_run(
        run_dir,
        engine="turso",
        turso_multiprocess_wal="true",
        processes="2",
        databases="1",
        duration="4",
        busy_timeout_ms="200",
        faults="lock=every:1s:hold:600ms",
    )

    summary = read_json(run_dir / "summary.json")
    assert code == 0, output
    locks = summary["faults"]["events"]
    # The holder needs a second or so to load pyturso and wait its turn: the run's last locks
    # may end with the run; at least one held its full 600 ms.
    assert any(event["effect"].startswith("write-locked (BEGIN IMMEDIATE)") for event in locks)
    verification = summary["verification"]
    assert verification["ok"] and verification["missing"] == 0, verification
    assert verification["spooled"] > 0, "the flagged holder's lock kept no write out"
    assert set(verification["integrity"].values()) == {"ok"}
    # turso's shared coordination file sits beside the database, and is counted as its disk.
    assert (run_dir / "db-0" / "meta.db-tshm").exists()


@pytest.mark.slow
@needs_turso
def test_a_mixed_deployment_is_caught_not_clean(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    code, output = cli_run(
        run_dir,
        engine="turso",
        turso_multiprocess_wal="true",
        turso_unflagged_processes="1",
        processes="2",
        databases="1",
        users="inserter=2",
        duration="4",
    )

    summary = read_json(run_dir / "summary.json")
    verification = summary["verification"]
    silent_loss = verification["missing"] > 0 and set(verification["integrity"].values()) == {"ok"}
    aborted = any(crash["signal"] == "SIGABRT" for crash in summary["crashes"])
    stale_ids = "UNIQUE constraint failed" in output
    assert code == 1, output
    assert silent_loss or aborted or stale_ids, (verification, summary["crashes"], output)
