"""A full disk, for real: a 40 MB tmpfs the run (or the test) fills up.

- the ledger reserves a window's blocks before mapping it, so a full disk is an ``ENOSPC``,
  never a SIGBUS, and an intent reserves room for its op's rows or writes nothing;
- a spool append that does not fit leaves the file as it was: a line is whole or absent;
- the store classifies a full disk as ``disk_full`` (SQLITE_FULL, and the "disk I/O error" of
  a connection that cannot grow its ``-shm``), and a write whose spool has no room is
  ``failed``; nothing raises;
- a user whose ledger has no room stops, records the full disk and raises the flag;
- a run, with threads and with worker processes, that fills the disk ends ``ResourceLimit``
  with cause ``disk``, both artifacts, and a verification with nothing missing.

Mounting needs root (CI has it); without it these tests skip and say why.
"""

from __future__ import annotations

import errno
import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from disk_helpers import fill, free_bytes, tmpfs

from stress.artifacts import schema_errors
from stress.cli.main import main
from stress.engine.diskfull import RESERVE_NAME, ArtifactReserve, reserve_bytes
from stress.errors import DiskFullError
from stress.metadb import EngineError, MetaDb, iter_spool_lines, spool_files
from stress.metadb.spool import SpoolEntry, append_entries
from stress.observe.backpressure import Backpressure, Limits
from stress.observe.stats import STORE_ERROR_COUNTER
from stress.oracle.ledger import (
    _WINDOW,
    FAILED,
    SPOOLED,
    LedgerWriter,
    iter_ledger_chunks,
    read_ledger,
)

_PAGE = 4096


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh 40 MB tmpfs, unmounted afterwards."""
    with tmpfs(tmp_path / "disk", "40m") as mount_point:
        yield mount_point


# -- the ledger -------------------------------------------------------------------------

_LEDGER_CHILD = """
import errno, json, sys
from pathlib import Path
from stress.oracle.ledger import LedgerWriter
ledger = LedgerWriter(Path(sys.argv[1]))
written = 0
try:
    for op in range(10**6):  # far more than one window holds
        ledger.intent(op, "ticks", 1, 0)
        ledger.outcome(op, "ticks", "persisted", (op,), ("{}",))
        written += 2
    outcome = "never full"
except OSError as exc:
    outcome = "ENOSPC" if exc.errno == errno.ENOSPC else f"errno {exc.errno}"
    message = str(exc)
