"""Real sweeps: real ``stress run`` subprocesses on a local cluster and on a real scheduler.

Every run is short (two users, one database, at most 20 ops each), two at a time.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
from sweep_helpers import SMALL_ENV, small_plan

from stress.cli.main import main
from stress.config import settings_from_dict
from stress.engine.interrupts import Interrupts
from stress.sweep.driver import run_sweep
from stress.sweep.plan import config_digest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent.parent


def _lines(folder: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (folder / "sweep.ndjson").read_bytes().splitlines()]


def _eventually(check: Callable[[], bool], within_s: float, what: str) -> None:
    """Wait for another process to do something (slow tests only; real processes)."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s} s: {what}")
        time.sleep(0.05)


@pytest.fixture
def small_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SMALL_ENV.items():
        monkeypatch.setenv(name, value)


def _sweep_cli(folder: Path, *flags: str, ops: int = 20) -> tuple[int, str]:
    out = io.StringIO()
    argv = ["sweep", "--per-run", "1s", "--max-ops-per-user", str(ops), "--workers", "2"]
    code = main([*argv, "--output-dir", str(folder), *flags], out=out)
    return code, out.getvalue()


def test_a_sweep_of_20_short_seeds_on_a_local_cluster(tmp_path: Path, small_env: None) -> None:
    code, printed = _sweep_cli(tmp_path / "sweep", "--seeds", "20", ops=5)
    assert code == 0, printed
    lines = _lines(tmp_path / "sweep")
    assert sorted(line["seed"] for line in lines) == list(range(20))
    assert {line["outcome"] for line in lines} == {"pass"}
    assert len({line["config_digest"] for line in lines}) == 1  # one configuration, 20 seeds
    assert all(line["ops"] > 0 and line["stop_reason"] == "OpLimitReached" for line in lines)
    assert len({line["worker"] for line in lines}) == 1  # the local cluster's one worker
    assert all(line["started_at"] > 0 and line["overrides"] == {} for line in lines)
    assert list((tmp_path / "sweep" / "runs").iterdir()) == []  # passing folders deleted
    record = orjson.loads((tmp_path / "sweep" / "sweep.json").read_bytes())
    assert (record["status"], record["runs"], record["failed"]) == ("finished", 20, 0)
    assert "sweep  20/20 done  0 failing" in printed
    assert "failures     none" in printed


def test_a_planted_failure_in_one_seed_of_ten_is_found_grouped_and_kept(tmp_path: Path) -> None:
    """Seed 7 runs a store mutant (drop-write: acknowledged writes that never land)."""

    def plant(seed: int) -> dict[str, str]:
        return {"STRESS_MUTANT": "drop-write:3"} if seed == 7 else {}

    plan = small_plan(tmp_path / "sweep", range(0, 10))
    out = io.StringIO()
    outcome = run_sweep(plan, out, Interrupts(), overrides=plant)
    assert outcome.exit_code == 1, out.getvalue()
    failed = [result for result in outcome.results if result.failed]
    assert [result.seed for result in failed] == [7]
    kept = Path(failed[0].run_dir or "")
    summary = orjson.loads((kept / "summary.json").read_bytes())
    assert failed[0].signature == summary["failure"]["signature"]
    assert failed[0].stop_reason == "InvariantViolation"
    assert sorted(path.name for path in (tmp_path / "sweep" / "runs").iterdir()) == [
        "seed-7", "seed-7.log",
    ]
    (group,) = orjson.loads((tmp_path / "sweep" / "sweep.json").read_bytes())["failures"]
    assert (group["count"], group["first_seed"], group["fastest_seed"]) == (1, 7, 7)
    assert f"stress replay {kept}/replay.json" in out.getvalue()
    # The planted configuration is the kept run's own: it is in its replay.json.
    replay = orjson.loads((kept / "replay.json").read_bytes())
    assert replay["config"]["mutant"] == "drop-write:3"


def test_a_swarm_run_replays_alone_from_its_own_folder(tmp_path: Path, small_env: None) -> None:
    bounds = tmp_path / "bounds.toml"
    bounds.write_text(
        "[users]\ninserter = [1, 2]\nmixed = [0, 1]\n"
        '[choices]\nconnection = ["per-op", "long-lived"]\nid_allocation = ["row", "block"]\n'
        "[batch]\nmin = [1, 20]\nmax = [20, 60]\n"
    )
    code, printed = _sweep_cli(
        tmp_path / "sweep", "--seed-range", "40:42", "--swarm", str(bounds), "--keep-all"
    )
    assert code == 0, printed
    for line in _lines(tmp_path / "sweep"):
        replay = orjson.loads((Path(line["run_dir"]) / "replay.json").read_bytes())
        config = {**replay["config"], "seed": line["seed"]}
        assert config_digest(settings_from_dict(config)) == line["config_digest"]
    run_dir = Path(_lines(tmp_path / "sweep")[0]["run_dir"])
    assert main(["replay", str(run_dir / "replay.json"), "--output-dir", str(tmp_path / "r")],
                out=io.StringIO()) == 0


