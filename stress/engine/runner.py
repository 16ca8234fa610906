"""A whole run: set-up, the coordinator, verification of the plan, and both artifacts.

``run_simulation`` is the library's main entry point (the CLI's ``stress run`` and
``stress replay`` call it). It resolves the seed, lays out the run folder (one meta.db file
and spool home per database), seeds each database from its own stream, spreads the users
over workers, runs them, and writes ``summary.json`` and ``replay.json`` atomically.

The folder is held by this run alone (:mod:`stress.engine.runfolder`). ``replay.json`` is written
before the users start and kept current (:mod:`stress.engine.replaylog`), so a killed run's folder
can still be verified. When the users stop, both artifacts are written first
(:func:`write_artifacts`), then the oracle runs and the summary is rewritten with its verdict.
"""

from __future__ import annotations

import os
import platform
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from stress.artifacts import (
    REPLAY_FORMAT_VERSION,
    DatabasePlace,
    ReplayFault,
    ReplayFile,
    write_json_atomic,
)
from stress.clock import SystemClock
from stress.config import Settings
from stress.engine.faultplan import fault_plan
from stress.engine.interrupts import Interrupts, VerificationSkipped
from stress.engine.runfolder import claim_run_folder
from stress.engine.tursowal import check_turso_wal, lock_holder_engine, worker_options
from stress.engine.userspec import UserSpec
from stress.errors import ConfigError
from stress.faults import KILL, LOCK
from stress.outcomes import StopReason
from stress.plan.pacing import Pacing, open_loop_section
from stress.plan.profiles import Profile, check_profiles, load_profiles
from stress.summary import (
    SUMMARY_FORMAT_VERSION,
    BackpressureSection,
    Environment,
    FaultsSection,
    NotRun,
    ResourceFigures,
    ResourcesSection,
    Results,
    Summary,
    UserEntry,
    Verdict,
)
from stress.version import __version__

# What runs after the run's first line (the store, the workers, the monitor, the oracle) is
# imported where it is used, so that `stress run` says what it starts at once.
if TYPE_CHECKING:
    from stress.engine.coordinator import CoordinatorResult
    from stress.engine.injector import FaultInjector
    from stress.engine.observer import RunObserver
    from stress.engine.pool import WorkerPool
    from stress.engine.users import UserResult
    from stress.engine.worker import WorkerSpec
    from stress.metadb import StoreOptions
    from stress.observe.hlog import HlogWriter
    from stress.observe.monitor import Monitor
    from stress.observe.stats import IntervalSink, StatsAggregator
    from stress.oracle.verify import Verification

__all__ = ["EXIT_CLEAN", "EXIT_FAILURE", "EXIT_INTERRUPTED", "RunOutcome", "run_simulation"]

EXIT_CLEAN = 0
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130

#: Rows each JSON-row table gets before users start, so reads have data from the first op.
SEED_ROWS_PER_TABLE = 100


@dataclass(frozen=True)
class ReplayInput:
    """What a replay pins: the users (with their op counts and substitutions) and profiles."""

    users: tuple[UserSpec, ...]
    profiles: dict[str, Profile]
    source: Path
    #: The faults the recorded run injected, struck again at the same points.
    faults: tuple[ReplayFault, ...] = ()


@dataclass
class RunOutcome:
    run_dir: Path
    global_seed: int
    stop_reason: StopReason
    exit_code: int
    #: The summary.json document, as written.
    summary: dict[str, Any]
    replay: dict[str, Any]
    users: list[UserResult] = field(default_factory=list)


def resolve_seed(settings: Settings) -> int:
    """The settings' seed, or a fresh random one (from the OS's entropy) that gets printed."""
    if settings.seed is not None:
        return settings.seed
    # 128 bits of OS entropy, as numpy's SeedSequence() draws them, without importing numpy
    # before the run's first line.
    return secrets.randbits(128) % 2**63


