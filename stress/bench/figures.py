"""What the benches share besides the mode runner: strategies, percentiles, tables, homes.

- :class:`Strategy` and :class:`StoreChoices`: the engine, connection and id strategy of a
  table row, every combination of the comma lists asked for, and the store options of each
  (turso's multi-process WAL included);
- :func:`percentile_ms`: the original's percentile (sorted, rank ``round((n - 1) * q)``);
- :func:`markdown_table` and :func:`run_statement`: the printed shape and its one-line note of
  how the bench was run;
- :func:`bench_home`, :func:`count_rows`, :func:`count_spool_rows`: a fresh folder per row, and
  what landed where afterwards.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from stress.bench.fanout import Mode
from stress.metadb import (
    ConnectionMode,
    EngineName,
    IdStrategy,
    MetaDb,
    MetaDbError,
    StoreOptions,
    engine_version,
    iter_spool_lines,
    spool_files,
)

__all__ = [
    "StoreChoices",
    "StoreFactory",
    "Strategy",
    "bench_home",
    "count_rows",
    "count_spool_rows",
    "markdown_table",
    "percentile_ms",
    "run_statement",
]

#: Builds a store handle; :class:`MetaDb` itself, or a wrapper of it (a test double).
StoreFactory = Callable[[Path, Path, StoreOptions], MetaDb]


@dataclass(frozen=True)
class Strategy:
    """One row's store strategy."""

    engine: EngineName
    connection: ConnectionMode
    ids: IdStrategy

    def label(self) -> str:
        return f"{self.engine} {self.connection} {self.ids}"


@dataclass(frozen=True)
class StoreChoices:
    """The comma lists of ``--engine``, ``--connection``, ``--ids``, and how workers run."""

    engines: tuple[EngineName, ...] = ("sqlite",)
    connections: tuple[ConnectionMode, ...] = ("per-op",)
    ids: tuple[IdStrategy, ...] = ("row",)
    mode: Mode = "threads"
    #: turso only: every connection uses pyturso's experimental multi-process WAL.
    multiprocess_wal: bool = False
    #: Builds every handle the bench's workers use (module-level, so processes can take it).
    store: StoreFactory = MetaDb
    #: Where each row's database folder is made and kept; ``None``: a temp folder, removed.
    directory: Path | None = None

    def strategies(self) -> list[Strategy]:
        return [
            Strategy(engine, connection, ids)
            for engine in self.engines
            for connection in self.connections
            for ids in self.ids
        ]

    def options(self, strategy: Strategy) -> StoreOptions:
        return StoreOptions(
            engine=strategy.engine,
            connection=strategy.connection,
            ids=strategy.ids,
            multiprocess_wal=self.multiprocess_wal and strategy.engine == "turso",
        )

    def preload(self) -> tuple[str, ...]:
        """Modules worker processes load before the start: turso's native library, if used."""
        return ("turso",) if "turso" in self.engines else ()

    def plain(self, strategy: Strategy) -> StoreOptions:
        """The options of the bench's own bookkeeping connections (schema, counts)."""
        return StoreOptions(
            engine=strategy.engine, multiprocess_wal=self.options(strategy).multiprocess_wal
        )


def percentile_ms(values_ms: Sequence[float], q: float) -> float:
    """The original's percentile: the value at rank ``round((n - 1) * q)``; 0 when empty."""
    if not values_ms:
        return 0.0
    ordered = sorted(values_ms)
    # Rust's f64::round rounds half away from zero; Python's round() would round half to even.
    rank = math.floor((len(ordered) - 1) * q + 0.5)
    return round(ordered[rank], 3)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def run_statement(bench: str, choices: StoreChoices, sizes: str) -> str:
    """One line: what ran, on which engine versions, in which mode, at which sizes."""
    engines = ", ".join(f"{engine} {engine_version(engine)}" for engine in choices.engines)
    wal = ""
    if "turso" in choices.engines:
        wal = "; turso multi-process WAL " + ("on" if choices.multiprocess_wal else "off")
    return f"stress bench {bench}: {engines}; workers as {choices.mode}{wal}; {sizes}"


@contextlib.contextmanager
def bench_home(choices: StoreChoices, prefix: str) -> Iterator[Path]:
    """An empty folder for one row's database and spool; removed after unless kept."""
    if choices.directory is not None:
        choices.directory.mkdir(parents=True, exist_ok=True)
        yield Path(tempfile.mkdtemp(prefix=prefix, dir=choices.directory))
        return
    with tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True) as folder:
        yield Path(folder)


def count_rows(path: Path, home: Path, options: StoreOptions, tables: Iterable[str]) -> int | None:
    """Rows in ``tables`` together; ``None`` when the file cannot be read."""
    try:
        with MetaDb(path, home, options) as db:
            return sum(int(db.query(f"SELECT count(*) FROM {t}").rows[0][0]) for t in tables)
    except MetaDbError:
        return None


def count_spool_rows(home: Path, tables: Iterable[str] | None = None) -> int:
    """Whole spool lines (of ``tables``, or all) under ``home``; torn lines are not rows."""
    wanted = set(tables) if tables is not None else None
    total = 0
    for path in spool_files(home):
        for line in iter_spool_lines(path):
            if line.record is not None and (wanted is None or line.record.get("table") in wanted):
                total += 1
    return total
