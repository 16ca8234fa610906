"""``stress soak``: one long run cut into epochs, its invariants, slopes, thresholds and outputs.

The soak is one ``run_simulation`` (every ``STRESS_*`` setting applies) watched by a
:class:`~stress.soak.epochs.SoakObserver`. Its own defaults, used where neither a variable
nor a flag says otherwise: worker processes, restart-on-crash and a fault schedule. When the
run ends (its duration, a violated invariant, a signal) every output is written: ``soak.json``
(its schema: ``stress/schemas/soak.schema.json``), ``junit.xml``, one ``.hlog`` per epoch under
``epochs/``, the history line, and on stdout an epoch table, ``key: value`` lines and one
verdict line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from stress.artifacts import write_json_atomic
from stress.config import Settings, load_settings
from stress.engine.interrupts import Interrupts
from stress.engine.runner import (
    EXIT_CLEAN,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    resolve_seed,
    run_simulation,
)
from stress.outcomes import StopReason
from stress.signature import Check, FailureParts, invariant_check
from stress.soak.epochs import SoakObserver
from stress.soak.history import (
    append_history,
    compare,
    current_commit,
    read_history,
    settings_digest,
)
from stress.soak.invariants import INVARIANTS
from stress.soak.junit import Case, write_junit
from stress.soak.thresholds import Thresholds
from stress.soak.verdict import Measured, ThresholdResult, judge, measure

__all__ = [
    "SAMPLES_CSV",
    "SOAK_DEFAULTS",
    "SOAK_FORMAT_VERSION",
    "SOAK_JSON",
    "SoakOptions",
    "SoakOutcome",
    "run_soak",
    "soak_settings",
]

SOAK_FORMAT_VERSION = 1
#: The soak's document and its process samples, in the run folder.
SOAK_JSON = "soak.json"
SAMPLES_CSV = Path("soak") / "samples.csv"
#: The soak's own defaults (field -> value), where neither a variable nor a flag set one.
SOAK_DEFAULTS: Mapping[str, str] = {
    "duration": "30m",
    "processes": "2",
    "on_crash": "restart",
    # Bulk inserts of 100-500 rows, not the run's 10 000: a soak is about the long steady
    # state, and a batch of 10 000 rows makes each worker's heap climb for minutes (its
    # high-water follows the largest batch yet), which reads as a leak.
    "batch_max": "500",
    "faults": "kill=every:30s,lock=every:45s:hold:12s",
}


@dataclass(frozen=True)
class SoakOptions:
    #: Length of one epoch, s.
    epoch_s: float
    thresholds: Thresholds
    history: Path | None = None


@dataclass(frozen=True)
class SoakOutcome:
    run_dir: Path
    exit_code: int
    document: dict[str, Any]


def soak_settings(
    overrides: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> Settings:
    """The settings with the soak's defaults under the variables and flags, and a fixed seed."""
    env = os.environ if environ is None else environ
    merged = {
        field: value
        for field, value in SOAK_DEFAULTS.items()
        if f"STRESS_{field.upper()}" not in env
    }
    merged.update(overrides)
    settings = load_settings(env, merged)
    if settings.seed is None:
        # Chosen here, so the upkeep's stream and the run share one seed.
        settings = load_settings(env, {**merged, "seed": str(resolve_seed(settings))})
    return settings


def run_soak(
    settings: Settings, options: SoakOptions, out: TextIO, interrupts: Interrupts
) -> SoakOutcome:
    assert settings.seed is not None  # soak_settings fixes it
    observer = SoakObserver(options.epoch_s, options.thresholds, settings.seed)
    outcome = run_simulation(settings, out=out, interrupts=interrupts, observer=observer)
    observer.resources.write_csv(outcome.run_dir / SAMPLES_CSV)
    measured = measure(observer.epochs, observer.resources)
    soft = judge(options.thresholds, measured)
    replay = f"stress replay {outcome.run_dir / 'replay.json'}"
    document = _document(settings, observer, outcome.summary, measured, soft, replay)
    regressions = _history(options, document)
    document["history"] = [r.__dict__ | {"ok": r.ok} for r in regressions]
    code = _exit_code(outcome.exit_code, outcome.stop_reason, observer, soft, regressions)
    document["exit_code"] = code
    document["verdict"] = {0: "pass", 1: "fail", 130: "interrupted"}[code]
    document["signature"] = _signature(observer, soft, regressions, outcome.stop_reason)
    write_json_atomic(outcome.run_dir / SOAK_JSON, document)
    write_junit(
        outcome.run_dir / "junit.xml",
        f"soak {outcome.run_dir.name}",
        _cases(observer, soft, regressions),
        replay,
    )
    if options.history is not None and code != EXIT_INTERRUPTED:
        append_history(options.history, _history_entry(document))
    _print(out, document, observer, measured, soft, regressions, replay)
    return SoakOutcome(outcome.run_dir, code, document)


