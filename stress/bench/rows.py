"""``stress bench rows``: rows drawn one at a time against rows drawn a column at a time.

Both ways draw the same rows from the same stream (a test holds them equal); this measures
what drawing a batch in bulk (:meth:`RowFactory.make_many`, as bulk inserts and seeded
databases do) gains over one row at a time (:meth:`RowFactory.make`, as single inserts do and
as every row was drawn before). Rounds alternate the two (one by one, bulk, one by one, ...)
so a change of load on a shared machine hits both; each is timed in CPU seconds of this
thread, and the median rows/s and the median and spread of the speed-up are reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stress.plan.draws import Draws, user_seed_sequence
from stress.plan.payloads import row_factory

__all__ = ["TABLES", "RowsPlan", "format_rows", "measure_rows"]

#: The tables of the built-in profiles' bulk inserts, from the cheapest row to the dearest.
TABLES = ("ticks", "cli_invocations", "communication_events", "token_usage")
#: Rows drawn at once by the bulk way: what a bulk insert draws between two stop checks.
_CHUNK = 1000


@dataclass(frozen=True)
class RowsPlan:
    """What one ``stress bench rows`` measures."""

    #: Rows drawn per table, per way, per round.
    rows: int = 20_000
    rounds: int = 5
    tables: tuple[str, ...] = TABLES
    seed: int = 1


def _one_by_one(table: str, draws: Draws, count: int) -> None:
    make = row_factory(table).make
    for _ in range(count):
        make(draws)


def _in_bulk(table: str, draws: Draws, count: int) -> None:
    make_many = row_factory(table).make_many
    for start in range(0, count, _CHUNK):
        make_many(draws, min(_CHUNK, count - start))


def _rows_per_s(way: Callable[[str, Draws, int], None], table: str, plan: RowsPlan) -> float:
    draws = Draws(user_seed_sequence(plan.seed, 0))
    started = time.thread_time()
    way(table, draws, plan.rows)
    return plan.rows / max(time.thread_time() - started, 1e-9)


def measure_rows(plan: RowsPlan) -> dict[str, Any]:
    """Per table: the median rows/s each way and the speed-up's median and spread."""
    for table in plan.tables:  # warm-up: caches, tables of texts and bounds built once
        _in_bulk(table, Draws(user_seed_sequence(plan.seed, 0)), _CHUNK)
    figures: dict[str, Any] = {}
    for table in plan.tables:
        single, bulk = [], []
        for _ in range(plan.rounds):
            single.append(_rows_per_s(_one_by_one, table, plan))
            bulk.append(_rows_per_s(_in_bulk, table, plan))
        speedups = [b / s for s, b in zip(single, bulk, strict=True)]
        figures[table] = {
            "one_by_one_rows_per_s": round(statistics.median(single)),
            "bulk_rows_per_s": round(statistics.median(bulk)),
            "speedup": round(statistics.median(speedups), 2),
            "speedup_spread": [round(min(speedups), 2), round(max(speedups), 2)],
        }
    return {"rows": plan.rows, "rounds": plan.rounds, "tables": figures}


def format_rows(document: dict[str, Any]) -> str:
    """The figures of :func:`measure_rows` as a table, with the target."""
    lines = [
        f"{'table':<22} {'one by one':>12} {'bulk':>12}  speed-up (target >= 3)",
    ]
    for table, row in document["tables"].items():
        low, high = row["speedup_spread"]
        lines.append(
            f"{table:<22} {row['one_by_one_rows_per_s']:>12,} {row['bulk_rows_per_s']:>12,}  "
            f"{row['speedup']:.2f}x (rounds {low:.2f}-{high:.2f} of {document['rounds']})"
        )
    return "\n".join(lines) + "\nrows/s of CPU time of one thread, medians over the rounds\n"
