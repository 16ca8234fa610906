"""A soak's report page: its verdict, epochs, slopes, thresholds and plots, then the run's own.

Its sections (:data:`SOAK_SECTIONS`, ids ``soak-*``) come first; below them every section of
the run report (:func:`stress.report.page.run_sections`), for the one long run the soak is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stress.report.html import Flag, Section, document, escape, figure, pairs, table, write_page
from stress.report.page import run_sections
from stress.report.soak_data import SoakData
from stress.report.soak_plots import draw_soak_plots
from stress.soak.history import Regression
from stress.soak.invariants import INVARIANTS
from stress.soak.verdict import NOT_MEASURED

__all__ = ["SOAK_PLOT_SECTIONS", "SOAK_SECTIONS", "render_soak_report", "write_soak_report"]

#: (id, title) of the soak's own sections, in page order (the run's follow them).
SOAK_SECTIONS = (
    ("soak-verdict", "Soak verdict and signature"),
    ("soak-epochs", "Epochs"),
    ("soak-thresholds", "Thresholds"),
    ("soak-slopes", "Slopes: leaks and drift"),
    ("soak-processes", "Processes: memory, open files, threads"),
    ("soak-epoch-plots", "Throughput and latency per epoch"),
    ("soak-wal", "WAL high-water per epoch"),
)
#: The plots, by the section that holds them.
SOAK_PLOT_SECTIONS = {
    "soak-processes": ("process_rss", "process_files_threads"),
    "soak-epoch-plots": ("epoch_latency",),
    "soak-wal": ("wal_high_water",),
}
_CAPTIONS = {
    "process_rss": "soak/samples.csv, one line per process lifetime (a restarted worker: a new "
    "line of its colour); thick dashed: the slope soak.json reports, through each lifetime it "
    "was fitted on (past the first epoch and each process's warm-up). Dashed red: a worker "
    "killed; hatched: a lock fault's hold; shaded: backpressure; dotted grey: epoch boundaries.",
    "process_files_threads": "Open file descriptors and threads per process, same lines and marks.",
    "epoch_latency": "Per epoch (epochs/epoch-NNN.hlog): each value is held over its epoch.",
    "wal_high_water": "The largest WAL of any database in each epoch; red: the epoch's "
    "wal_checkpoint invariant failed.",
}


def _verdict(data: SoakData) -> str:
    soak = data.soak
    epochs = soak["epochs"]
    failed = sum(not epoch["ok"] for epoch in epochs)
    broken = [t["metric"] for t in soak["thresholds"] if not t["ok"]]
    line = f"soak {soak['verdict'].upper()}: {len(epochs)} epoch(s), {failed} failed"
    if broken:
        line += f"; thresholds failed: {', '.join(broken)}"
    parts = [f"<p class={'ok' if soak['verdict'] == 'pass' else 'bad'}>{escape(line)}</p>"]
    signature = soak["signature"]
    if signature is not None:
        parts.append(
            f"<p>signature <code>{escape(signature['signature'])}</code>: "
            f"{escape(signature['readable'])}</p>"
        )
    violation = soak["violation"]
    if violation is not None:
        parts.append(
            f"<p class=bad>invariant {escape(violation['name'])} broken in epoch "
            f"{escape(violation['epoch'])}: {escape(violation['detail'])}</p>"
        )
    recoveries = [r["s"] for r in soak.get("recovery_s", [])]
    facts = {
        "folder": str(data.run.folder),
        "seed": soak["global_seed"],
        "stop reason": soak["stop_reason"],
        "exit code (the run's)": f"{soak['exit_code']} ({soak.get('run_exit_code')})",
        "epoch length, s": soak["epoch_s"],
        "thresholds file": soak.get("thresholds_file"),
        "settings digest": soak["settings_digest"],
        "finished (UTC)": soak.get("finished_utc"),
        "final verification": soak["final_verification"],
        "recoveries (longest, s)": f"{len(recoveries)} ({max(recoveries, default=0):g})",
        "recovery measured by": soak.get("recovery_measured_by"),
        "upkeep": soak.get("upkeep"),
        "replay": soak["replay_command"],
    }
    parts.append(pairs(facts))
    if soak["history"]:
        parts.append("<h3>Against the last nights (--history)</h3>" + _history(soak["history"]))
    return "".join(parts)


def _history(entries: list[dict[str, Any]]) -> str:
    fields = ("metric", "tonight", "baseline", "change_pct", "limit_pct")
    rows = []
    for entry in entries:
        regression = Regression(*(entry[name] for name in fields))
        rows.append((regression.metric, Flag(regression.ok), regression.line()))
    return table(["metric", "result", "detail"], rows, left={0, 2})


def _epochs(soak: dict[str, Any]) -> str:
    head = ["epoch", "start, s", "end, s", "ops", "ops/s", "WAL high-water, MB"]
    # A break opportunity after each underscore keeps seven invariant columns on the page.
    head += ["spool backlog", "boundary, s", *(n.replace("_", "_\u200b") for n in INVARIANTS)]
    head.append("failed: detail")
    rows = []
    for epoch in soak["epochs"]:
        results = {r["name"]: r for r in epoch["invariants"]}
        cells: list[object] = [
            epoch["index"],
            f"{epoch['start_s']:.1f}",
            f"{epoch['end_s']:.1f}",
            epoch["ops"],
            f"{epoch['throughput_ops_per_s']:.1f}",
            f"{epoch['wal_high_water_mb']:.2f}",
            epoch["spool_lines"],
            f"{epoch.get('boundary_s', 0.0):.2f}",
        ]
        cells += [Flag(results[n]["ok"]) if n in results else "" for n in INVARIANTS]
        failed = [f"{r['name']}: {r['detail']}" for r in epoch["invariants"] if not r["ok"]]
        cells.append("; ".join(failed))
        rows.append(cells)
    return table(head, rows, left={len(head) - 1})


def _thresholds(soak: dict[str, Any]) -> str:
    results = soak["thresholds"]
    broken = [t for t in results if not t["ok"]]
    unmeasured = [t for t in results if t["value"] is None]
    line = f"{len(broken)} of {len(results)} failed" if broken else "none failed"
    line += f", {len(results) - len(broken) - len(unmeasured)} passed"
    if unmeasured:
        line += f", {len(unmeasured)} not measured (the soak was too short for them)"
    rows = [
        (
            t["metric"],
            NOT_MEASURED if t["value"] is None else f"{t['value']:g}",
            f"{t['limit']:g}",
            NOT_MEASURED if t["value"] is None else Flag(t["ok"]),
            t["detail"],
        )
        for t in results
    ]
    head = ["metric", "measured", "limit", "result", "detail"]
    note = (
        "<p class=note>Each limit is an upper bound; a slope (<code>*_slope_*</code>) is "
        "judged on the lower end of its 95% interval.</p>"
    )
    return (
        f"<p class={'bad' if broken else 'ok'}>thresholds: {line}</p>"
        + table(head, rows, left={0, 4})
        + note
    )


def _slopes(soak: dict[str, Any]) -> str:
    rows = [
        (
            metric,
            label,
            f"{fit['per_h']:.3f}",
            f"[{fit['low']:.3f}, {fit['high']:.3f}]",
            fit["points"],
            "yes" if fit["low"] > 0 or fit["high"] < 0 else "no",
        )
        for metric, fits in sorted(soak["slopes"].items())
        for label, fit in fits.items()
    ]
    head = ["metric", "of", "slope per h", "95% interval", "points", "moves (0 outside)"]
    note = (
        "<p class=note>Per process: fitted on every lifetime past the first epoch and the "
        "process's warm-up, one slope shared by its lifetimes. Per epoch (<code>series</code>): "
        "fitted on the measured epochs.</p>"
    )
    return table(head, rows, left=2) + note


def soak_sections(data: SoakData, plots: dict[str, str] | None = None) -> list[Section]:
    """The soak's own sections, in :data:`SOAK_SECTIONS` order."""
    drawn = plots if plots is not None else draw_soak_plots(data)
    bodies = {
        "soak-verdict": _verdict(data),
        "soak-epochs": _epochs(data.soak),
        "soak-thresholds": _thresholds(data.soak),
        "soak-slopes": _slopes(data.soak),
    }
    for section, names in SOAK_PLOT_SECTIONS.items():
        bodies[section] = "".join(figure(n, drawn[n], _CAPTIONS[n]) for n in names)
    if data.offset_s:
        bodies["soak-processes"] += (
            f"<p class=note>Faults are moved onto the soak's clock by {data.offset_s:.1f} s "
            "(the workers' start-up between the soak's clock and the run's, found from the "
            "killed processes' last samples).</p>"
        )
    return [(sid, title, bodies[sid]) for sid, title in SOAK_SECTIONS]


def render_soak_report(data: SoakData) -> str:
    """The whole page: the soak's sections, then the run's."""
    soak = data.soak
    title = f"stress soak {soak['global_seed']}: {soak['verdict']}"
    return document(title, [*soak_sections(data), *run_sections(data.run)])


def write_soak_report(data: SoakData, out: Path) -> int:
    """Write the page to ``out`` (never half-written); its bytes."""
    return write_page(render_soak_report(data), out)
