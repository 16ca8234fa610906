"""The sweep on Dask: a local cluster by default, or the scheduler at ``--scheduler``.

Each run is one Dask task, :func:`_task`, which runs ``stress run`` as a subprocess on
whichever worker takes it (:mod:`stress.sweep.runner`) and returns a small
:class:`RunResult`, so results come back through Dask whether or not the workers share a
folder with this machine. At most ``workers`` runs are in flight: a new one is submitted as
one finishes, so a cancel has little to take back. A cancel (SIGINT or SIGTERM) sets a Dask
``Event`` every running task polls: each kills its run's process group and returns, the
results finished by then are written, and the sweep exits 130.

Dask is the optional extra ``stress[sweep]``; without it :func:`run_sweep` raises
:class:`DaskMissingError` (one line, exit 2) before anything is written.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TextIO

from stress.engine.interrupts import Interrupts
from stress.sweep.errors import DaskMissingError, SchedulerError
from stress.sweep.outcome import RunResult, fallback_signature
from stress.sweep.plan import Overrides, RunSpec, SweepPlan, run_spec
from stress.sweep.progress import Progress
from stress.sweep.results import (
    ResultLog,
    failure_groups,
    format_failures,
    sweep_document,
    sweep_folder,
)
from stress.sweep.runner import run_one
from stress.sweep.swarm import load_bounds, swarm_draw

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["SweepOutcome", "plan_runs", "require_dask", "run_sweep"]

#: How long a cancelled sweep waits for its running tasks to kill their runs, in seconds.
_CANCEL_GRACE_S = 30.0
#: How often the sweep looks at its runs and at the interrupt flag, in seconds.
_POLL_S = 0.2


@dataclass(frozen=True)
class SweepOutcome:
    """How the sweep ended: its exit code and every result (earlier sessions' included)."""

    exit_code: int
    results: list[RunResult]
    interrupted: bool


def require_dask() -> None:
    """Raise :class:`DaskMissingError` unless ``dask.distributed`` can be imported."""
    try:
        import distributed  # noqa: F401
    except ImportError as error:
        raise DaskMissingError(error.name or "distributed") from None


def plan_runs(plan: SweepPlan, overrides: Overrides | None = None) -> list[RunSpec]:
    """Every seed's run, checked; ``overrides`` (per seed) default to the swarm's draw."""
    if overrides is None and plan.swarm is not None:
        bounds = load_bounds(plan.swarm)

        def overrides(seed: int) -> dict[str, str]:
            return swarm_draw(seed, bounds)

    return [
        run_spec(plan, seed, overrides(seed) if overrides is not None else {})
        for seed in plan.seeds.seeds()
    ]


def _task(spec: RunSpec, cancel_event: str) -> RunResult:
    """One run, on a worker: the Dask task; the result names the worker that ran it."""
    from distributed import Event, get_worker

    result = run_one(spec, Event(cancel_event).is_set)
    return replace(result, worker=get_worker().address)


@contextlib.contextmanager
def _client(plan: SweepPlan) -> Iterator[Client]:
    from distributed import Client, LocalCluster

    if plan.scheduler is not None:
        try:
            client = Client(plan.scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise SchedulerError(plan.scheduler, f"cannot connect ({error})") from None
        with client:
            yield client
        return
    # Threads, not processes: a task only waits on its run's subprocess, so one worker with a
    # thread per run costs nothing to start and keeps no extra interpreters resident.
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=plan.local_workers,
            processes=False,
            dashboard_address=None,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def _in_flight_limit(plan: SweepPlan, client: Client) -> int:
    if plan.scheduler is None:
        return plan.local_workers
    threads = sum(client.nthreads().values()) or 1
    return threads if plan.workers is None else plan.workers


def run_sweep(
    plan: SweepPlan,
    out: TextIO,
    interrupts: Interrupts,
    overrides: Overrides | None = None,
    now: Callable[[], float] = time.monotonic,
) -> SweepOutcome:
    """Run the sweep; prints progress and the failure table to ``out``."""
    require_dask()
    specs = plan_runs(plan, overrides)  # every bad value refused before anything is written
    # The cluster first: a scheduler that cannot be reached is refused before the folder exists.
    with _client(plan) as client, sweep_folder(plan) as (earlier, log):
        done = {result.seed for result in earlier}
        todo = [spec for spec in specs if spec.seed not in done]
        results = list(earlier)
        in_range = [result for result in earlier if result.seed in plan.seeds.seeds()]
        progress = Progress(len(plan.seeds), now, out, earlier=len(in_range))
        progress.failing = sum(result.failed for result in in_range)
        where = plan.scheduler or f"a local cluster of {plan.local_workers}"
        print(
            f"stress sweep: seeds {plan.seeds.text} ({len(todo)} to run, {len(done)} done "
            f"before) on {where}; folder {plan.output_dir}",
            file=out,
            flush=True,
        )
        interrupted = _collect(client, plan, todo, log, results, progress, interrupts)
        return _finish(plan, results, progress, interrupts, interrupted, out)


def _collect(
    client: Client,
    plan: SweepPlan,
    todo: list[RunSpec],
    log: ResultLog,
    results: list[RunResult],
    progress: Progress,
    interrupts: Interrupts,
) -> bool:
    """Run ``todo``, at most a window at a time; returns whether a signal cut it short."""
    from distributed import Event

    name = f"stress-sweep-cancel-{secrets.token_hex(8)}"
    cancel = Event(name, client=client)
    queue = iter(todo)
    in_flight: dict[Future[RunResult], RunSpec] = {}
    limit = _in_flight_limit(plan, client)
    while True:
        while not interrupts.abort.is_set() and len(in_flight) < limit:
            spec = next(queue, None)
            if spec is None:
                break
            key = f"stress-run-{name[-16:]}-{spec.seed}"
            in_flight[client.submit(_task, spec, name, key=key, pure=False)] = spec
        if not in_flight:
            return interrupts.abort.is_set()
        if interrupts.abort.is_set():
            cancel.set()
            _drain(in_flight, log, results, progress)
            return True
        _harvest(in_flight, log, results, progress)
        interrupts.abort.wait(_POLL_S)


def _harvest(
    in_flight: dict[Future[RunResult], RunSpec],
    log: ResultLog,
    results: list[RunResult],
    progress: Progress,
) -> None:
    for future in [future for future in in_flight if future.done()]:
        spec = in_flight.pop(future)
        result = _result_of(future, spec)
        if result.outcome == "cancelled":
            continue  # not a result: a resumed sweep runs it again
        log.append(result)
        results.append(result)
        progress.record(result.failed)
    progress.tick()


def _drain(
    in_flight: dict[Future[RunResult], RunSpec],
    log: ResultLog,
    results: list[RunResult],
    progress: Progress,
) -> None:
    """After a cancel: keep what finished while the running tasks kill their runs."""
    deadline = time.monotonic() + _CANCEL_GRACE_S
    while in_flight and time.monotonic() < deadline:
        _harvest(in_flight, log, results, progress)
        time.sleep(_POLL_S)
    for future in in_flight:
        future.cancel()


def _result_of(future: Future[RunResult], spec: RunSpec) -> RunResult:
    """The task's result; a task that raised (or whose worker died) is an ``error`` run."""
    try:
        result: Any = future.result()
    except Exception as error:  # any failure of the task is this run's finding
        return RunResult(
            seed=spec.seed,
            config_digest=spec.config_digest,
            outcome="error",
            exit_code=None,
            signature=fallback_signature("task", type(error).__name__),
            stop_reason=None,
            seconds=0.0,
            ops=None,
            run_dir=str(spec.run_dir) if spec.run_dir.exists() else None,
            host=socket.gethostname(),
            detail=f"the sweep's task failed: {type(error).__name__}: {error}"[:300],
            overrides=dict(spec.overrides),
        )
    if not isinstance(result, RunResult):
        raise TypeError(f"a sweep task returned {type(result).__name__}")
    return result


def _finish(
    plan: SweepPlan,
    results: list[RunResult],
    progress: Progress,
    interrupts: Interrupts,
    interrupted: bool,
    out: TextIO,
) -> SweepOutcome:
    from stress.artifacts import write_json_atomic

    rate = round(progress.runs_per_min(), 2)

    def record(shrunk: dict[str, str] | None = None) -> None:
        status = "interrupted" if interrupted else "finished"
        document = sweep_document(plan, results, status=status, runs_per_min=rate, shrunk=shrunk)
        write_json_atomic(plan.output_dir / "sweep.json", document)

    record()  # every result is safe before any shrinking starts
    progress.final()
    shrunk = None
    if plan.shrink and failure_groups(results) and not interrupted:
        from stress.sweep.shrink import shrink_fastest

        shrunk = shrink_fastest(
            failure_groups(results), plan.shrink_budget_s, out, interrupts.abort.is_set
        )
        interrupted = interrupts.abort.is_set()  # a SIGINT while shrinking
        record(shrunk)
    out.write(format_failures(failure_groups(results, shrunk)))
    folder = plan.output_dir
    print(f"results: {folder / 'sweep.json'}, {folder / 'sweep.ndjson'}", file=out)
    failed = any(result.failed for result in results)
    code = 130 if interrupted else (1 if failed else 0)
    return SweepOutcome(exit_code=code, results=results, interrupted=interrupted)