def assign_users(counts: Mapping[str, int], databases: int, processes: int) -> list[UserSpec]:
    """Users numbered in class order, ``database_idx = user_id % databases``.

    Users go to workers round-robin.
    """
    specs: list[UserSpec] = []
    for user_class, count in counts.items():
        for _ in range(count):
            user_id = len(specs)
            worker = user_id % processes if processes > 0 else 0
            specs.append(UserSpec(user_id, user_class, user_id % databases, worker))
    return specs


def _run_dir_path(settings: Settings, seed: int) -> Path:
    if settings.output_dir is not None:
        return settings.output_dir
    return Path("runs") / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{seed}"


def _output_setting(settings: Settings) -> str:
    """What to change for another run folder: the flag or variable that set it."""
    source = settings.source_of("output_dir")
    if source.endswith(":output_dir"):
        return "--output-dir"  # a replay's folder: the replay file's own is never used
    return settings.name_of("output_dir")


def store_options(settings: Settings) -> StoreOptions:
    from stress.metadb import StoreOptions

    return StoreOptions(
        engine=settings.engine,
        connection=settings.connection,
        ids=settings.id_allocation,
        busy_timeout_ms=settings.busy_timeout_ms,
        multiprocess_wal=settings.turso_multiprocess_wal,
    )


def prepare_databases(run_dir: Path, settings: Settings, seed: int) -> tuple[DatabasePlace, ...]:
    """Create each database at the current schema and seed it from its own stream."""
    from stress.metadb import JSON_TABLES, MetaDb
    from stress.oracle.ledger import LedgerWriter, seed_ledger_path
    from stress.plan.draws import Draws, database_seed_sequence
    from stress.plan.payloads import row_factory

    places = []
    options = store_options(settings)
    for index in range(settings.databases):
        home = run_dir / f"db-{index}"
        home.mkdir(parents=True, exist_ok=True)
        place = DatabasePlace(index, home / "meta.db", home)
        draws = Draws(database_seed_sequence(seed, index))
        ledger = LedgerWriter(seed_ledger_path(run_dir / "ledger", index))
        with MetaDb.open(place.path, place.home, options) as store:
            for table in JSON_TABLES:
                factory = row_factory(table)
                rows = factory.make_many(draws, SEED_ROWS_PER_TABLE)
                ledger.reserve(len(rows))
                done = store.record_batch(table, rows)
                ledger.outcome(0, table, done.status, done.ids, done.row_jsons)
        ledger.close()
        places.append(place)
    return tuple(places)


def _worker_specs(
    settings: Settings,
    seed: int,
    users: list[UserSpec],
    profiles: dict[str, Profile],
    places: tuple[DatabasePlace, ...],
    run_dir: Path,
) -> list[WorkerSpec]:
    from stress.engine.worker import WorkerSpec
    from stress.mutants import parse_mutant
    from stress.plan.workload import PlanLimits

    limits = PlanLimits.from_config(settings.model_dump())
    workers = max(settings.processes, 1)
    return [
        WorkerSpec(
            worker_idx=idx,
            global_seed=seed,
            users=tuple(u for u in users if u.process_idx == idx),
            profiles=profiles,
            limits=limits,
            store_options=worker_options(store_options(settings), settings, idx),
            databases=places,
            plans_dir=run_dir / "plans",
            ledger_dir=run_dir / "ledger",
            report_interval_s=min(settings.log_interval / 2, 1.0),
            pacing=Pacing.of_run(
                settings.target_ops_per_sec, len(users), settings.latency_limit_ms
            ),
            mutant=parse_mutant(settings.mutant) if settings.mutant is not None else None,
        )
        for idx in range(workers)
        if any(u.process_idx == idx for u in users)
    ]


def environment(settings: Settings) -> Environment:
    """Versions and machine facts, so two summaries can be compared honestly."""
    import numpy as np

    from stress.metadb import engine_version

    return {
        "python": platform.python_version(),
        "sqlite": engine_version("sqlite"),
        "engine": settings.engine,
        "engine_version": engine_version(settings.engine),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "stress_version": __version__,
        "numpy": np.__version__,
    }


