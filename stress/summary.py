"""``summary.json``: its shape as typed models, and the JSON Schema generated from them.

The top level is a frozen pydantic model, :class:`Summary`. Its sections are ``TypedDict``
shapes, so the modules that produce them (the stats, the monitor, the fault injector, the
pacing, the oracle) return plain dicts that mypy checks against the same declaration the
summary validates with; this module imports none of them, so the engine, the CLI and
``stress verify`` can all use it. Each shape forbids keys it does not declare, so a section
that grows a field must declare it here (and the schema, generated from these models,
follows: ``stress/schemas/summary.schema.json``, kept equal to :func:`summary_schema` by a
test). Key order in the file is the declaration order below.

Units are in the names (``_ms`` milliseconds, ``_s`` or ``_secs`` seconds, ``_mb`` MiB,
``_percent`` percent of one core) and in each field's description.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, JsonValue, with_config
from typing_extensions import TypedDict

from stress.faults import FaultKind
from stress.outcomes import StopReason

__all__ = [
    "MAX_ERROR_MESSAGES",
    "MAX_EXAMPLES",
    "RESOURCE_TIMELINE_CAP",
    "SUMMARY_FORMAT_VERSION",
    "BackpressureCause",
    "BackpressureEvent",
    "BackpressureSection",
    "CrashAction",
    "CrashEntry",
    "Environment",
    "ErrorEntry",
    "FailureEntry",
    "FaultEventEntry",
    "FaultsSection",
    "MonitorCostEntry",
    "NotRun",
    "OpenLoopSection",
    "Percentiles",
    "ResourceFigures",
    "ResourceTimelineEntry",
    "ResourcesSection",
    "Results",
    "RunStats",
    "StallEntry",
    "StalledUserEntry",
    "Summary",
    "TimelineEntry",
    "UserEntry",
    "Verdict",
    "summary_schema",
]

SUMMARY_FORMAT_VERSION = 1
#: Error messages kept in ``results.errors``; later ones are only counted.
MAX_ERROR_MESSAGES = 100
#: Examples kept per kind of problem in the verdict.
MAX_EXAMPLES = 20
#: Most entries in ``resources.timeline`` (older ones merge pairwise past it).
RESOURCE_TIMELINE_CAP = 1000

#: What the run did when a worker died: ``stop`` the run, or ``restart`` the worker.
CrashAction = Literal["stop", "restart"]
#: What backpressure watches: three that pause users, and the disk budget.
BackpressureCause = Literal["memory", "cpu", "wal", "disk"]

_STRICT = ConfigDict(extra="forbid")
_Count = Annotated[int, Field(ge=0)]
_Amount = Annotated[float, Field(ge=0)]


def _doc(text: str, *, ge: float | None = None, max_length: int | None = None) -> Any:
    """A field's description (its unit) and bounds, for ``Annotated[...]``."""
    return Field(description=text, ge=ge, max_length=max_length)


def _count(text: str) -> Any:
    return _doc(text, ge=0)


# --- results ---------------------------------------------------------------------------


@with_config(_STRICT)
class Percentiles(TypedDict):
    """A latency (or other metric) distribution, in milliseconds, and its sample count."""

    p50: _Amount
    p90: _Amount
    p95: _Amount
    p99: _Amount
    p99_9: _Amount
    max: _Amount
    mean: _Amount
    count: _Count


#: One kept error message (functional form: ``class`` is a keyword).
ErrorEntry = TypedDict(
    "ErrorEntry",
    {
        "class": Annotated[str, _doc("the error class (lock_timeout, busy, spooled, ...)")],
        "op": str,
        "user_class": str,
        "message": Annotated[str, _doc("the message, cut to 500 characters")],
    },
)
ErrorEntry.__pydantic_config__ = _STRICT  # type: ignore[attr-defined]


@with_config(_STRICT)
class TimelineEntry(TypedDict):
    """One interval of the run (older intervals merge pairwise in a long run)."""

    t_s: Annotated[float, _doc("end of the interval, seconds into the run", ge=0)]
    interval_s: NotRequired[Annotated[float, _doc("the interval's width, in seconds", ge=0)]]
    ops: _Count
    ops_per_s: Annotated[float, _doc("operations per second over the interval", ge=0)]
    errors: _Count
    p50_ms: Annotated[float, _doc("median latency of the interval, in ms", ge=0)]
    p99_ms: Annotated[float, _doc("p99 latency of the interval, in ms", ge=0)]
    rows_inserted: _Count


