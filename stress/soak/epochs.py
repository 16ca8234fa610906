"""The soak's epochs: the long run cut at every ``--epoch``, checked at each cut.

:class:`SoakObserver` is the run's observer (:mod:`stress.engine.observer`). It gives the run
an aggregator that also keeps each epoch's latency per op and op count, runs meta.db's upkeep
beside the users (:mod:`stress.soak.maintainer`), and, in a thread of its own, samples the
processes every second and at each boundary closes the epoch: its figures, its ``.hlog`` and
every invariant (:mod:`stress.soak.invariants`). The users are never paused: each check reads
committed data or takes a write transaction like any writer. The first violated invariant
makes :meth:`SoakObserver.check` return ``InvariantViolation``, which stops the run. When the
users stop (the end, a stop or a signal) the last epoch is closed with the same checks.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from stress.clock import Clock, SystemClock
from stress.engine.observer import RunView
from stress.metadb import JSON_TABLES, MetaDb, MetaDbError, StoreOptions
from stress.observe.hlog import write_hlog
from stress.observe.memory import malloc_trim
from stress.observe.stats import (
    LATENCY,
    IntervalSink,
    StatsAggregator,
    StatsReport,
    new_histogram,
    percentiles_ms,
)
from stress.oracle.incremental import IncrementalOracle
from stress.oracle.ledger import ledger_path, seed_ledger_path
from stress.oracle.verify import DatabaseLedger
from stress.outcomes import StopReason
from stress.soak.invariants import (
    InvariantResult,
    check_events_pending,
    check_no_loss,
    check_quick,
    check_retention,
)
from stress.soak.maintainer import Maintainer, RetentionDb
from stress.soak.progress import LedgerProgress
from stress.soak.recovery import RecoveryTracker
from stress.soak.resources import ResourceLog
from stress.soak.spool_check import SpoolCheck
from stress.soak.thresholds import Thresholds
from stress.soak.wal_check import WalCheck

__all__ = ["EpochAggregator", "EpochRecord", "SoakObserver"]

#: Seconds between two samples of the processes.
SAMPLE_S = 1.0
#: Seconds between two reads of the ledgers for recovery.
LEDGER_LOOK_S = 0.25


class EpochAggregator(StatsAggregator):
    """The run's aggregator, keeping besides each epoch's latency per op and its op count."""

    def __init__(self, interval_sink: IntervalSink | None = None) -> None:
        super().__init__(interval_sink=interval_sink)
        self._epoch_lock = threading.Lock()
        self._epoch_hists: dict[str, Any] = {}
        self._epoch_ops = 0

    def merge(self, report: StatsReport) -> None:
        super().merge(report)
        with self._epoch_lock:
            for (metric, _, op), blob in report.histograms.items():
                if metric == LATENCY:
                    self._epoch_hists.setdefault(op, new_histogram()).add(HdrHistogram.decode(blob))
            self._epoch_ops += sum(report.ops.values())

    def cut(self) -> tuple[dict[str, Any], int]:
        """The epoch's histograms per op and op count; the next epoch starts empty."""
        with self._epoch_lock:
            hists, ops = self._epoch_hists, self._epoch_ops
            self._epoch_hists, self._epoch_ops = {}, 0
        return hists, ops


@dataclass
class EpochRecord:
    index: int
    start_s: float
    end_s: float
    ops: int
    latency_ms: dict[str, dict[str, float]]
    wal_high_water_mb: float
    bytes_per_row: float
    #: Spool lines waiting for replay after the boundary's replay.
    spool_lines: int
    invariants: list[InvariantResult]
    hlog: str
    #: How long the boundary that closed the epoch took (figures and every check), s.
    boundary_s: float = 0.0

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.invariants)

    @property
    def throughput(self) -> float:
        """Ops per second over the epoch."""
        span = self.end_s - self.start_s
        return self.ops / span if span > 0 else 0.0

    def failed(self) -> InvariantResult | None:
        return next((result for result in self.invariants if not result.ok), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "ops": self.ops,
            "throughput_ops_per_s": round(self.throughput, 2),
            "latency_ms": self.latency_ms,
            "wal_high_water_mb": round(self.wal_high_water_mb, 3),
            "bytes_per_row": round(self.bytes_per_row, 2),
            "spool_lines": self.spool_lines,
            "invariants": [result.to_dict() for result in self.invariants],
            "hlog": self.hlog,
            "boundary_s": round(self.boundary_s, 3),
            "ok": self.ok,
        }