def _exit_code(result: CoordinatorResult) -> int:
    if result.stop_reason == StopReason.USER_ABORT:
        return EXIT_INTERRUPTED
    # A crash is a finding even when the worker was restarted and the run went on.
    failed = result.harness_errors or result.crashes or any(u.harness_error for u in result.users)
    ends_badly = (
        StopReason.CRASH,
        StopReason.RESOURCE,
        StopReason.HARNESS,
        StopReason.INVARIANT,
        StopReason.STALLED,
    )
    if failed or result.stop_reason in ends_badly:
        return EXIT_FAILURE
    return EXIT_CLEAN


@dataclass(frozen=True)
class _RunFacts:
    settings: Settings
    seed: int
    run_dir: Path
    started_utc: str
    profiles: dict[str, Profile]
    replay_of: Path | None


def _config_of(facts: _RunFacts) -> dict[str, Any]:
    config = facts.settings.model_dump(mode="json")
    config["seed"] = facts.seed
    return config


@dataclass(frozen=True)
class SummarySections:
    """The sections of the summary other modules build: the monitor's, the faults' and the
    HDR logs' (read once the summary's figures have closed their last interval)."""

    figures: ResourceFigures
    backpressure: BackpressureSection
    resources: ResourcesSection
    faults: FaultsSection
    hlogs: HlogWriter

    @classmethod
    def of(cls, monitor: Monitor, faults: FaultInjector, hlogs: HlogWriter) -> SummarySections:
        return cls(
            monitor.figures(),
            monitor.backpressure_section(),
            monitor.resources_section(),
            faults.section(),
            hlogs,
        )


#: The verdict of a summary written before the oracle has run.
PENDING: NotRun = {"not_run": "pending: the run ended before the oracle finished"}


def _user_entry(user: UserResult) -> UserEntry:
    return {
        "user_id": user.user_id,
        "class": user.user_class,
        "ops_executed": user.ops_executed,
        "substitutions": len(user.substitutions),
        "skipped": len(user.skipped),
        "interrupted": user.interrupted,
        "harness_error": user.harness_error,
        "last_ops": user.last_ops,
        "disk_full": user.disk_full,
    }


def build_summary(
    facts: _RunFacts, result: CoordinatorResult, sections: SummarySections, exit_code: int
) -> Summary:
    """The summary, its verification pending (:func:`with_changes` adds the verdict)."""
    # Closes the last interval, into the HDR logs too: their error is known only after this.
    stats = result.aggregator.results(result.elapsed_s)
    users = sorted(result.users, key=lambda u: u.user_id)
    results: Results = {
        **stats,
        **sections.figures,
        "crashed": result.stop_reason == StopReason.CRASH,
        "interrupted": sum(u.interrupted for u in users),
    }
    return Summary(
        format_version=SUMMARY_FORMAT_VERSION,
        stop_reason=StopReason(result.stop_reason),
        exit_code=exit_code,
        global_seed=facts.seed,
        run_dir=str(facts.run_dir),
        started_utc=facts.started_utc,
        finished_utc=datetime.now(UTC).isoformat(timespec="seconds"),
        replay_of=str(facts.replay_of) if facts.replay_of else None,
        config=_config_of(facts),
        results=results,
        users=[_user_entry(u) for u in users],
        harness_errors=result.harness_errors,
        crashes=[crash.to_dict() for crash in result.crashes],
        stall=result.stall.to_dict() if result.stall is not None else None,
        open_loop=open_loop_section(facts.settings, stats),
        backpressure=sections.backpressure,
        resources=sections.resources,
        faults=sections.faults,
        environment=environment(facts.settings),
        verification=PENDING,
        hlog_error=sections.hlogs.error,
    )


