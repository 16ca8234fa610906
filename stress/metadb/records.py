"""Typed record models, one per JSON-row table.

A record is what a caller hands to ``record_<table>``; the store validates it and stores
``model_dump_json()`` as ``row_json``. Field names follow the original crate where it is known
(see docs/metadb-store.md); the rest are chosen in the same style.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stress.metadb.errors import InvalidRecordError, UnknownTableError

__all__ = [
    "RECORD_MODELS",
    "SOURCE_ERROR_CLASSES",
    "Record",
    "model_for",
    "validate_record",
]

_TS = Field(min_length=1, description="UTC time, ISO 8601")


class Record(BaseModel):
    """Base of every row model: strict about unknown fields, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    table: ClassVar[str] = ""


class MessageRecord(Record):
    table: ClassVar[str] = "messages"
    ts_utc: str = _TS
    source: str
    direction: Literal["inbound", "outbound"]
    chat_id: str
    from_agent: str
    to_agent: str
    body: str
    raw_json: str = "{}"


class CliInvocationRecord(Record):
    table: ClassVar[str] = "cli_invocations"
    ts_utc: str = _TS
    bin: str
    argv_json: str
    exit_code: int
    duration_ms: float = Field(ge=0, description="wall time of the call, ms")
    host: str


class CrashRecord(Record):
    table: ClassVar[str] = "crashes"
    ts_utc: str = _TS
    kind: str
    agent: str
    detail_json: str = "{}"


class TickRecord(Record):
    table: ClassVar[str] = "ticks"
    ts_utc: str = _TS
    source: str
    detail_json: str = "{}"


class WorkspaceRecord(Record):
    table: ClassVar[str] = "workspaces"
    ts_utc_created: str = _TS
    name: str
    branch: str
    ts_utc_deleted: str | None = None
    verdict: str | None = None


class SessionRecord(Record):
    table: ClassVar[str] = "sessions"
    ts_utc: str = _TS
    agent: str
    session_num: int = Field(ge=0)
    event: Literal["up", "down", "note"]


class CloneDispatchRecord(Record):
    table: ClassVar[str] = "clone_dispatches"
    ts_utc: str = _TS
    lifecycle: Literal["queued", "started", "finished", "abandoned"]
    brief: str
    branch: str
    status: str
    exit_code: int | None = None
    detail_json: str = "{}"


class HarvestEventRecord(Record):
    table: ClassVar[str] = "harvest_events"
    ts_utc: str = _TS
    source_branch: str
    target_branch: str
    commit_sha: str
    status: str
    conflicts: int = Field(ge=0)
    detail_json: str = "{}"


class CommunicationEventRecord(Record):
    table: ClassVar[str] = "communication_events"
    ts_utc: str = _TS
    source: str
    tool: str
    direction: Literal["inbound", "outbound"]
    chat_id: str
    message_id: str
    handle: str
    agent: str
    body: str
    status: str
    detail_json: str = "{}"


class McpToolCallRecord(Record):
    table: ClassVar[str] = "mcp_tool_calls"
    ts_utc_start: str = _TS
    ts_utc_end: str = _TS
    source: str
    tool: str
    agent: str
    duration_ms: float = Field(ge=0, description="call duration, ms")
    success: bool
    error: str | None = None
    timeout_race: bool = False
    request_json: str = "{}"
    response_json: str = "{}"


class GitOperationRecord(Record):
    table: ClassVar[str] = "git_operations"
    ts_utc: str = _TS
    operation: str
    repo: str
    branch: str
    remote: str | None = None
    from_sha: str | None = None
    to_sha: str | None = None
    status: str
    detail_json: str = "{}"


class OwnerDirectiveRecord(Record):
    table: ClassVar[str] = "owner_directives"
    ts_utc: str = _TS
    source: str
    directive: str
    agent: str
    status: Literal["received", "applied", "rejected"]
    detail_json: str = "{}"


class TokenUsageRecord(Record):
    table: ClassVar[str] = "token_usage"
    ts_utc: str = _TS
    session_id: str
    agent: str
    runtime: str
    model: str
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cached_input_tokens: int = Field(ge=0, default=0)
    cost_usd_micros: int = Field(ge=0, description="cost in millionths of a US dollar")
    detail_json: str = "{}"


class TestRunRecord(Record):
    table: ClassVar[str] = "tests"
    ts_utc: str = _TS
    suite: str
    name: str
    outcome: Literal["passed", "failed", "skipped", "error"]
    duration_ms: float = Field(ge=0, description="test duration, ms")
    agent: str
    detail_json: str = "{}"


