"""The read side: the analytics catalogue and the snapshot path.

Analytics are plain SQL over ``json_extract(row_json, '$.field')``. The first four are the
original load bench's; the rest add joins and a ``UNION ALL`` by agent, session and day, with
a ``complexity`` level (1 = one table, 3 = joins of several) the simulator's complex-join
operation draws from.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stress.metadb.engines import Connection
from stress.metadb.schema import JSON_TABLES

__all__ = ["ANALYTICS", "SNAPSHOT_CACHE_KIB", "AnalyticsQuery", "snapshot_rows"]

#: Page cache of a snapshot copy, in KiB: the most memory a copy holds, however big its tables.
SNAPSHOT_CACHE_KIB = 4096
#: Rows moved from the live file to the copy at a time.
_COPY_ROWS = 1000


def _j(field: str, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return f"json_extract({prefix}row_json, '$.{field}')"


@dataclass(frozen=True)
class AnalyticsQuery:
    """A named analytics query, the tables it reads, and how heavy it is (1..5)."""

    name: str
    sql: str
    tables: tuple[str, ...]
    complexity: int
    description: str


_QUERIES: tuple[AnalyticsQuery, ...] = (
    AnalyticsQuery(
        "messages_by_source_direction",
        f"SELECT {_j('source')} AS source, {_j('direction')} AS direction, count(*) AS n "
        "FROM messages GROUP BY 1, 2 ORDER BY n DESC, 1, 2",
        ("messages",),
        1,
        "messages counted by source and direction (the original bench's first)",
    ),
    AnalyticsQuery(
        "token_usage_by_runtime",
        f"SELECT {_j('runtime')} AS runtime, "
        f"sum({_j('input_tokens')} + {_j('output_tokens')}) AS tokens, count(*) AS n "
        "FROM token_usage GROUP BY 1 ORDER BY tokens DESC, 1",
        ("token_usage",),
        1,
        "input plus output tokens by runtime",
    ),
    AnalyticsQuery(
        "iroh_events_by_type",
        f"SELECT {_j('event_type')} AS event_type, count(*) AS n "
        "FROM iroh_events GROUP BY 1 ORDER BY n DESC, 1",
        ("iroh_events",),
        1,
        "iroh events counted by type",
    ),
    AnalyticsQuery(
        "mcp_tool_calls_by_source_tool",
        f"SELECT {_j('source')} AS source, {_j('tool')} AS tool, count(*) AS n, "
        f"avg({_j('duration_ms')}) AS mean_duration_ms "
        "FROM mcp_tool_calls GROUP BY 1, 2 ORDER BY n DESC, 1, 2",
        ("mcp_tool_calls",),
        1,
        "MCP tool calls by source and tool: count and mean duration (ms)",
    ),
    AnalyticsQuery(
        "tokens_per_session_with_sessions",
        f"SELECT t.session, t.agent, t.tokens, count(s.id) AS session_events FROM ("
        f"SELECT {_j('session_id')} AS session, {_j('agent')} AS agent, "
        f"sum({_j('input_tokens')} + {_j('output_tokens')}) AS tokens "
        "FROM token_usage GROUP BY 1, 2) AS t "
        f"LEFT JOIN sessions AS s ON {_j('agent', 's')} = t.agent "
        "GROUP BY t.session, t.agent, t.tokens ORDER BY t.tokens DESC, 1, 2 LIMIT 50",
        ("token_usage", "sessions"),
        2,
        "tokens per session joined with the agent's session events",
    ),
    AnalyticsQuery(
        "activity_by_agent_union",
        f"SELECT agent, kind, count(*) AS n FROM ("
        f"SELECT {_j('from_agent')} AS agent, 'message' AS kind FROM messages "
        f"UNION ALL SELECT {_j('agent')}, 'tokens' FROM token_usage "
        f"UNION ALL SELECT {_j('agent')}, 'tool_call' FROM mcp_tool_calls "
        f"UNION ALL SELECT {_j('agent')}, 'watchdog' FROM watchdog_events"
        ") GROUP BY agent, kind ORDER BY n DESC, agent, kind",
        ("messages", "token_usage", "mcp_tool_calls", "watchdog_events"),
        2,
        "activity by agent across four tables (UNION ALL)",
    ),
    AnalyticsQuery(
        "rows_by_day_union",
        f"SELECT day, kind, count(*) AS n FROM ("
        f"SELECT substr({_j('ts_utc')}, 1, 10) AS day, 'cli' AS kind FROM cli_invocations "
        f"UNION ALL SELECT substr({_j('ts_utc')}, 1, 10), 'tokens' FROM token_usage "
        f"UNION ALL SELECT substr({_j('ts_utc')}, 1, 10), 'comms' FROM communication_events "
        f"UNION ALL SELECT substr({_j('ts_utc')}, 1, 10), 'ticks' FROM ticks"
        ") GROUP BY day, kind ORDER BY day DESC, n DESC, kind",
        ("cli_invocations", "token_usage", "communication_events", "ticks"),
        3,
        "rows per day and kind over the four hottest tables (UNION ALL)",
    ),
    AnalyticsQuery(
        "agent_cost_and_failures",
        f"SELECT u.agent, u.cost_micros, coalesce(c.failed_calls, 0) AS failed_calls, "
        f"coalesce(w.alerts, 0) AS alerts FROM ("
        f"SELECT {_j('agent')} AS agent, sum({_j('cost_usd_micros')}) AS cost_micros "
        "FROM token_usage GROUP BY 1) AS u "
        f"LEFT JOIN (SELECT {_j('agent')} AS agent, count(*) AS failed_calls FROM mcp_tool_calls "
        f"WHERE {_j('success')} = 0 GROUP BY 1) AS c ON c.agent = u.agent "
        f"LEFT JOIN (SELECT {_j('agent')} AS agent, count(*) AS alerts FROM watchdog_events "
        f"WHERE {_j('severity')} != 'info' GROUP BY 1) AS w ON w.agent = u.agent "
        "ORDER BY u.cost_micros DESC, u.agent LIMIT 50",
        ("token_usage", "mcp_tool_calls", "watchdog_events"),
        3,
        "cost per agent joined with failed tool calls and watchdog alerts",
    ),
    AnalyticsQuery(
        "session_timeline_deep",
        # Each side is counted per agent before the join: joining the raw rows multiplies
        # them (usage x tool calls x CLI calls per session), which never ends on a real file.
        f"SELECT {_j('agent', 's')} AS agent, {_j('session_num', 's')} AS session_num, "
        "coalesce(t.n, 0) AS usage_rows, coalesce(m.n, 0) AS tool_calls, "
        "coalesce(c.n, 0) AS cli_calls FROM sessions AS s "
        f"LEFT JOIN (SELECT {_j('agent')} AS agent, count(*) AS n FROM token_usage GROUP BY 1) "
        f"AS t ON t.agent = {_j('agent', 's')} "
        f"LEFT JOIN (SELECT {_j('agent')} AS agent, count(*) AS n FROM mcp_tool_calls GROUP BY 1) "
        f"AS m ON m.agent = {_j('agent', 's')} "
        f"LEFT JOIN (SELECT {_j('host')} AS host, count(*) AS n FROM cli_invocations GROUP BY 1) "
        f"AS c ON c.host = {_j('agent', 's')} "
        f"WHERE {_j('event', 's')} = 'up' ORDER BY usage_rows DESC, s.id LIMIT 20",
        ("sessions", "token_usage", "mcp_tool_calls", "cli_invocations"),
        4,
        "per session start: usage rows, tool calls and CLI calls of its agent (three joins)",
    ),
)

#: name -> query, in order of complexity.
ANALYTICS: dict[str, AnalyticsQuery] = {query.name: query for query in _QUERIES}


def snapshot_rows(
    source: Connection, tables: Sequence[str], sql: str, params: Sequence[Any] | Mapping[str, Any]
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """Copy only ``tables`` from ``source`` into a private SQLite copy and run ``sql`` there.

    The live file is read once per table, briefly; the analytics then run on the copy, as the
    original's authors planned to replace its heavier analytical engine.

    Memory stays bounded as the tables grow: rows move ``_COPY_ROWS`` at a time (never the
    whole table as Python objects), and the copy is SQLite's private temporary database (the
    empty file name) whose page cache is capped at :data:`SNAPSHOT_CACHE_KIB`: a small copy
    stays in memory, a bigger one spills to a temporary file deleted on close. A ``:memory:``
    copy held the whole tables in the heap (34 MB of SQLite memory and 25 MB of Python objects
    for one query on a 33 MB file), once per concurrent snapshot.
    """
    copy = sqlite3.connect("")
    try:
        copy.execute(f"PRAGMA cache_size = -{SNAPSHOT_CACHE_KIB}")
        for table in tables:
            if table not in JSON_TABLES:
                raise ValueError(f"snapshot: unknown table {table!r}")
            copy.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, row_json TEXT NOT NULL)")
            insert = f"INSERT INTO {table} (id, row_json) VALUES (?, ?)"
            cursor = source.execute(f"SELECT id, row_json FROM {table}")
            while rows := cursor.fetchmany(_COPY_ROWS):
                copy.executemany(insert, rows)
        cursor = copy.execute(sql, params)
        result = [tuple(row) for row in cursor.fetchall()]
        columns = tuple(col[0] for col in cursor.description or ())
    finally:
        copy.close()
    return columns, result