def _exit_code(
    run_code: int,
    stop: StopReason,
    observer: SoakObserver,
    soft: list[ThresholdResult],
    regressions: list[Any],
) -> int:
    if stop == StopReason.USER_ABORT or run_code == EXIT_INTERRUPTED:
        return EXIT_INTERRUPTED
    broken = observer.violation is not None or any(not t.ok for t in soft)
    if broken or run_code != EXIT_CLEAN or any(not r.ok for r in regressions):
        return EXIT_FAILURE
    return EXIT_CLEAN


def _signature(
    observer: SoakObserver, soft: list[ThresholdResult], regressions: list[Any], stop: StopReason
) -> dict[str, str] | None:
    if observer.violation is not None:
        _, failed = observer.violation
        parts = FailureParts(StopReason.INVARIANT, invariant_check(failed.name), table=failed.table)
    else:
        broken = next((t for t in soft if not t.ok), None)
        if broken is None and not any(not r.ok for r in regressions):
            return None
        op = broken.metric.partition(".")[2] or None if broken is not None else None
        parts = FailureParts(str(stop), Check.THRESHOLD, op=op)
    return {"signature": parts.signature(), "readable": parts.readable()}


def _document(
    settings: Settings,
    observer: SoakObserver,
    summary: dict[str, Any],
    measured: Measured,
    soft: list[ThresholdResult],
    replay: str,
) -> dict[str, Any]:
    verification = summary.get("verification", {})
    return {
        "format_version": SOAK_FORMAT_VERSION,
        "run_dir": summary["run_dir"],
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "global_seed": summary["global_seed"],
        "stop_reason": summary["stop_reason"],
        "run_exit_code": summary["exit_code"],
        "epoch_s": observer.epoch_s,
        "thresholds_file": observer.thresholds.source,
        "settings_digest": settings_digest(summary["config"]),
        "epochs": [epoch.to_dict() for epoch in observer.epochs],
        "violation": None
        if observer.violation is None
        else {"epoch": observer.violation[0], **observer.violation[1].to_dict()},
        "slopes": {
            metric: {label: fit.to_dict() for label, fit in fits.items()}
            for metric, fits in measured.slopes.items()
        },
        "metrics": {key: round(value, 4) for key, value in sorted(measured.values.items())},
        "thresholds": [result.to_dict() for result in soft],
        "recovery_s": [{"kind": k, "s": round(s, 2)} for k, s in observer.recovery.recovered],
        "recovery_measured_by": observer.recovery_measured_by,
        "upkeep": {
            "turns": observer.maintainer.turns,
            "errors": observer.maintainer.errors,
            "retention_ticks_written": observer.retention.written,
            "retention_ticks_rolled_up": observer.retention.rolled_up,
        },
        "final_verification": {
            k: verification.get(k)
            for k in ("ok", "acknowledged", "found", "missing", "unaccounted", "not_run")
            if k in verification
        },
        "replay_command": replay,
    }


def _history(options: SoakOptions, document: dict[str, Any]) -> list[Any]:
    if options.history is None:
        return []
    tonight = _history_entry(document)
    past = read_history(options.history)
    limits = options.thresholds
    return compare(tonight, past, limits.history_nights, limits.history_regression_pct)


