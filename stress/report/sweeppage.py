"""The sweep's page: one self-contained HTML file, as the run report is.

Sections (:data:`SWEEP_SECTIONS`): the sweep, its runs over time, the outcomes (and which
worker ran how many), the failures grouped by signature with their first and fastest seeds,
each kept run linked to its own report when it has one (a relative link: the page and the
runs' pages open from disk together), the spread of the swarm's configurations, and the base
configuration. Nothing is fetched; every link stays on this machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from stress.report.html import CSS, escape, pairs, table, write_page
from stress.report.sweepdata import RUN_REPORT, Feature, SweepData, spread_of
from stress.report.sweepplots import SweepPlots, draw_sweep_plots
from stress.sweep.outcome import RunResult
from stress.sweep.results import FailureGroup
from stress.version import __version__

__all__ = ["SWEEP_PLOTS", "SWEEP_SECTIONS", "render_sweep_report", "write_sweep_report"]

SWEEP_SECTIONS = (
    ("sweep", "Sweep"),
    ("over-time", "Runs over time"),
    ("outcomes", "Outcomes"),
    ("failures", "Failures by signature"),
    ("swarm", "Swarm configurations' spread"),
    ("config", "Base configuration"),
)
#: The plots, by the section that holds them.
SWEEP_PLOTS = {"over-time": "runs_over_time", "outcomes": "outcomes", "swarm": "swarm_spread"}
_CAPTIONS = {
    "over-time": "Top: each run's wall-clock seconds at its start, by outcome. Bottom: runs "
    "done and failing so far. Times are the workers' clocks.",
    "outcomes": "Runs per outcome; how long runs took, by outcome.",
    "swarm": "Runs per drawn value (per bin for numbers), failing runs stacked on passing "
    "ones: a value that fails more than its share points at the fault.",
}
#: Most runs listed under one signature.
_MAX_LISTED = 50


def _sweep(data: SweepData) -> str:
    record = data.record
    failed = sum(r.failed for r in data.results)
    verdict = "bad" if failed else "ok"
    facts = {
        "folder": str(data.folder),
        "status": record.get("status"),
        "seeds": record.get("seeds"),
        "scheduler": record.get("scheduler"),
        "workers": record.get("workers") or "default",
        "runs": len(data.results),
        "failing": failed,
        "signatures": len(data.groups),
        "runs/min": record.get("runs_per_min"),
    }
    line = f"{len(data.results)} runs, {failed} failing, {len(data.groups)} signatures"
    return f"<p class={verdict}>{escape(line)}</p>" + pairs(facts)


def _outcomes(data: SweepData) -> str:
    total = len(data.results) or 1
    counts: dict[str, int] = {}
    for result in data.results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    rows = [(o, n, f"{100 * n / total:.1f}%") for o, n in sorted(counts.items())]
    by_worker: dict[tuple[str, str], list[RunResult]] = {}
    for result in data.results:
        by_worker.setdefault((result.host, result.worker or "(not recorded)"), []).append(result)
    workers = [
        (host, worker, len(runs), sum(r.failed for r in runs))
        for (host, worker), runs in sorted(by_worker.items())
    ]
    return (
        table(["outcome", "runs", "share"], rows)
        + "<h3>Runs per worker</h3>"
        + table(["host", "worker", "runs", "failing"], workers, left=2)
    )


def _link(path: Path, page: Path) -> str:
    """A relative link from the page to ``path`` (both on this machine)."""
    href = os.path.relpath(path, page.parent)
    return f'<a href="{escape(href)}">{escape(path.name)}</a>'


def _run_row(run: RunResult, page: Path) -> str:
    if run.run_dir is None:
        kept = "not kept"
    elif (Path(run.run_dir) / RUN_REPORT).is_file():
        kept = _link(Path(run.run_dir) / RUN_REPORT, page) + f" ({escape(run.run_dir)})"
    else:
        kept = f"{escape(run.run_dir)} (<code>stress report {escape(run.run_dir)}</code>)"
    cells = [run.seed, f"{run.seconds:.1f}", run.outcome, run.ops or 0]
    figures = "".join(f"<td>{escape(cell)}</td>" for cell in cells)
    return f"<tr>{figures}<td class=l>{kept}</td></tr>"


def _group(data: SweepData, group: FailureGroup, page: Path) -> str:
    runs = data.failing(group.signature)
    head = "<tr><th>seed</th><th>seconds</th><th>outcome</th><th>ops</th><th class=l>kept run"
    rows = "".join(_run_row(run, page) for run in runs[:_MAX_LISTED])
    more = len(runs) - _MAX_LISTED
    parts = [
        f'<h3 id="sig-{escape(group.signature)}">{escape(group.signature)}: '
        f"{escape(group.detail or group.stop_reason or group.outcome)}</h3>",
        f"<table>{head}</th></tr>{rows}</table>",
        f"<p class=note>{more} more runs not listed.</p>" if more > 0 else "",
    ]
    if group.shrunk_dir is not None:
        replay = f"stress replay {group.shrunk_dir}/replay.json"
        parts.append(f"<p>shrunk: <code>{escape(replay)}</code></p>")
    elif group.run_dir is not None and group.outcome == "fail":
        replay = f"stress replay {group.run_dir}/replay.json"
        parts.append(f"<p>replay the fastest: <code>{escape(replay)}</code></p>")
    return "".join(parts)


def _failures(data: SweepData, page: Path) -> str:
    if not data.groups:
        return "<p class=ok>no run failed</p>"
    rows = [
        (
            g.signature,
            g.count,
            g.first_seed,
            g.fastest_seed,
            f"{g.fastest_seconds:.1f}",
            g.outcome,
            g.shrunk_dir or "",
            g.detail or g.stop_reason or "",
        )
        for g in data.groups
    ]
    head = [
        "signature",
        "runs",
        "first seed",
        "fastest seed",
        "fastest s",
        "outcome",
        "shrunk",
        "what",
    ]
    summary = table(head, rows, left={0, 5, 6, 7})
    return summary + "".join(_group(data, group, page) for group in data.groups)


def _failing_spread(feature: Feature) -> str:
    failing: list[tuple[float | str, bool]] = [pair for pair in feature.values if pair[1]]
    return Feature(feature.name, failing).describe() if failing else ""


def _swarm(data: SweepData) -> str:
    features = spread_of(data.results)
    if not features:
        return "<p>No swarm: every run had the base configuration.</p>"
    digests = len({r.config_digest for r in data.results})
    rows = [(f.name, f.describe(), _failing_spread(f)) for f in features]
    return f"<p>{digests} configurations over {len(data.results)} runs.</p>" + table(
        ["feature", "every run", "failing runs"], rows, left=3
    )


def _config(data: SweepData) -> str:
    plan = dict(data.record.get("plan") or {})
    base = plan.pop("base_env", {}) or {}
    return "<h3>Plan</h3>" + pairs(plan) + "<h3>STRESS_* variables</h3>" + pairs(base)


def _figure(name: str, svg: str, caption: str) -> str:
    return (
        f'<figure class="plot" data-plot="{name}">{svg}'
        f"<figcaption class=note>{escape(caption)}</figcaption></figure>"
    )


def render_sweep_report(data: SweepData, page: Path, plots: SweepPlots | None = None) -> str:
    """The whole page as text; ``page`` is where it will be written (links are relative)."""
    drawn = plots if plots is not None else draw_sweep_plots(data)
    svgs = {
        "over-time": drawn.runs_over_time,
        "outcomes": drawn.outcomes,
        "swarm": drawn.swarm_spread,
    }
    bodies = {
        "sweep": _sweep(data),
        "over-time": "",
        "outcomes": _outcomes(data),
        "failures": _failures(data, page),
        "swarm": _swarm(data),
        "config": _config(data),
    }
    for section, plot in SWEEP_PLOTS.items():
        bodies[section] += _figure(plot, svgs[section], _CAPTIONS[section])
    nav = "".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title in SWEEP_SECTIONS)
    sections = "".join(
        f'<section id="{sid}"><h2>{escape(title)}</h2>{bodies[sid]}</section>'
        for sid, title in SWEEP_SECTIONS
    )
    title = f"stress sweep {data.record.get('seeds')}: {len(data.groups)} failure signatures"
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><nav>{nav}</nav>{sections}"
        f"<p class=note>stress {escape(__version__)}</p></body></html>\n"
    )


def write_sweep_report(data: SweepData, out: Path) -> int:
    """Write the page to ``out`` (never half-written); its bytes."""
    return write_page(render_sweep_report(data, out.absolute()), out)