def _stop_the_first_run(stopped: list[psutil.Process]) -> None:
    """SIGSTOP the first ``stress run`` this process starts, once it runs: a real hang."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for child in psutil.Process().children(recursive=True):
            try:
                folder = Path(child.environ().get("STRESS_OUTPUT_DIR", "/nonexistent"))
                # The run itself (python -m stress run), not its guard (guard.py ... stress run).
                is_run = child.cmdline()[1:] == ["-m", "stress", "run"]
                if is_run and (folder / "replay.json").exists():
                    stopped.extend([child, *child.children(recursive=True)])
                    child.send_signal(signal.SIGSTOP)
                    return
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.05)


def test_a_hanging_run_is_killed_at_its_timeout_with_its_whole_group(tmp_path: Path) -> None:
    env = {**SMALL_ENV, "STRESS_PROCESSES": "1"}  # a coordinator and a worker process
    plan = small_plan(tmp_path / "sweep", range(0, 1), timeout_s=12.0, base_env=env)
    stopped: list[psutil.Process] = []
    stopper = threading.Thread(target=_stop_the_first_run, args=(stopped,))
    stopper.start()
    outcome = run_sweep(plan, io.StringIO(), Interrupts())
    stopper.join()
    (result,) = outcome.results
    assert stopped, "no run was started"
    assert (result.outcome, result.exit_code, outcome.exit_code) == ("timeout", None, 1)
    assert result.seconds >= 12.0
    assert result.run_dir is not None and Path(result.run_dir, "replay.json").is_file()
    assert not [process for process in stopped if process.is_running()
                and process.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A real ``dask scheduler`` and two ``dask worker`` processes on localhost."""
    dask = str(Path(sys.executable).with_name("dask"))
    address_file = tmp_path / "scheduler.json"
    common = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": tmp_path,
              "start_new_session": True}
    processes = [subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(address_file)], **common,  # type: ignore[call-overload]
    )]
    try:
        _eventually(address_file.exists, 60, "the scheduler writes its address")
        for _ in range(2):
            processes.append(subprocess.Popen(
                [dask, "worker", "--scheduler-file", str(address_file), "--nthreads", "1",
                 "--no-dashboard", "--host", "127.0.0.1"], **common,  # type: ignore[call-overload]
            ))
        from distributed import Client

        address = orjson.loads(address_file.read_bytes())["address"]
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield str(address)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_sweep_through_a_real_scheduler_and_two_workers(
    tmp_path: Path, small_env: None, dask_cluster: str
) -> None:
    """Two runs in flight on two one-thread workers: the scheduler gives each worker one (it
    places a task on the least busy worker), so both run runs, whatever the timing."""
    from distributed import Client

    with Client(dask_cluster, timeout="30s") as client:
        workers = set(client.scheduler_info()["workers"])
    assert len(workers) == 2
    code, printed = _sweep_cli(tmp_path / "sweep", "--seeds", "6", "--scheduler", dask_cluster)
    assert code == 0, printed
    assert f"on {dask_cluster}" in printed
    lines = _lines(tmp_path / "sweep")
    assert sorted(line["seed"] for line in lines) == list(range(6))
    ran = {line["worker"] for line in lines}
    assert ran == workers, f"runs per worker: {[line['worker'] for line in lines]}"
    record = orjson.loads((tmp_path / "sweep" / "sweep.json").read_bytes())
    assert (record["scheduler"], record["runs"], record["failed"]) == (dask_cluster, 6, 0)


def _runs_of(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("STRESS_OUTPUT_DIR", "").startswith(str(folder)):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_an_interrupted_sweep_keeps_its_results_and_resumes(tmp_path: Path) -> None:
    folder = tmp_path / "sweep"
    argv = [sys.executable, "-m", "stress", "sweep", "--seeds", "6", "--per-run", "1s",
            "--max-ops-per-user", "20", "--workers", "2", "--output-dir", str(folder)]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STRESS_")}, **SMALL_ENV}
    sweep = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ndjson = folder / "sweep.ndjson"
    _eventually(lambda: ndjson.exists() and ndjson.read_bytes().count(b"\n") >= 2, 90,
                "two runs finish")
    sweep.send_signal(signal.SIGINT)
    printed = sweep.communicate(timeout=60)[0].decode()
    assert sweep.returncode == 130, printed
    before = _lines(folder)
    assert 2 <= len(before) < 6
    assert orjson.loads((folder / "sweep.json").read_bytes())["status"] == "interrupted"
    assert _runs_of(folder) == []  # every run it had started was killed
    resumed = subprocess.run([*argv, "--resume"], env=env, capture_output=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout.decode() + resumed.stderr.decode()
    seeds = [line["seed"] for line in _lines(folder)]
    assert sorted(seeds) == list(range(6))  # each seed once: the earlier ones were skipped
    assert seeds[: len(before)] == [line["seed"] for line in before]


def test_a_sigkilled_sweep_takes_its_runs_with_it(tmp_path: Path) -> None:
    """``kill -9`` of the sweep: no run it started outlives it (they would run to their timeout,
    minutes here, if nothing watched the sweep's death)."""
    folder = tmp_path / "sweep"
    argv = [sys.executable, "-m", "stress", "sweep", "--seeds", "2", "--per-run", "10m",
            "--timeout", "20m", "--workers", "2", "--output-dir", str(folder)]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STRESS_")}, **SMALL_ENV,
           "STRESS_PROCESSES": "1"}  # each run: a coordinator, a forkserver and a worker
    sweep = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        runs = folder / "runs"
        _eventually(lambda: len(list(runs.glob("seed-*/replay.json"))) == 2, 90,
                    "both runs start")
        assert len(_runs_of(folder)) >= 4  # the runs' processes, before the kill
        sweep.kill()
        sweep.wait()
        _eventually(lambda: _runs_of(folder) == [], 20, "every run process dies with the sweep")
    finally:
        for process in _runs_of(folder):  # never leave a run behind, whatever failed above
            process.kill()