def _history_entry(document: dict[str, Any]) -> dict[str, Any]:
    epochs = document["epochs"][1:] or document["epochs"]
    throughput = [e["throughput_ops_per_s"] for e in epochs]
    p99 = [lat["p99"] for e in epochs for lat in e["latency_ms"].values()]
    rss = [fit["per_h"] for fit in document["slopes"].get("rss_slope_mb_per_h", {}).values()]
    return {
        "finished_utc": document["finished_utc"],
        "commit": current_commit(),
        "settings_digest": document["settings_digest"],
        "verdict": document.get("verdict"),
        "run_dir": document["run_dir"],
        "metrics": {
            "throughput_ops_per_s": round(sum(throughput) / len(throughput), 2)
            if throughput
            else None,
            "p99_ms_max": max(p99) if p99 else None,
            "rss_slope_mb_per_h_max": max(rss) if rss else None,
            "wal_high_water_mb": document["metrics"].get("wal_high_water_mb"),
        },
    }


def _cases(
    observer: SoakObserver, soft: list[ThresholdResult], regressions: list[Any]
) -> list[Case]:
    cases = []
    for name in INVARIANTS:
        failure = None
        for epoch in observer.epochs:
            found = next((r for r in epoch.invariants if r.name == name and not r.ok), None)
            if found is not None:
                failure = f"epoch {epoch.index}: {found.detail}"
                break
        cases.append(Case("soak.invariant", name, failure))
    for result in soft:
        failure = None if result.ok else result.detail
        skipped = None if result.measured else result.detail
        cases.append(Case("soak.threshold", result.metric, failure, skipped=skipped))
    for regression in regressions:
        cases.append(
            Case("soak.history", regression.metric, None if regression.ok else regression.line())
        )
    return cases


def _print(
    out: TextIO,
    document: dict[str, Any],
    observer: SoakObserver,
    measured: Measured,
    soft: list[ThresholdResult],
    regressions: list[Any],
    replay: str,
) -> None:
    print("epoch  start_s  end_s    ops      ops/s    wal_hw_mb  spool  invariants", file=out)
    for epoch in observer.epochs:
        failed = epoch.failed()
        state = "ok" if failed is None else f"FAILED {failed.name}: {failed.detail}"
        print(
            f"{epoch.index:>5}  {epoch.start_s:>7.1f}  {epoch.end_s:>7.1f}  {epoch.ops:>7}  "
            f"{epoch.throughput:>7.1f}  {epoch.wal_high_water_mb:>9.2f}  "
            f"{epoch.spool_lines:>5}  {state}",
            file=out,
        )
    for metric, fits in sorted(measured.slopes.items()):
        for label, fit in fits.items():
            print(
                f"slope {metric} {label}: {fit.per_h:.3f} per h "
                f"[{fit.low:.3f}, {fit.high:.3f}] ({fit.points} points)",
                file=out,
            )
    for result in soft:
        print(
            f"threshold {result.metric}: {result.state}: {result.detail}",
            file=out,
        )
    for regression in regressions:
        print(f"history {'pass' if regression.ok else 'FAIL'}: {regression.line()}", file=out)
    failed_epochs = sum(not epoch.ok for epoch in observer.epochs)
    missing = document["final_verification"].get("missing")
    print(f"epochs: {len(observer.epochs)}", file=out)
    print(f"epochs_failed: {failed_epochs}", file=out)
    print(f"missing: {missing if missing is not None else 'not verified'}", file=out)
    print(f"recoveries: {len(observer.recovery.recovered)}", file=out)
    line = f"soak {document['verdict'].upper()}: {len(observer.epochs)} epoch(s)"
    line += f", {failed_epochs} failed"
    if observer.violation is not None:
        index, failed = observer.violation
        line += f"; invariant {failed.name} broken in epoch {index}: {failed.detail}"
    broken = [t.metric for t in soft if not t.ok]
    if broken:
        line += f"; thresholds failed: {', '.join(broken)}"
    unmeasured = [t.metric for t in soft if not t.measured]
    if unmeasured:
        names = ", ".join(unmeasured)
        line += f"; {len(unmeasured)} threshold(s) not measured (too short): {names}"
    if document["signature"] is not None:
        line += f"; signature {document['signature']['signature']}"
    print(line, file=out)
    if document["verdict"] != "pass":
        print(f"replay: {replay}", file=out)
