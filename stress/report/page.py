"""The report page: one self-contained HTML file (inline CSS and SVG, nothing fetched).

Each section is a ``<section id=...>`` named in :data:`SECTIONS`, in the order shown; each plot
is a ``<figure class="plot" data-plot=...>`` named in :data:`PLOTS`. Everything taken from the
run (op names, messages, paths) is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stress.report.data import RunData
from stress.report.html import Section, document, write_page
from stress.report.html import escape as _e
from stress.report.html import figure as _figure
from stress.report.html import pairs as _pairs
from stress.report.html import table as _table
from stress.report.plots import Plots, draw_plots

__all__ = ["PLOTS", "SECTIONS", "render_report", "run_sections", "write_report"]

#: (id, title) of every section, in page order.
SECTIONS = (
    ("run", "Run"),
    ("results", "Results per op and per class"),
    ("over-time", "Throughput and latency over time, per op"),
    ("metrics", "Service time, schedule lag and backpressure wait over time"),
    ("resources", "Resources, backpressure and faults"),
    ("percentiles", "Latency percentile curves (HDR), per op"),
    ("verification", "Verification and failure signature"),
    ("users", "Users and their ops"),
    ("config", "Configuration and environment"),
)
#: The plots, by the section that holds them.
PLOTS = {
    "over-time": "throughput_latency",
    "metrics": "metrics",
    "resources": "resources",
    "percentiles": "percentiles",
}
#: Most users listed (a big run's table would drown the page).
_MAX_USERS = 200

_LATENCY_HEAD = ["count", "errors", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms"]


def _latency_row(name: Sequence[str], figures: dict[str, Any], errors: object) -> list[object]:
    keys = ("p50", "p95", "p99", "p99_9", "max")
    return [*name, figures["count"], errors, *(f"{figures[k]:.3f}" for k in keys)]


def _results(summary: dict[str, Any]) -> str:
    results = summary["results"]
    failed_by_op = results.get("failed_operations_by_type", {})
    by_op = [
        _latency_row([op], figures, failed_by_op.get(op, 0))
        for op, figures in results["latency_by_op"].items()
    ]
    by_op.append(_latency_row(["all"], results["latency_ms"], results["failed_operations"]))
    failed_by_class = results.get("failed_operations_by_class")
    by_class = []
    for user_class, ops in results["latency_by_class"].items():
        failed = failed_by_class.get(user_class, {}) if failed_by_class is not None else None
        for op, figures in ops.items():
            if failed is None:
                errors: object = "n/a"
            elif op == "all":
                errors = sum(failed.values())
            else:
                errors = failed.get(op, 0)
            by_class.append(_latency_row([user_class, op], figures, errors))
    head = (
        f"<p>{results['total_operations']} ops ({results['failed_operations']} failed) in "
        f"{results['actual_duration_secs']} s: {results['throughput_ops_per_sec']} ops/s, "
        f"{results['total_rows_inserted']} rows inserted. Latency in ms.</p>"
    )
    return (
        head
        + "<h3>Per op</h3>"
        + _table(["op", *_LATENCY_HEAD], by_op)
        + "<h3>Per class</h3>"
        + _table(["class", "op", *_LATENCY_HEAD], by_class, left=2)
    )


def _run(data: RunData) -> str:
    s = data.summary
    code = s.get("exit_code")
    verdict = "ok" if code == 0 else "bad"
    facts = {
        "folder": str(data.folder),
        "stop reason": s.get("stop_reason"),
        "exit code": code,
        "seed": s.get("global_seed"),
        "started (UTC)": s.get("started_utc"),
        "finished (UTC)": s.get("finished_utc"),
        "duration, s": s["results"].get("actual_duration_secs"),
        "replay of": s.get("replay_of"),
    }
    return f"<p class={verdict}>{_e(s.get('stop_reason'))}, exit {_e(code)}</p>" + _pairs(facts)


def _verification(summary: dict[str, Any]) -> str:
    verdict = summary.get("verification", {})
    if "not_run" in verdict:
        parts = [f"<p class=bad>no verdict: {_e(verdict['not_run'])}</p>"]
    else:
        ok = verdict.get("ok")
        parts = [f"<p class={'ok' if ok else 'bad'}>verification {'ok' if ok else 'FAILED'}</p>"]
        parts.append(_pairs({k: v for k, v in verdict.items() if k != "examples"}))
        for kind, examples in verdict.get("examples", {}).items():
            if examples:
                parts.append(f"<h3>{_e(kind)}</h3><pre>{_e(chr(10).join(examples))}</pre>")
    results = summary["results"]
    parts.append("<h3>Failure signature</h3>")
    signature = {
        "stop reason": summary.get("stop_reason"),
        "errors by class": {k: v for k, v in results.get("errors_by_class", {}).items() if v},
        "counters": results.get("counters", {}),
        "crashes": len(summary.get("crashes", [])),
        "harness errors": len(summary.get("harness_errors", [])),
        "stall": summary.get("stall"),
        "backpressure paused, s": summary.get("backpressure", {}).get("paused_s_by_cause"),
        "faults injected": summary.get("faults", {}).get("injected"),
    }
    parts.append(_pairs(signature))
    parts.append(_events(summary))
    errors = results.get("errors", [])[:20]
    if errors:
        rows = [(e["class"], e["user_class"], e["op"], e["message"][:200]) for e in errors]
        parts.append(
            "<h3>First errors</h3>" + _table(["class", "user class", "op", "message"], rows, 4)
        )
    for text in summary.get("harness_errors", []):
        parts.append(f"<pre>{_e(text)}</pre>")
    return "".join(parts)


def _events(summary: dict[str, Any]) -> str:
    faults = summary.get("faults", {}).get("events", [])
    fault_rows = [(f"{e['t_s']:.1f}", e["kind"], e["target"], e["effect"]) for e in faults]
    pressure = summary.get("backpressure", {}).get("events", [])
    bp_rows = [
        (f"{e['t_s']:.1f}", e["cause"], e["transition"], e["value"], e["limit"], e["held_s"] or "")
        for e in pressure
    ]
    return (
        "<h3>Faults injected</h3>"
        + (
            _table(["t, s", "kind", "target", "effect"], fault_rows, 4)
            if fault_rows
            else "<p>none</p>"
        )
        + "<h3>Backpressure transitions</h3>"
        + (
            _table(["t, s", "cause", "transition", "value", "limit", "held, s"], bp_rows, 3)
            if bp_rows
            else "<p>none</p>"
        )
    )


def _users(summary: dict[str, Any]) -> str:
    users = summary.get("users", [])
    rows = [
        (
            u["user_id"],
            u["class"],
            u["ops_executed"],
            u["substitutions"],
            u.get("skipped", 0),
            u.get("interrupted", 0),
            u.get("harness_error") or "",
            ", ".join(u.get("last_ops", [])[-5:]),
        )
        for u in users[:_MAX_USERS]
    ]
    head = ["user", "class", "ops", "substituted", "skipped", "interrupted", "harness error"]
    more = len(users) - _MAX_USERS
    note = f"<p class=note>{more} more users not listed.</p>" if more > 0 else ""
    return _table([*head, "last ops"], rows, left={1, 6, 7}) + note


def _config(summary: dict[str, Any]) -> str:
    return (
        "<h3>Configuration</h3>"
        + _pairs(summary.get("config", {}))
        + "<h3>Environment</h3>"
        + _pairs(summary.get("environment", {}))
    )


_CAPTIONS = {
    "over-time": "Per interval of the HDR logs (hlog/latency/*.hlog). Shaded: backpressure "
    "(by cause); hatched: a lock fault's hold; dashed red: a worker killed.",
    "metrics": "p99 per op and interval (hlog/<metric>/*.hlog), same marks.",
    "resources": "The monitor's samples; dotted: the limit. Times count from the monitor's "
    "start, a moment (worker start-up) before the users'.",
    "percentiles": "Whole-run latency distribution per op; x halves the distance to 100%.",
}


def run_sections(data: RunData, plots: Plots | None = None) -> list[Section]:
    """Every section of a run's page, in :data:`SECTIONS` order."""
    drawn = plots if plots is not None else draw_plots(data)
    svgs = {
        "over-time": drawn.throughput_latency,
        "metrics": drawn.metrics,
        "resources": drawn.resources,
        "percentiles": drawn.percentiles,
    }
    bodies = {
        "run": _run(data),
        "results": _results(data.summary),
        "verification": _verification(data.summary),
        "users": _users(data.summary),
        "config": _config(data.summary),
    }
    for section, plot in PLOTS.items():
        bodies[section] = _figure(plot, svgs[section], _CAPTIONS[section])
    short = data.summary.get("hlog_error")
    if short:
        # The two plots drawn from the HDR logs end where the logs stopped.
        warning = f"<p class=bad>The HDR logs stop early: {_e(short)}</p>"
        for section in ("over-time", "metrics"):
            bodies[section] = warning + bodies[section]
    return [(sid, title, bodies[sid]) for sid, title in SECTIONS]


def render_report(data: RunData, plots: Plots | None = None) -> str:
    """The whole page as text."""
    title = f"stress run {data.summary.get('global_seed')}: {data.summary.get('stop_reason')}"
    return document(title, run_sections(data, plots))


def write_report(data: RunData, out: Path) -> int:
    """Write the page to ``out`` (never half-written); its bytes."""
    return write_page(render_report(data), out)