class WatchdogEventRecord(Record):
    table: ClassVar[str] = "watchdog_events"
    ts_utc: str = _TS
    source: str
    event: str
    agent: str
    severity: Literal["info", "warn", "error"]
    detail_json: str = "{}"


class TaskRecord(Record):
    table: ClassVar[str] = "tasks"
    ts_utc: str = _TS
    task_id: str
    title: str
    status: Literal["open", "in_progress", "done", "blocked"]
    agent: str
    detail_json: str = "{}"


#: The bounded set of source error classes; anything else is stored as ``unknown`` so the
#: column's cardinality cannot grow with free-form messages.
SOURCE_ERROR_CLASSES: frozenset[str] = frozenset(
    {"io", "parse", "timeout", "auth", "network", "schema", "rate_limit", "unknown"}
)


class SourceErrorRecord(Record):
    table: ClassVar[str] = "source_errors"
    ts_utc: str = _TS
    source: str
    error_class: str
    message: str
    detail_json: str = "{}"

    @field_validator("error_class")
    @classmethod
    def _bounded_class(cls, value: str) -> str:
        return value if value in SOURCE_ERROR_CLASSES else "unknown"


class IrohEventRecord(Record):
    table: ClassVar[str] = "iroh_events"
    ts_utc: str = _TS
    event_type: Literal["connect", "evict", "reconnect", "handshake_refused"]
    # A truncated SHA-256 in hex: the original never stores a raw peer id.
    peer_id_hash: str = Field(pattern=r"^[0-9a-f]{16}$")
    peer_label: str
    detail_json: str = "{}"


class ToolUseEventRecord(Record):
    table: ClassVar[str] = "tool_use_events"
    ts_utc: str = _TS
    agent: str
    tool: str
    duration_ms: float = Field(ge=0, description="tool call duration, ms")
    success: bool
    detail_json: str = "{}"


class CloneLifecycleEventRecord(Record):
    table: ClassVar[str] = "clone_lifecycle_events"
    ts_utc: str = _TS
    clone_id: str
    phase: str
    status: str
    detail_json: str = "{}"


class PrepushBypassEventRecord(Record):
    table: ClassVar[str] = "prepush_bypass_events"
    ts_utc: str = _TS
    repo: str
    branch: str
    agent: str
    reason: str


class MarkerStateEventRecord(Record):
    table: ClassVar[str] = "marker_state_events"
    ts_utc: str = _TS
    marker: str
    state: str
    agent: str
    detail_json: str = "{}"


class DependencyInstallRecord(Record):
    table: ClassVar[str] = "dependency_installs"
    ts_utc: str = _TS
    manager: str
    package: str
    version: str
    duration_ms: float = Field(ge=0, description="install duration, ms")
    success: bool


#: table name -> record model, for every JSON-row table.
RECORD_MODELS: dict[str, type[Record]] = {
    model.table: model
    for model in (
        MessageRecord,
        CliInvocationRecord,
        CrashRecord,
        TickRecord,
        WorkspaceRecord,
        SessionRecord,
        CloneDispatchRecord,
        HarvestEventRecord,
        CommunicationEventRecord,
        McpToolCallRecord,
        GitOperationRecord,
        OwnerDirectiveRecord,
        TokenUsageRecord,
        TestRunRecord,
        WatchdogEventRecord,
        TaskRecord,
        SourceErrorRecord,
        IrohEventRecord,
        ToolUseEventRecord,
        CloneLifecycleEventRecord,
        PrepushBypassEventRecord,
        MarkerStateEventRecord,
        DependencyInstallRecord,
    )
}


def model_for(table: str) -> type[Record]:
    """The record model of ``table``; :class:`UnknownTableError` for anything else."""
    try:
        return RECORD_MODELS[table]
    except KeyError:
        raise UnknownTableError(table) from None


def validate_record(table: str, row: Record | Mapping[str, Any]) -> Record:
    """Return ``row`` as a validated model of ``table``'s type.

    A model instance of the right type passes as is (it was validated when built); a mapping
    is validated; anything else, or a model of another table, is an :class:`InvalidRecordError`
    naming the first offending field.
    """
    model = model_for(table)
    if type(row) is model:
        return row
    if isinstance(row, Record):
        raise InvalidRecordError(table, "<record>", f"got a {row.table} record")
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "<record>"
        raise InvalidRecordError(table, field, first["msg"]) from None