def with_changes(
    summary: Summary,
    verification: Verdict | NotRun,
    *,
    stop_reason: StopReason | None = None,
    exit_code: int | None = None,
) -> Summary:
    """The summary with its verdict (and the stop reason and exit code the verdict set)."""
    fields = dict(summary)
    fields["verification"] = verification
    if stop_reason is not None:
        fields["stop_reason"] = stop_reason
    if exit_code is not None:
        fields["exit_code"] = exit_code
    # Validated again, not model_copy: the verdict is checked like every other section.
    return Summary.model_validate(fields)


def _replay_head(facts: _RunFacts, users: list[UserSpec]) -> dict[str, Any]:
    """The fields of replay.json fixed for the whole run."""
    from stress.plan.workload import PLAN_FORMAT_VERSION

    config = facts.settings.model_dump(mode="json")
    # The seed is recorded once, as global_seed (a replay and the oracle read it there).
    del config["seed"]
    used = {user.user_class for user in users}
    return {
        "format_version": REPLAY_FORMAT_VERSION,
        "plan_format_version": PLAN_FORMAT_VERSION,
        "global_seed": facts.seed,
        "config": config,
        "profiles": {name: p.to_dict() for name, p in facts.profiles.items() if name in used},
    }


def _users_for(settings: Settings, replay: ReplayInput | None) -> list[UserSpec]:
    if replay is not None:
        return list(replay.users)
    users = assign_users(settings.user_counts(), settings.databases, settings.processes)
    if not users:
        raise ConfigError(
            settings.users_name(),
            "0 users",
            "a run needs at least one user (e.g. inserter=1)",
        )
    if settings.max_ops_per_user is not None:
        limit = settings.max_ops_per_user
        users = [
            UserSpec(u.user_id, u.user_class, u.database_idx, u.process_idx, limit) for u in users
        ]
    return users


def run_simulation(
    settings: Settings,
    *,
    replay: ReplayInput | None = None,
    out: TextIO | None = None,
    interrupts: Interrupts | None = None,
    observer: RunObserver | None = None,
) -> RunOutcome:
    """Run the simulation the settings describe (or replay one) and write its artifacts.

    ``out`` receives the human output (progress, results, the replay command);
    ``interrupts`` carries SIGINT/SIGTERM (see :mod:`stress.engine.interrupts`): its abort flag
    stops every user and ends the run as ``UserAbort``. ``observer`` watches the run while
    it goes on (``stress soak``, see :mod:`stress.engine.observer`).
    """
    stream = out if out is not None else sys.stderr
    signals = interrupts if interrupts is not None else Interrupts()
    seed = resolve_seed(settings)
    profiles = replay.profiles if replay is not None else load_profiles(settings.profile_dir)
    if replay is None:
        check_profiles(settings, profiles)
    users = _users_for(settings, replay)
    fault_plan(settings)  # a bad fault spec is refused before the folder is made
    check_turso_wal(settings)
    folder = claim_run_folder(
        _run_dir_path(settings, seed), _output_setting(settings), subfolders=("plans",)
    )
    with folder as run_dir:
        facts = _RunFacts(
            settings,
            seed,
            run_dir,
            datetime.now(UTC).isoformat(timespec="seconds"),
            profiles,
            replay.source if replay is not None else None,
        )
        _announce(stream, facts, users)
        return _run_in_folder(facts, users, replay, stream, signals, observer)