@dataclass
class SoakObserver:
    epoch_s: float
    thresholds: Thresholds
    seed: int
    clock: Clock = field(default_factory=SystemClock)
    epochs: list[EpochRecord] = field(default_factory=list)
    #: The first failed invariant and its epoch, once one failed.
    violation: tuple[int, InvariantResult] | None = None
    _aggregator: EpochAggregator = field(default_factory=EpochAggregator)
    _halt: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _look_lock: threading.Lock = field(default_factory=threading.Lock)
    _next_ledger_look: float = 0.0

    def aggregator(self, interval_sink: IntervalSink) -> StatsAggregator:
        self._aggregator = EpochAggregator(interval_sink)
        return self._aggregator

    def attach(self, view: RunView) -> None:
        self.view = view
        self.started = self.clock.now()
        self.epoch_start = 0.0
        self.oracle = IncrementalOracle()
        self.resources = ResourceLog(view.places)
        workers: dict[int, set[int]] = defaultdict(set)
        databases: dict[int, set[int]] = defaultdict(set)
        for user in view.users:
            workers[user.process_idx].add(user.user_id)
            databases[user.database_idx].add(user.user_id)
        self.recovery = RecoveryTracker(
            {k: frozenset(v) for k, v in workers.items()},
            {k: frozenset(v) for k, v in databases.items()},
        )
        self.retention = RetentionDb(view.run_dir / "soak" / "retention" / "meta.db")
        self.maintainer = Maintainer(view.places, self.retention, self.seed)
        self.wal = WalCheck(self.thresholds.bound("wal_after_checkpoint_mb"))
        self.spool = SpoolCheck()
        # Recovery is timed on writes landing, read from the ledgers (processes and threads).
        folder = view.run_dir / "ledger"
        self.progress = LedgerProgress(
            {u.user_id: ledger_path(folder, u.user_id) for u in view.users}
        )
        self.maintainer.start()
        # Two threads: a boundary may take seconds, and the samples must not pause for it.
        self._threads = [
            threading.Thread(target=self._sample, name="stress-soak-samples", daemon=True),
            threading.Thread(target=self._run, name="stress-soak-epochs", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def check(self, elapsed_s: float) -> StopReason | None:
        # Recovery is watched from the coordinator's turn (cheap: the ledgers' new records,
        # four times a second), not from the epoch thread, whose boundary takes seconds.
        with self._look_lock:
            self._look(self.elapsed())
        return StopReason.INVARIANT if self.violation is not None else None

    def detach(self) -> None:
        """The users stopped: end the sampling and upkeep, and close the last epoch."""
        self._halt.set()
        for thread in self._threads:
            thread.join()
        self.maintainer.stop()
        if self.violation is None:
            now = self.elapsed()
            if now - self.epoch_start > 0.5 or not self.epochs:
                self.close_epoch(now)

    def elapsed(self) -> float:
        return self.clock.now() - self.started

    def _sample(self) -> None:
        while True:
            self.resources.sample(self.elapsed(), self.view.pids())
            if self._halt.wait(SAMPLE_S):
                return

    def _run(self) -> None:
        while not self._halt.wait(0.25):
            now = self.elapsed()
            if now - self.epoch_start >= self.epoch_s and self.violation is None:
                self.close_epoch(now)

    @property
    def recovery_measured_by(self) -> str:
        what = "rows persisted per user in the ledgers"
        return what if self.view.pool.in_processes else f"{what} (threads: no kill faults)"

    def _look(self, now: float) -> None:
        events = [event.summary_entry() for event in list(self.view.faults.events)]
        if now < self._next_ledger_look and not events[self.recovery.seen :]:
            return  # a quarter-second resolution is plenty next to recoveries of seconds
        self._next_ledger_look = now + LEDGER_LOOK_S
        self.recovery.observe(now, list(events), self.progress.positions())

    def close_epoch(self, now: float) -> EpochRecord:
        """Close the epoch ending now: its figures, its .hlog and every invariant."""
        with self._lock:
            began = self.clock.now()
            hists, ops = self._aggregator.cut()
            index = len(self.epochs) + 1
            hlog = Path("epochs") / f"epoch-{index:03d}.hlog"
            write_hlog(self.view.run_dir / hlog, hists, self.epoch_start, now)
            record = EpochRecord(
                index=index,
                start_s=self.epoch_start,
                end_s=now,
                ops=ops,
                latency_ms={op: _p50_p99(hist) for op, hist in sorted(hists.items())},
                wal_high_water_mb=self.resources.take_wal_high(),
                bytes_per_row=_bytes_per_row(self.view),
                spool_lines=0,
                invariants=self._invariants(),
                hlog=str(hlog),
            )
            record.spool_lines = self.spool.backlog  # measured by the spool check
            record.boundary_s = self.clock.now() - began
            # The checks' transient memory (the epoch's ledger records, rows read back) goes
            # back to the OS, or this process's RSS would follow the largest epoch so far.
            malloc_trim()
            self.epochs.append(record)
            self.epoch_start = now
            failed = record.failed()
            if failed is not None and self.violation is None:
                self.violation = (index, failed)
            return record

    def _recovery(self, bound_s: float) -> InvariantResult:
        with self._look_lock:
            return self.recovery.check(self.elapsed(), bound_s)

    def _retention(self) -> InvariantResult:
        with self.retention.lock, self.retention.open() as store:
            return check_retention(store, self.retention.written)

    def _invariants(self) -> list[InvariantResult]:
        """Every check, in INVARIANTS order, each with how long it took."""
        view, hard = self.view, self.thresholds
        checks: list[Callable[[], InvariantResult]] = [
            lambda: check_no_loss(self.oracle, _databases(view)),
            lambda: check_quick(view.places),
            self._retention,
            lambda: self.wal.check(view.places),
            lambda: check_events_pending(
                view.places, hard.bound("event_pending_max_s"), datetime.now(UTC)
            ),
            lambda: self.spool.check(view.places),
            lambda: self._recovery(hard.bound("recovery_max_s")),
        ]
        results = []
        for check in checks:
            began = self.clock.now()
            result = check()
            results.append(replace(result, seconds=self.clock.now() - began))
        return results


def _p50_p99(hist: Any) -> dict[str, float]:
    figures = percentiles_ms(hist)
    return {"p50": figures["p50"], "p99": figures["p99"]}


def _databases(view: RunView) -> list[DatabaseLedger]:
    folder = view.run_dir / "ledger"
    found = []
    for place in view.places:
        users = [u.user_id for u in view.users if u.database_idx == place.index]
        ledgers = (seed_ledger_path(folder, place.index), *(ledger_path(folder, u) for u in users))
        found.append(DatabaseLedger(place.index, place.path, place.home, ledgers))
    return found


def _bytes_per_row(view: RunView) -> float:
    size = rows = 0
    for place in view.places:
        try:
            options = StoreOptions(read_only=True, connection="long-lived")
            with MetaDb(place.path, place.home, options) as store:
                for table in JSON_TABLES:
                    rows += int(store.query(f"SELECT count(*) FROM {table}").rows[0][0])
        except MetaDbError:
            continue
        size += place.path.stat().st_size
    return size / rows if rows else 0.0