@with_config(_STRICT)
class RunStats(TypedDict):
    """What the workers reported, merged: the first part of ``results``."""

    total_operations: _Count
    successful_operations: _Count
    failed_operations: _Count
    operations_by_type: dict[str, _Count]
    failed_operations_by_type: NotRequired[dict[str, _Count]]
    failed_operations_by_class: NotRequired[
        Annotated[dict[str, dict[str, _Count]], _doc("failed ops by user class, then op")]
    ]
    errors: Annotated[
        list[ErrorEntry],
        _doc("the first error messages", max_length=MAX_ERROR_MESSAGES),
    ]
    errors_by_class: Annotated[dict[str, _Count], _doc("failed ops by error class")]
    total_rows_inserted: _Count
    total_rows_queried: _Count
    throughput_ops_per_sec: Annotated[float, _doc("operations per second", ge=0)]
    insert_rows_per_sec: Annotated[float, _doc("rows inserted per second", ge=0)]
    latency_ms: Annotated[Percentiles, _doc("every operation's latency, in ms")]
    latency_by_op: Annotated[dict[str, Percentiles], _doc("latency by op, in ms")]
    latency_by_class: Annotated[
        dict[str, dict[str, Percentiles]],
        _doc("latency by user class, then op (and 'all'), in ms"),
    ]
    metrics: NotRequired[
        Annotated[
            dict[str, dict[str, dict[str, Percentiles]]],
            _doc("other recorded distributions: metric, then user class, then op"),
        ]
    ]
    timeline: list[TimelineEntry]
    clamped_values: NotRequired[
        Annotated[int, _doc("values too large for a histogram, clamped to its top", ge=0)]
    ]
    counters: NotRequired[Annotated[dict[str, _Count], _doc("named event counts")]]
    actual_duration_secs: Annotated[float, _doc("how long the users ran, in seconds", ge=0)]


@with_config(_STRICT)
class ResourceFigures(TypedDict):
    """The monitor's peaks, in ``results`` and in ``resources``."""

    peak_memory_mb: Annotated[
        float, _doc("peak resident memory of the process tree (sum of RSS), in MB", ge=0)
    ]
    peak_cpu_percent: Annotated[
        float, _doc("peak CPU of the process tree, percent of one core", ge=0)
    ]
    peak_load: Annotated[float, _doc("peak 1-minute load average of the system", ge=0)]
    disk_used_mb: Annotated[
        float, _doc("peak size of the databases (with -wal, -shm) and spools, in MB", ge=0)
    ]


@with_config(_STRICT)
class Results(RunStats, ResourceFigures):
    """The summary's ``results``: the workers' figures, the monitor's peaks, and the end."""

    crashed: Annotated[bool, _doc("the run stopped because a worker crashed")]
    interrupted: NotRequired[
        Annotated[int, _doc("ops in flight at the stop that the run interrupted", ge=0)]
    ]


# --- users, crashes, stall ----------------------------------------------------------------

#: One user as it ended (functional form: ``class`` is a keyword).
UserEntry = TypedDict(
    "UserEntry",
    {
        "user_id": _Count,
        "class": str,
        "ops_executed": _Count,
        "substitutions": Annotated[
            int, _doc("writes the disk budget turned into simple selects", ge=0)
        ],
        "skipped": NotRequired[
            Annotated[int, _doc("ops the latency limit skipped (open loop)", ge=0)]
        ],
        "interrupted": NotRequired[
            Annotated[
                int,
                _doc(
                    "ops in flight at the stop that the run interrupted (rolled back, "
                    "never acknowledged, not spooled)",
                    ge=0,
                ),
            ]
        ],
        "harness_error": str | None,
        "last_ops": list[str],
        "disk_full": NotRequired[
            Annotated[
                str | None,
                _doc(
                    "the first sign of a full disk this user met (the store's, the "
                    "ledger's or the spool's message), or null"
                ),
            ]
        ],
    },
)
UserEntry.__pydantic_config__ = _STRICT  # type: ignore[attr-defined]


@with_config(_STRICT)
class CrashEntry(TypedDict):
    """A worker process that died without its final report."""

    worker_idx: _Count
    pid: int | None
    exit_code: Annotated[int | None, _doc("exit status; null when a signal ended it")]
    signal: Annotated[str | None, _doc("the signal that ended it (SIGKILL); null if it exited")]
    t_s: Annotated[float, _doc("seconds into the run when the coordinator saw it", ge=0)]
    users: list[_Count]
    ops_executed: Annotated[dict[str, _Count], _doc("each user's ops at its last commit")]
    last_ops: Annotated[dict[str, list[str]], _doc("each user's last ops, last reported")]
    action: CrashAction