def _run_in_folder(
    facts: _RunFacts,
    users: list[UserSpec],
    replay: ReplayInput | None,
    stream: TextIO,
    signals: Interrupts,
    observer: RunObserver | None = None,
) -> RunOutcome:
    from stress.engine.coordinator import RunClock, WorkerPool, coordinate
    from stress.engine.diskfull import ArtifactReserve, refuse_on_full_disk, reserve_bytes
    from stress.engine.injector import injector_for_run
    from stress.engine.replaylog import ReplayLog
    from stress.observe.hlog import HLOG_DIR, HlogWriter
    from stress.observe.monitor import monitor_for_run
    from stress.observe.progress import ProgressReporter

    settings, seed, run_dir = facts.settings, facts.seed, facts.run_dir
    # The room for the verdict is taken first and given back just before it is written.
    reserve = ArtifactReserve.take(run_dir, reserve_bytes(settings.databases, len(users)))
    with refuse_on_full_disk(run_dir, "preparing the databases", reserve):
        places = prepare_databases(run_dir, settings, seed)
    specs = _worker_specs(settings, seed, users, facts.profiles, places, run_dir)
    pool = WorkerPool(specs, settings.processes, settings.on_crash)
    recorded = replay.faults if replay is not None else None
    faults = injector_for_run(
        settings.faults, seed, specs, recorded, lock_engine=lock_holder_engine(settings)
    )
    log = ReplayLog(
        run_dir / "replay.json", _replay_head(facts, users), users, faults.replay_entries
    )
    # Before any user starts: from here on the folder can be verified, even after a kill -9.
    log.write_running()
    by_count = replay is not None or settings.max_ops_per_user is not None
    clock = RunClock(
        None if by_count else settings.duration, settings.log_interval, settings.max_no_progress_s
    )
    monitor = monitor_for_run(settings, places, pool.controls, pool.pids)
    time_source = SystemClock()  # the one clock of the loop and of the progress line
    progress = ProgressReporter(stream, clock.duration_s, None, clock=time_source)
    # Every interval's histograms, kept whole as HDR logs (stress/observe/hlog.py).
    sink = HlogWriter(run_dir / HLOG_DIR)
    on_tick, aggregator = _observed(monitor, observer, facts, places, users, pool, faults, sink)
    with monitor.running():
        result = coordinate(
            pool,
            clock,
            progress,
            signals.abort,
            on_tick,
            faults=faults,
            time_source=time_source,
            on_interval=log.write_running,
            aggregator=aggregator,
        )
    if observer is not None:
        observer.detach()
    reserve.release()
    exit_code = _exit_code(result)
    summary = build_summary(facts, result, SummarySections.of(monitor, faults, sink), exit_code)
    replay_doc = log.finished(result.users, result.stop_reason)
    return _end_of_run(facts, result, summary, replay_doc, faults, stream, signals)


def _observed(
    monitor: Monitor,
    observer: RunObserver | None,
    facts: _RunFacts,
    places: tuple[DatabasePlace, ...],
    users: list[UserSpec],
    pool: WorkerPool,
    faults: FaultInjector,
    sink: IntervalSink,
) -> tuple[Callable[[float], StopReason | None], StatsAggregator]:
    """The coordinator's per-turn hook and aggregator: the monitor's, and the observer's."""
    if observer is None:
        from stress.observe.stats import StatsAggregator

        return monitor.check, StatsAggregator(interval_sink=sink)
    from stress.engine.observer import RunView

    observer.attach(RunView(facts.settings, facts.run_dir, places, tuple(users), pool, faults))

    def on_tick(elapsed_s: float) -> StopReason | None:
        return monitor.check(elapsed_s) or observer.check(elapsed_s)

    return on_tick, observer.aggregator(sink)