ledger.close()
print(json.dumps({"outcome": outcome, "written": written, "message": message}))
"""


def test_a_ledger_on_a_full_disk_gets_enospc_at_its_next_window_not_sigbus(
    small_disk: Path,
) -> None:
    # Room for exactly one window: the second one cannot be reserved. Before reservations,
    # ftruncate grew the file sparse and the first write to the second window was a SIGBUS.
    fill(small_disk, leave=_WINDOW)
    path = small_disk / "user-0.bin"
    child = subprocess.run(
        [sys.executable, "-c", _LEDGER_CHILD, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert child.returncode == 0, (child.returncode, child.stderr)  # -7 would be SIGBUS
    report = json.loads(child.stdout)
    assert report["outcome"] == "ENOSPC", report
    assert "no room for the ledger" in report["message"] and "user-0.bin" in report["message"]
    records = sum(len(chunk) for chunk in iter_ledger_chunks(path))
    # Every record written is whole and readable, and they filled the one window there was.
    assert records == report["written"] == _WINDOW // 22
    entries = list(read_ledger(path))
    assert [e.status for e in entries[:2]] == ["intent", "persisted"]
    assert entries[-1].status == "persisted"


def test_an_intent_reserves_its_rows_or_writes_nothing(small_disk: Path) -> None:
    fill(small_disk, leave=_WINDOW)
    path = small_disk / "user-1.bin"
    ledger = LedgerWriter(path)
    ledger.intent(0, "ticks", 10, 0)
    ledger.outcome(0, "ticks", "persisted", tuple(range(10)), ("{}",) * 10)
    # An op whose rows would spill into a second window is refused before it starts.
    rows = _WINDOW // 22
    with pytest.raises(OSError) as refused:
        ledger.intent(1, "ticks", rows, 5)
    assert refused.value.errno == errno.ENOSPC
    ledger.close()
    statuses = [entry.status for entry in read_ledger(path)]
    assert statuses == ["intent"] + ["persisted"] * 10


# -- the spool --------------------------------------------------------------------------


def _entry(size: int) -> SpoolEntry:
    return SpoolEntry("ticks", "insert", "disk_full", "full", id=1, row_json="x" * size)


def test_a_spool_append_that_does_not_fit_leaves_no_torn_line(small_disk: Path) -> None:
    home = small_disk / "db-0"
    append_entries(home, [_entry(100)], "sqlite")
    path = spool_files(home)[0]
    before = path.read_bytes()
    fill(small_disk, leave=64 * _PAGE)
    # 1 MB of lines into 256 KB of room: the kernel takes what fits and the rest is refused.
    with pytest.raises(OSError) as refused:
        append_entries(home, [_entry(100_000) for _ in range(10)], "sqlite")
    assert path.read_bytes() == before
    assert refused.value.errno == errno.ENOSPC
    # The cut-back gave the blocks back: a line that fits still goes in, whole.
    append_entries(home, [_entry(1000)], "sqlite")
    lines = list(iter_spool_lines(path))
    assert [line.problem for line in lines] == [None, None]
    assert [len(line.record["row_json"]) for line in lines if line.record] == [100, 1000]


# -- the store --------------------------------------------------------------------------


def _tick(n: int) -> dict[str, Any]:
    return {"ts_utc": "2026-11-26T10:00:00+00:00", "source": f"s{n}"}


def test_the_store_on_a_full_disk_answers_disk_full_and_never_raises(small_disk: Path) -> None:
    store = MetaDb.open(small_disk / "meta.db", small_disk)
    assert store.record("ticks", _tick(0)).persisted
    fill(small_disk)
    batch = store.record_batch("ticks", [_tick(n) for n in range(2000)])
    # The rows could not be stored, nor spooled: failed, for want of room.
    assert (batch.status, batch.error_class) == ("failed", "disk_full"), batch.reason
    assert "spool append failed too" in (batch.reason or "")
    single = store.record("ticks", _tick(1))
    assert (single.status, single.error_class) == ("failed", "disk_full")
    # A read's connection cannot grow its -shm either ("disk I/O error"): still disk_full.
    (small_disk / "meta.db-shm").unlink(missing_ok=True)
    with pytest.raises(EngineError) as read:
        store.query("SELECT count(*) FROM ticks")
    assert read.value.error_class == "disk_full", read.value


_USER_CHILD = """
import io, json, sys, threading
from pathlib import Path
from stress.config import DEFAULT_PROFILE_DIR
from stress.controls import Controls
from stress.oracle.ledger import LedgerWriter, read_ledger
from stress.metadb import MetaDb
from stress.plan.profiles import load_profiles
from stress.observe.stats import StatsRecorder
from stress.engine.users import UserRunner, UserSpec
from stress.plan.workload import PlanLimits, UserPlan
store_home, ledger_file = Path(sys.argv[1]), Path(sys.argv[2])
limits = PlanLimits(5000, 10_000, 0, 1, 1)
controls = Controls(threading.Event(), threading.Event(), threading.Event())
runner = UserRunner(
    UserSpec(0, "inserter", 0, 0, ops_limit=10_000),
    UserPlan(3, 0, load_profiles(DEFAULT_PROFILE_DIR)["inserter"], limits),
    MetaDb.open(store_home / "meta.db", store_home),
    StatsRecorder(),
    controls,
    io.BytesIO(),
    LedgerWriter(ledger_file),
)
result = runner.run()
print(json.dumps({
    "harness_error": result.harness_error,
    "disk_full": result.disk_full,
    "flag": controls.disk_full.is_set(),
    "ops": result.ops_executed,
    "statuses": [entry.status for entry in read_ledger(ledger_file)],
}))
"""


def test_a_user_whose_ledger_has_no_room_stops_and_says_so(
    small_disk: Path, tmp_path: Path
) -> None:
    store_home = tmp_path / "store"
    store_home.mkdir()
    ledger_file = small_disk / "user-0.bin"
    fill(small_disk, leave=_WINDOW)
    # In a child: were the ledger to fault (SIGBUS), only the child would die.
    child = subprocess.run(
        [sys.executable, "-c", _USER_CHILD, str(store_home), str(ledger_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert child.returncode == 0, (child.returncode, child.stderr)
    report = json.loads(child.stdout)
    assert report["harness_error"] is None
    assert report["disk_full"] is not None and "no room for the ledger" in report["disk_full"]
    assert report["flag"] and 0 < report["ops"] < 10_000
    # Every op the store saw has its outcome: no intent without rows after it.
    statuses = [*report["statuses"], "end"]
    follows = [statuses[i + 1] for i, status in enumerate(statuses) if status == "intent"]
    assert follows and "intent" not in follows and "end" not in follows


# -- the monitor's verdict, and a run with no room to start -------------------------------


def test_a_users_full_disk_stops_the_run_with_cause_disk() -> None:
    disk_full = threading.Event()
    pressure = Backpressure(
        Limits(4096, 1000, 512, 2048, 60), threading.Event(), threading.Event(), disk_full
    )
    assert not pressure.disk_is_full(1.0) and pressure.stop_cause() is None
    disk_full.set()
    assert pressure.disk_is_full(2.5) and pressure.disk_is_full(3.0)
    report = pressure.report(4.0)
    assert (report["stop_cause"], report["disk_full_at_s"]) == ("disk", 2.5)


def test_a_stall_names_the_cause_that_held_the_pause() -> None:
    pressure = Backpressure(
        Limits(100, 1000, 512, 2048, 5), threading.Event(), threading.Event(), None
    )
    pressure.observe(0.0, {"memory": 200.0, "cpu": 10.0})
    pressure.observe(6.0, {"memory": 200.0, "cpu": 10.0})
    assert pressure.stalled and pressure.stop_cause() == "memory"


def test_the_reserve_holds_real_blocks_until_it_is_released(small_disk: Path) -> None:
    assert reserve_bytes(3, 9) == 4 << 20  # the floor covers a run of the default shape
    assert reserve_bytes(3, 5000) > reserve_bytes(3, 9)
    before = free_bytes(small_disk)
    reserve = ArtifactReserve.take(small_disk, 4 << 20)
    assert before - free_bytes(small_disk) == 4 << 20
    reserve.release()
    reserve.release()
    assert free_bytes(small_disk) == before and not (small_disk / RESERVE_NAME).exists()


def test_a_run_folder_with_no_room_for_the_verdict_is_refused_in_one_line(
    small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(small_disk, leave=64 * _PAGE)
    with pytest.raises(DiskFullError):
        ArtifactReserve.take(small_disk, 4 << 20)
    assert not (small_disk / RESERVE_NAME).exists()
    code = main(["run", "--output-dir", str(small_disk / "run"), "--duration", "5"], io.StringIO())
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("DiskFullError: "), err
    assert "no room for the 4.0 MB a run keeps" in err[0]


def test_a_disk_that_fills_while_the_databases_are_prepared_is_one_line_not_a_traceback(
    small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Room for the reserve and a little more: seeding (a ledger window each) cannot fit.
    fill(small_disk, leave=reserve_bytes(3, 9) + 64 * _PAGE)
    run_dir = small_disk / "run"
    code = main(["run", "--output-dir", str(run_dir), "--duration", "5"], io.StringIO())
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("DiskFullError: "), err
    assert "filled up while preparing the databases" in err[0]
    assert not (run_dir / RESERVE_NAME).exists()


# -- whole runs -------------------------------------------------------------------------


def _run_until_full(run_dir: Path, processes: int) -> tuple[int, str]:
    flags = {
        "seed": "13",
        "users": "inserter=4",
        "databases": "2",
        "processes": str(processes),
        "batch-min": "3000",
        "batch-max": "10000",
        "think-min-ms": "0",
        "think-max-ms": "1",
        "log-interval": "0.5",
        "duration": "60",
        # Neither budget may pre-empt the real full disk.
        "max-disk-mb": "100000",
        "max-cpu-percent": "100000",
        "output-dir": str(run_dir),
    }
    out = io.StringIO()
    argv = ["run"] + [part for name, value in flags.items() for part in (f"--{name}", value)]
    return main(argv, out=out), out.getvalue()


def _read(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@pytest.mark.slow
@pytest.mark.parametrize("processes", [0, 2], ids=["threads", "processes"])
def test_a_run_that_fills_its_disk_stops_as_resource_limit_and_verifies(
    small_disk: Path, processes: int
) -> None:
    run_dir = small_disk / "run"
    code, output = _run_until_full(run_dir, processes)

    assert code == 1, output
    summary, replay = _read(run_dir / "summary.json"), _read(run_dir / "replay.json")
    assert schema_errors(summary, "summary") == [] and schema_errors(replay, "replay") == []
    assert summary["stop_reason"] == replay["stop_reason"] == "ResourceLimit", output
    assert summary["backpressure"]["stop_cause"] == "disk"
    assert summary["backpressure"]["disk_full_at_s"] is not None
    assert "ResourceLimit after" in output and ": disk full (no room to write" in output
    assert summary["results"]["actual_duration_secs"] < 60
    assert summary["harness_errors"] == [] and summary["crashes"] == []
    assert all(user["harness_error"] is None for user in summary["users"])
    met = [str(user["disk_full"]) for user in summary["users"] if user["disk_full"]]
    assert met
    # Where the full disk was met first: the store (its write failed, or was spooled after
    # all, and is counted by its cause), a ledger (the op refused before the store), or a
    # user's digest or journal file (its buffered write got ENOSPC).
    results = summary["results"]
    store_met = (
        results["errors_by_class"]["disk_full"] >= 1
        or results["counters"].get(STORE_ERROR_COUNTER + "disk_full", 0) >= 1
    )
    ledger_first = any("no room for the ledger" in what for what in met)
    side_file = any(f"[Errno {errno.ENOSPC}]" in what for what in met)
    assert store_met or ledger_first or side_file, (met, results["errors_by_class"])
    verification = summary["verification"]
    assert verification["missing"] == 0 and verification["unaccounted"] == 0, verification
    assert verification["ok"] and verification["acknowledged"] > 0
    assert set(verification["integrity"].values()) == {"ok"}
    # Rows the full disk kept out are in the ledgers as failed or spooled, not acknowledged.
    kept_out = 0
    for ledger in (run_dir / "ledger").glob("user-*.bin"):
        for chunk in iter_ledger_chunks(ledger):
            kept_out += int(((chunk["status"] == FAILED) | (chunk["status"] == SPOOLED)).sum())
    assert kept_out > 0 or ledger_first, summary["users"]
    for home in sorted(run_dir.glob("db-*")):
        for path in spool_files(home):
            assert [line.problem for line in iter_spool_lines(path) if line.problem] == []
    assert not (run_dir / RESERVE_NAME).exists()
