"""Single inserts planned ahead, a run at a time, their rows drawn a column at a time.

A profile made mostly of single inserts (one row per op: the original store's own write
shape) spends most of its planning drawing rows one by one, at three to five times the cost
of drawing them in bulk (``stress bench rows``). Here the ops ahead are read off the stream
without consuming it: each op's kind, table, row and think time take a count of uniforms
known from the values themselves, so a walk finds where every op of a run of single inserts
begins and ends, then each table's rows are drawn in bulk from the same uniforms. The op
that ends the run (any other kind) is left to the plan's own one-by-one drawing.

The ops are the ones :meth:`UserPlan.next_op` draws one at a time, value for value: the same
uniforms go through the same arithmetic (bisect on the same cumulative tables, the columns'
bulk paths that ``make_many`` uses, :func:`stress.plan.draws.between` for think times).
Nothing is consumed here: the plan skips each op's uniforms as it hands the op out, so the
stream's position is always that of the ops handed out.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from stress.plan.draws import Draws, between
from stress.plan.ops import PlannedOp
from stress.plan.payloads import row_factory
from stress.plan.profiles import OP_ORDER, OpKind

__all__ = ["SingleInsertRuns"]

#: A profile whose single inserts are at least this share of its ops is planned ahead: runs
#: of single inserts then average ten ops or more, enough to pay for a bulk draw's fixed cost.
MIN_SHARE = 0.9
#: Ops planned at most per walk: a few milliseconds of drawing, and a few hundred rows held.
CHUNK = 512

_SINGLE = OpKind.SINGLE_INSERT


class SingleInsertRuns:
    """Plans the run of single inserts at a stream's position, when the profile is mostly them.

    ``op_sums`` and ``table_sums`` are the profile's cumulative op and single-insert table
    weights, ``think_ms`` its think range (no draw when its top is 0).
    """

    def __init__(
        self,
        op_sums: tuple[float, ...],
        tables: tuple[str, ...],
        table_sums: tuple[float, ...],
        think_ms: tuple[float, float],
    ) -> None:
        self._op_sums = op_sums
        self._tables = tables
        self._table_sums = table_sums
        self._think_ms = think_ms
        self._factories = {table: row_factory(table) for table in tables}
        # Single insert is drawn for u in [low, high): the bisect of the kind, as a range.
        at = OP_ORDER.index(_SINGLE)
        self._single = (op_sums[at - 1] if at else 0.0, op_sums[at])
        think = 1 if think_ms[1] > 0 else 0
        #: The most uniforms one op can take: kind, table, the widest row, think time.
        self._most = 2 + max(f.layout.width for f in self._factories.values()) + think

    @classmethod
    def worth_it(cls, single_share: float, tables: tuple[str, ...]) -> bool:
        """Whether a profile with this share of single inserts gains from planning ahead."""
        return bool(tables) and single_share >= MIN_SHARE

    def walk(self, draws: Draws, index: int, chunk: int = CHUNK) -> list[tuple[PlannedOp, int]]:
        """The single inserts from ``draws``' position on, numbered from ``index``, up to the
        first op of another kind or ``chunk`` ops; each with the uniforms it takes. Nothing
        is consumed."""
        low, high = self._single
        _, values, base = draws.upcoming_listed(1)
        if not low <= values[base] < high:
            return []  # the commonest short run: not worth a window
        window, values, base = draws.upcoming_listed(chunk * self._most)
        # Per table: its rows' starts (window offsets), their branches' starts and ends (list
        # positions), and the row's width when it has no branches (its end is then known).
        found: dict[str, tuple[list[int], list[int], list[int], int | None]] = {
            table: ([], [], [], None if factory.layout.branches else factory.layout.width)
            for table, factory in self._factories.items()
        }
        planned: list[tuple[str, int, float, int]] = []  # table, row slot, think_s, takes
        position, tables, table_sums = 0, self._tables, self._table_sums
        low_ms, high_ms = self._think_ms
        for _ in range(chunk):
            at = base + position
            if not low <= values[at] < high:
                break
            table = tables[bisect_right(table_sums, values[at + 1])]
            starts, branch_starts, branch_ends, width = found[table]
            starts.append(position + 2)
            if width is not None:
                end = position + 2 + width
            else:
                layout = self._factories[table].layout
                end = layout.walk_row(values, at + 2, branch_starts, branch_ends) - base
            think_s = 0.0
            if high_ms > 0:
                think_s = between(values[base + end], low_ms, high_ms) / 1000
                end += 1
            planned.append((table, len(starts) - 1, think_s, end - position))
            position = end
        rows = {
            table: self._rows(window, table, base, starts, branch_starts, branch_ends)
            for table, (starts, branch_starts, branch_ends, _) in found.items()
            if starts
        }
        ops: list[tuple[PlannedOp, int]] = []
        draws_at = draws.consumed
        for table, slot, think_s, takes in planned:
            op = PlannedOp(index, _SINGLE, table, think_s, (rows[table][slot],), draws_at=draws_at)
            ops.append((op, takes))
            index += 1
            draws_at += takes
        return ops

    def _rows(
        self,
        window: Any,
        table: str,
        base: int,
        starts: list[int],
        branch_starts: list[int],
        branch_ends: list[int],
    ) -> list[dict[str, Any]]:
        factory = self._factories[table]
        # walk_row saw list positions (base + offset); the window's offsets are what rows_at reads.
        branch_starts = [start - base for start in branch_starts]
        branch_ends = [end - base for end in branch_ends]
        field_starts = factory.layout.field_starts(starts, branch_starts, branch_ends)
        return factory.rows_at(window, field_starts)