def _end_of_run(
    facts: _RunFacts,
    result: CoordinatorResult,
    summary: Summary,
    replay_doc: dict[str, Any],
    faults: FaultInjector,
    stream: TextIO,
    signals: Interrupts,
) -> RunOutcome:
    """Both artifacts first (a signal's 2-second promise), then the oracle, then its verdict.

    The oracle can take seconds; a run stopped by a signal must not wait for it to leave its
    artifacts. A signal while it runs skips it (:class:`VerificationSkipped`), recorded as such.
    """
    from stress.engine.failure import print_closing_lines, with_failure
    from stress.observe.progress import format_results_block
    from stress.oracle.verify import format_verification

    run_dir = facts.run_dir
    write_artifacts(run_dir, summary.document(), replay_doc)
    verdict = _verify(run_dir, replay_doc, signals, stream)
    if isinstance(verdict, VerificationSkipped):
        skipped: NotRun = {"not_run": f"skipped: {verdict}"}
        summary = with_changes(summary, skipped, exit_code=EXIT_INTERRUPTED)
    elif verdict.ok:
        summary = with_changes(summary, verdict.to_dict())
    else:
        result.stop_reason = replay_doc["stop_reason"] = StopReason.INVARIANT
        write_json_atomic(run_dir / "replay.json", replay_doc)
        summary = with_changes(
            summary,
            verdict.to_dict(),
            stop_reason=StopReason.INVARIANT,
            exit_code=_exit_code(result),
        )
    summary = with_failure(
        summary,
        None if isinstance(verdict, VerificationSkipped) else verdict,
        ReplayFile.model_validate(replay_doc),
    )
    document = summary.document()
    write_json_atomic(run_dir / "summary.json", document)
    print(format_results_block(document), file=stream)
    _report_problems(stream, result)
    _report_faults(stream, faults)
    if isinstance(verdict, VerificationSkipped):
        print(f"verification skipped: {verdict}; check it: stress verify {run_dir}", file=stream)
    else:
        print(format_verification(verdict), file=stream)
    print_closing_lines(stream, run_dir, summary.failure)
    return RunOutcome(
        run_dir,
        facts.seed,
        result.stop_reason,
        summary.exit_code,
        document,
        replay_doc,
        result.users,
    )


def _verify(
    run_dir: Path, replay_doc: dict[str, Any], signals: Interrupts, stream: TextIO
) -> Verification | VerificationSkipped:
    """The oracle's verdict, or the signal that skipped it."""
    from stress.oracle.verify import verify_run

    try:
        with signals.verifying():
            # Said once a signal would skip it, so whoever reads it can act on it at once.
            print("verifying ...", file=stream, flush=True)
            # The finished file's own model, as stress verify reads it from disk.
            return verify_run(run_dir, ReplayFile.model_validate(replay_doc))
    except VerificationSkipped as skipped:
        return skipped


def write_artifacts(run_dir: Path, summary: dict[str, Any], replay_doc: dict[str, Any]) -> None:
    """Write both artifacts of a finished run: the one place a run writes them.

    replay.json first: it replaces the in-progress file with the finished one, and a reader
    who finds summary.json can count on it.
    """
    write_json_atomic(run_dir / "replay.json", replay_doc)
    write_json_atomic(run_dir / "summary.json", summary)


def _announce(stream: TextIO, facts: _RunFacts, users: list[UserSpec]) -> None:
    classes: dict[str, int] = {}
    for user in users:
        classes[user.user_class] = classes.get(user.user_class, 0) + 1
    mix = ", ".join(f"{name}={count}" for name, count in classes.items())
    s = facts.settings
    print(
        f"stress {__version__}: seed {facts.seed}; users {mix}; {s.databases} database(s); "
        f"{'threads' if s.processes == 0 else f'{s.processes} worker processes'}; "
        f"engine {s.engine}, connection {s.connection}, ids {s.id_allocation}",
        file=stream,
    )
    print(f"run folder: {facts.run_dir}", file=stream)


def _report_faults(stream: TextIO, faults: FaultInjector) -> None:
    section = faults.section()
    if section["events"] or section["not_injected"]:
        injected = section["injected"]
        print(
            f"faults: {injected[KILL]} kill(s), {injected[LOCK]} lock(s) injected, "
            f"{section['not_injected']} not injected",
            file=stream,
        )


def _report_problems(stream: TextIO, result: CoordinatorResult) -> None:
    for crash in result.crashes:
        how = crash.signal or f"exit status {crash.exit_code}"
        print(
            f"worker {crash.worker_idx} (pid {crash.pid}) died: {how}; users {crash.users}; "
            f"{'restarted' if crash.action == 'restart' else 'run stopped'}",
            file=stream,
        )
    for error in result.harness_errors:
        print(f"harness error: {error}", file=stream)
    for user in result.users:
        if user.harness_error:
            last = user.harness_error.strip().splitlines()[-1]
            print(f"harness error in user {user.user_id} ({user.user_class}): {last}", file=stream)