@with_config(_STRICT)
class StalledUserEntry(TypedDict):
    user_id: _Count
    ops_executed: _Count
    last_ops: list[str]


@with_config(_STRICT)
class StallEntry(TypedDict):
    """No user completed an op for longer than STRESS_MAX_NO_PROGRESS_S (stop: Stalled)."""

    at_s: Annotated[float, _doc("when the stall was seen, seconds into the run")]
    since_s: Annotated[float, _doc("when the last op completed, seconds into the run")]
    no_progress_s: Annotated[float, _doc("seconds without a completed op")]
    bound_s: Annotated[float, _doc("STRESS_MAX_NO_PROGRESS_S, in seconds")]
    users: list[StalledUserEntry]


# --- faults, open loop --------------------------------------------------------------------


@with_config(_STRICT)
class FaultEventEntry(TypedDict):
    """One injected fault and what it did."""

    t_s: Annotated[float, _doc("seconds into the run", ge=0)]
    kind: FaultKind
    target: Annotated[str, _doc("'worker N' (kill) or 'database N' (lock)")]
    worker_idx: Annotated[int | None, _doc("the worker killed (kill)", ge=0)]
    database_idx: Annotated[int | None, _doc("the database locked (lock)", ge=0)]
    pid: Annotated[int, _doc("the killed worker's or the lock holder's pid")]
    hold_s: Annotated[float | None, Field(gt=0, description="how long the lock was held, s")]
    effect: Annotated[
        str,
        _doc("what it did: the pid killed and the restart, or how long the database was locked"),
    ]


@with_config(_STRICT)
class FaultsSection(TypedDict):
    """Faults injected from STRESS_FAULTS (or, in a replay, the recorded ones)."""

    spec: Annotated[str | None, _doc("the STRESS_FAULTS text")]
    replayed: Annotated[bool, _doc("the faults came from a replay file's recorded ones")]
    injected: Annotated[dict[str, _Count], _doc("faults injected, by kind")]
    not_injected: Annotated[
        int,
        _doc(
            "strikes that came due (or were recorded) but never happened: the target was "
            "not running",
            ge=0,
        ),
    ]
    events: list[FaultEventEntry]


@with_config(_STRICT)
class OpenLoopSection(TypedDict):
    """Open-loop rate figures (the section is null in closed loop)."""

    target_ops_per_sec: Annotated[float, _doc("STRESS_TARGET_OPS_PER_SEC", ge=0)]
    achieved_ops_per_sec: Annotated[float, _doc("operations per second achieved", ge=0)]
    latency_limit_ms: Annotated[float | None, _doc("STRESS_LATENCY_LIMIT_MS, in ms", ge=0)]
    late_after_ms: Annotated[
        float, _doc("an op starting more than this after its schedule is late, in ms", ge=0)
    ]
    late_ops: _Count
    skipped_ops: Annotated[int, _doc("ops skipped by the latency limit", ge=0)]
    over_limit_ops: Annotated[int, _doc("ops that started later than the limit", ge=0)]


# --- backpressure, resources --------------------------------------------------------------


@with_config(_STRICT)
class BackpressureEvent(TypedDict):
    """One backpressure transition."""

    t_s: Annotated[float, _doc("seconds into the run", ge=0)]
    cause: BackpressureCause
    transition: Literal["on", "off"]
    value: Annotated[float, _doc("the sampled value, in the limit's unit", ge=0)]
    limit: Annotated[float, _doc("the limit (MB, or percent of one core for cpu)", ge=0)]
    held_s: Annotated[float | None, _doc("seconds the cause was on (off events)", ge=0)]


@with_config(_STRICT)
class BackpressureSection(TypedDict):
    """Every backpressure transition, and seconds paused per cause."""

    lift_ratio: Annotated[float, _doc("a cause lifts below this share of its limit", ge=0)]
    limits: Annotated[dict[str, _Amount], _doc("each cause's limit, in its unit")]
    max_stall_s: Annotated[float, _doc("longest a pause may last, in seconds", ge=0)]
    paused_s: Annotated[float, _doc("seconds users were paused", ge=0)]
    paused_s_by_cause: Annotated[dict[str, _Amount], _doc("seconds each pause cause was on")]
    disk_over_s: Annotated[float, _doc("seconds over the disk budget", ge=0)]
    active_at_end: list[BackpressureCause]
    stalled: Annotated[bool, _doc("a pause outlasted max_stall_s")]
    stalled_by: NotRequired[
        Annotated[
            list[str],
            _doc(
                "the causes holding the pause when it outlasted max_stall_s (the "
                "ResourceLimit stop's resource)"
            ),
        ]
    ]
    disk_full_at_s: NotRequired[
        Annotated[
            float | None,
            _doc(
                "seconds into the run when a user first met a full disk (the store, its "
                "ledger or the spool had no room); null if none did",
                ge=0,
            ),
        ]
    ]
    stop_cause: NotRequired[
        Annotated[
            str | None,
            _doc(
                "what stopped the run with ResourceLimit: disk (a full disk), or the pause "
                "causes on when the stall began (e.g. memory, cpu+wal); null if nothing did"
            ),
        ]
    ]
    events: list[BackpressureEvent]
    events_dropped: Annotated[int, _doc("transitions past the event log's cap", ge=0)]


