"""One ``record_<table>`` writer per JSON-row table, as the original API has.

Each is a typed door onto :meth:`MetaDb.record`; the record model names the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from stress.metadb import records as r

if TYPE_CHECKING:
    from stress.metadb.store import WriteOutcome

__all__ = ["TableWriters"]


class _Recorder(Protocol):
    def record(self, table: str, row: r.Record | Mapping[str, Any]) -> WriteOutcome: ...


class TableWriters:
    """Mixin of the per-table writers; the class using it provides ``record``."""

    def record_messages(self: _Recorder, row: r.MessageRecord | Mapping[str, Any]) -> WriteOutcome:
        return self.record("messages", row)

    def record_cli_invocations(
        self: _Recorder, row: r.CliInvocationRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("cli_invocations", row)

    def record_crashes(self: _Recorder, row: r.CrashRecord | Mapping[str, Any]) -> WriteOutcome:
        return self.record("crashes", row)

    def record_ticks(self: _Recorder, row: r.TickRecord | Mapping[str, Any]) -> WriteOutcome:
        return self.record("ticks", row)

    def record_workspaces(
        self: _Recorder, row: r.WorkspaceRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("workspaces", row)

    def record_sessions(self: _Recorder, row: r.SessionRecord | Mapping[str, Any]) -> WriteOutcome:
        return self.record("sessions", row)

    def record_clone_dispatches(
        self: _Recorder, row: r.CloneDispatchRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("clone_dispatches", row)

    def record_harvest_events(
        self: _Recorder, row: r.HarvestEventRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("harvest_events", row)

    def record_communication_events(
        self: _Recorder, row: r.CommunicationEventRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("communication_events", row)

    def record_mcp_tool_calls(
        self: _Recorder, row: r.McpToolCallRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("mcp_tool_calls", row)

    def record_git_operations(
        self: _Recorder, row: r.GitOperationRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("git_operations", row)

    def record_owner_directives(
        self: _Recorder, row: r.OwnerDirectiveRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("owner_directives", row)

    def record_token_usage(
        self: _Recorder, row: r.TokenUsageRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("token_usage", row)

    def record_tests(self: _Recorder, row: r.TestRunRecord | Mapping[str, Any]) -> WriteOutcome:
        return self.record("tests", row)

    def record_watchdog_events(
        self: _Recorder, row: r.WatchdogEventRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("watchdog_events", row)

    def record_tasks(self: _Recorder, row: r.TaskRecord | Mapping[str, Any]) -> WriteOutcome:
        return self.record("tasks", row)

    def record_source_errors(
        self: _Recorder, row: r.SourceErrorRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("source_errors", row)

    def record_iroh_events(
        self: _Recorder, row: r.IrohEventRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("iroh_events", row)

    def record_tool_use_events(
        self: _Recorder, row: r.ToolUseEventRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("tool_use_events", row)

    def record_clone_lifecycle_events(
        self: _Recorder, row: r.CloneLifecycleEventRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("clone_lifecycle_events", row)

    def record_prepush_bypass_events(
        self: _Recorder, row: r.PrepushBypassEventRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("prepush_bypass_events", row)

    def record_marker_state_events(
        self: _Recorder, row: r.MarkerStateEventRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("marker_state_events", row)

    def record_dependency_installs(
        self: _Recorder, row: r.DependencyInstallRecord | Mapping[str, Any]
    ) -> WriteOutcome:
        return self.record("dependency_installs", row)
