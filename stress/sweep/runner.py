"""One run of a sweep: ``stress run`` as a subprocess in a process group of its own.

A run is a subprocess, not a function in the worker: a Dask worker is a daemonic process and
may not start worker processes of its own, a run's crash or hang must not take the worker
with it, and a run killed as a whole leaves the worker as it was. The child leads a new
session (so a new process group, without the sweep's terminal: a Ctrl-C reaches the sweep,
which cancels its runs itself). Past its wall-clock timeout, or when the sweep is cancelled,
the whole group is SIGKILLed: the run's worker processes and lock holders with it. A hang is a
finding (outcome ``timeout``), never a stuck sweep. The group's leader is a guard
(:mod:`stress.sweep.guard`) that SIGKILLs the group when this process dies, however it dies:
a sweep killed with ``kill -9`` leaves no run behind to outlive its timeout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from stress.config import ENV_PREFIX
from stress.sweep.outcome import Outcome, RunResult, failure_of, fallback_signature, ops_of
from stress.sweep.plan import RunSpec

__all__ = ["POLL_S", "run_one"]

#: How often a waiting runner looks at the clock and the cancel flag, in seconds.
POLL_S = 0.2


#: The guard script, run by path (it imports nothing of stress).
_GUARD = Path(__file__).with_name("guard.py")


def _command(watch_fd: int) -> list[str]:
    # This interpreter's stress: on a cluster, the worker's own installation. The guard runs
    # isolated (-I) and without site (-S): it needs the standard library only.
    run = [sys.executable, "-m", "stress", "run"]
    return [sys.executable, "-I", "-S", str(_GUARD), str(watch_fd), "--", *run]


def _environment(spec: RunSpec) -> dict[str, str]:
    # The worker's own STRESS_* variables are dropped: the run's are the sweep's, exactly.
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    env.update(spec.env)
    return env


def run_one(spec: RunSpec, cancelled: Callable[[], bool]) -> RunResult:
    """Run ``spec`` to its end, its timeout or a cancel; returns what the sweep records."""
    started_at = time.time()
    return replace(_run(spec, cancelled), started_at=round(started_at, 3))


def _run(spec: RunSpec, cancelled: Callable[[], bool]) -> RunResult:
    if cancelled():
        return _result(spec, "cancelled", None, 0.0, None)
    # Left by an earlier attempt that was cut off (an interrupted sweep being resumed).
    _remove(spec)
    spec.run_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # Only this process holds the writing end (os.pipe's ends are not inherited): when it
    # dies, the guard reads end-of-file and kills the run's group.
    watch, held = os.pipe()
    with spec.log_path.open("wb") as log:
        try:
            child = subprocess.Popen(
                _command(watch),
                env=_environment(spec),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(watch,),
            )
        finally:
            os.close(watch)
        try:
            ending = _wait(child, started + spec.timeout_s, cancelled)
        finally:
            if child.returncode is None:  # an exception here, or a kill: never leave the group
                _kill_group(child)
            os.close(held)
    seconds = time.monotonic() - started
    if ending == "timeout":
        detail = f"no exit within {spec.timeout_s:g} s; process group killed"
        return _result(spec, "timeout", None, seconds, fallback_signature("timeout"), detail)
    if ending == "cancelled":
        _remove(spec)
        return _result(spec, "cancelled", None, seconds, None)
    return _finished(spec, child.returncode, seconds)


def _wait(child: subprocess.Popen[bytes], deadline: float, cancelled: Callable[[], bool]) -> str:
    """``exited``, ``timeout`` or ``cancelled`` (the group killed in the last two)."""
    while True:
        try:
            child.wait(timeout=POLL_S)
            return "exited"
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() >= deadline:
            _kill_group(child)
            return "timeout"
        if cancelled():
            _kill_group(child)
            return "cancelled"


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    # The child leads its group and is not yet reaped, so the group id is still its own.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _finished(spec: RunSpec, code: int, seconds: float) -> RunResult:
    if code == 0:
        # Read before the folder goes: a passing run's folder is deleted unless --keep-all.
        ops, stop_reason = ops_of(spec.run_dir), _stop_reason(spec.run_dir)
        if not spec.keep_all:
            _remove(spec)
        return _result(spec, "pass", code, seconds, None, ops=ops, stop_reason=stop_reason)
    stop_reason, signature, detail = failure_of(spec.run_dir)
    outcome: Outcome = "fail" if code == 1 else "error"
    if code != 1:
        # Exit 2 (the run refused its settings), 130 (a signal reached it) or a signal's
        # death: not a finding of the store, but the run did not do its job.
        signature = fallback_signature("exit", str(code), stop_reason or "")
        detail = f"exit {code}" + (f" ({stop_reason})" if stop_reason else "")
    return _result(spec, outcome, code, seconds, signature, detail)


def _result(
    spec: RunSpec,
    outcome: Outcome,
    code: int | None,
    seconds: float,
    signature: str | None,
    detail: str | None = None,
    ops: int | None = None,
    stop_reason: str | None = None,
) -> RunResult:
    kept = spec.run_dir.exists()
    return RunResult(
        seed=spec.seed,
        config_digest=spec.config_digest,
        outcome=outcome,
        exit_code=code,
        signature=signature,
        stop_reason=_stop_reason(spec.run_dir) if kept else stop_reason,
        seconds=round(seconds, 3),
        ops=ops_of(spec.run_dir) if kept else ops,
        run_dir=str(spec.run_dir) if kept else None,
        host=socket.gethostname(),
        detail=detail,
        overrides=dict(spec.overrides),
    )


def _stop_reason(run_dir: Path) -> str | None:
    return failure_of(run_dir)[0] if (run_dir / "summary.json").exists() else None


def _remove(spec: RunSpec) -> None:
    shutil.rmtree(spec.run_dir, ignore_errors=True)
    spec.log_path.unlink(missing_ok=True)