@with_config(_STRICT)
class ResourceTimelineEntry(TypedDict):
    """One sample, or merged samples keeping each value's maximum."""

    t_s: Annotated[float, _doc("seconds into the run", ge=0)]
    samples: Annotated[int, _doc("samples merged into this entry", ge=1)]
    rss_mb: Annotated[float, _doc("resident memory of the process tree, in MB", ge=0)]
    cpu_percent: Annotated[float, _doc("CPU of the process tree, percent of one core", ge=0)]
    load_1m: Annotated[float, _doc("1-minute load average", ge=0)]
    disk_mb: Annotated[float, _doc("databases and spools, in MB", ge=0)]
    wal_mb: Annotated[float, _doc("the largest -wal file, in MB", ge=0)]
    backpressure: Annotated[list[BackpressureCause], _doc("causes on")]


@with_config(_STRICT)
class MonitorCostEntry(TypedDict):
    """What the monitor itself cost."""

    samples: _Count
    cpu_s: Annotated[float, _doc("CPU time of the monitor thread, in seconds", ge=0)]
    cpu_share: Annotated[float, _doc("monitor CPU seconds per wall second", ge=0)]
    mean_sample_ms: Annotated[float, _doc("mean wall time of one sample, in ms", ge=0)]
    max_sample_ms: Annotated[float, _doc("largest wall time of one sample, in ms", ge=0)]


@with_config(_STRICT)
class _ResourcesHead(TypedDict):
    interval_ms: Annotated[float, _doc("the monitor's sampling interval, in ms", ge=0)]
    cpu_unit: str


@with_config(_STRICT)
class ResourcesSection(_ResourcesHead, ResourceFigures):
    """The monitor's samples: peaks and a bounded timeline (CPU: 100 = one core)."""

    peak_rss_mb_by_process: Annotated[
        dict[str, _Amount],
        _doc(
            "peak resident memory of each process (coordinator, worker-N, helpers), in MB: "
            "the larger of its sampled RSS and the kernel's high-water mark (VmHWM)"
        ),
    ]
    peak_wal_mb_by_database: Annotated[list[_Amount], _doc("peak -wal size, in MB")]
    heap_trims: NotRequired[
        Annotated[
            int,
            _doc(
                "times the coordinator handed its free malloc heap back to the OS "
                "(malloc_trim; 0 off glibc)",
                ge=0,
            ),
        ]
    ]
    monitor: MonitorCostEntry
    timeline: Annotated[
        list[ResourceTimelineEntry], _doc("samples", max_length=RESOURCE_TIMELINE_CAP)
    ]


# --- environment, verification ------------------------------------------------------------


@with_config(_STRICT)
class Environment(TypedDict):
    """Versions and machine facts, so two summaries can be compared honestly."""

    python: str
    sqlite: str
    engine: str
    engine_version: str
    platform: str
    cpu_count: int | None
    stress_version: str
    numpy: NotRequired[str]


@with_config(_STRICT)
class Verdict(TypedDict):
    """The no-loss oracle's verdict (row counts)."""

    ok: Annotated[bool, _doc("nothing missing, unaccounted or unchecked; integrity ok")]
    acknowledged: Annotated[int, _doc("rows the store acknowledged", ge=0)]
    found: Annotated[int, _doc("expected rows present with the same content", ge=0)]
    missing: Annotated[int, _doc("expected rows absent or changed", ge=0)]
    spooled: Annotated[int, _doc("spooled rows still (only) in the spool", ge=0)]
    reingested: Annotated[int, _doc("spooled rows a spool replay put in the store", ge=0)]
    unaccounted: Annotated[int, _doc("rows in the store that no user wrote", ge=0)]
    indeterminate: Annotated[int, _doc("ops in flight when their process died", ge=0)]
    indeterminate_rows_present: Annotated[int, _doc("rows of those ops found", ge=0)]
    unchecked: NotRequired[
        Annotated[
            int,
            _doc(
                "expected rows of a database that could not be read (corrupt or gone), so "
                "not checked",
                ge=0,
            ),
        ]
    ]
    integrity: Annotated[dict[str, str], _doc("integrity check result by database path")]
    examples: Annotated[
        dict[str, Annotated[list[str], Field(max_length=MAX_EXAMPLES)]],
        _doc("examples of each kind of problem"),
    ]


@with_config(_STRICT)
class FailureEntry(TypedDict):
    """A failing run's signature and the parts it is a hash of (see ``stress/signature.py``)."""

    signature: Annotated[
        str, _doc("12 hex digits: the same bug found by two seeds has one signature")
    ]
    stop_reason: StopReason
    check: Annotated[
        str,
        _doc(
            "the check that failed: missing, changed, unaccounted, integrity, unreadable, "
            "crash, harness_error, stalled, resource, threshold, or invariant:NAME"
        ),
    ]
    op: Annotated[str | None, _doc("the op kind every failing row came from, or null")]
    table: Annotated[str | None, _doc("the table every failing row is in, or null")]
    error_class: Annotated[
        str | None, _doc("the error's class (an exception class, a signal), never its message")
    ]
    detail: Annotated[str, _doc("for a person: the parts, a count and an example (not hashed)")]


@with_config(ConfigDict(extra="forbid"))
class NotRun(TypedDict):
    """No verdict (yet)."""

    not_run: Annotated[
        str,
        _doc(
            "why there is no verdict: 'pending: ...' (the oracle has not finished) or "
            "'skipped: SIGTERM during verification'"
        ),
    ]


def _one_of(schema: dict[str, Any]) -> None:
    # Exactly one applies (a verdict never has not_run; not_run has nothing else).
    schema["oneOf"] = schema.pop("anyOf")


#: The settings' fields a reader of ``config`` can count on.
_CONFIG_KEYS: list[JsonValue] = [
    "duration",
    "databases",
    "seed",
    "engine",
    "connection",
    "id_allocation",
    "processes",
]


class Summary(BaseModel):
    """``summary.json``: how one run went."""

    # Built on first use, not at import: the CLI's start-up does not pay for it.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    format_version: Literal[1] = Field(description="the summary's format (SUMMARY_FORMAT_VERSION)")
    stop_reason: StopReason
    exit_code: Literal[0, 1, 2, 130] = Field(description="the run's exit status")
    global_seed: int = Field(ge=0, description="the seed every stream derives from")
    run_dir: str
    started_utc: str = Field(description="ISO 8601, seconds")
    finished_utc: str = Field(description="ISO 8601, seconds")
    replay_of: str | None = Field(description="the replay file this run replayed, or null")
    config: dict[str, Any] = Field(
        description="the settings the run used (by field name), with the seed it ran with",
        json_schema_extra={"required": _CONFIG_KEYS},
    )
    results: Results
    users: list[UserEntry]
    harness_errors: list[str]
    crashes: list[CrashEntry] = Field(
        description="worker processes that died without their final report"
    )
    stall: StallEntry | None = Field(
        default=None,
        description=(
            "set when no user completed an op for longer than STRESS_MAX_NO_PROGRESS_S "
            "outside backpressure (stop reason Stalled); times in seconds into the run"
        ),
    )
    open_loop: OpenLoopSection | None = Field(description="null in closed loop")
    backpressure: BackpressureSection
    resources: ResourcesSection
    faults: FaultsSection
    environment: Environment
    verification: Verdict | NotRun = Field(
        description=(
            "the no-loss oracle: every acknowledged row present with the same content, every "
            "spooled row in the spool, no row nobody wrote, integrity ok. Until the oracle "
            "has run (written first, rewritten with its verdict), or when a signal skipped "
            "it, an object with only not_run, saying why."
        ),
        json_schema_extra=_one_of,
    )
    failure: FailureEntry | None = Field(
        default=None,
        description=(
            "a failing run's (exit code 1) signature and its readable parts; null when the "
            "run did not fail"
        ),
    )
    hlog_error: str | None = Field(
        default=None,
        description=(
            "why the per-interval HDR logs under hlog/ stop early (their first failed write, "
            "e.g. a full disk); null when they are whole. The run and its verdict go on "
            "without them."
        ),
    )

    def document(self) -> dict[str, Any]:
        """The JSON document, as written to ``summary.json``."""
        return self.model_dump(mode="json", by_alias=True)


def summary_schema() -> dict[str, Any]:
    """The JSON Schema of summary.json, generated from :class:`Summary`."""
    schema = Summary.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stress summary.json"
    return schema
