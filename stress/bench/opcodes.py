"""``stress bench opcodes``: the Python bytecodes one single insert runs, by part.

CPU time per op on a shared machine moves by half with the load, and timing a part alone
(:mod:`stress.bench.parts`) flatters it: a tight loop of one part keeps its code in the caches,
which the real loop, alternating the parts with SQLite, does not. What the interpreter
executes does not move: a user (:class:`UserRunner` with its real store, ledger, digest file
and stats) runs ``ops`` single inserts under an opcode tracer, and each bytecode is charged
to a part by the module of the code running it (or of the nearest ``stress`` code below it
on the stack: a pydantic validator the store calls is the store's). The same tree gives the
same counts on any machine, so a regression shows as a number, not as a noisy ratio.

Measured with ``valgrind --tool=callgrind`` on the same loop, a bytecode of this harness
costs 55-65 machine instructions; the harness's own parts (digest, ledger, stats, loop) ran
about 46,000 instructions per op against 250,000 for drawing the row and storing it.
"""

from __future__ import annotations

import gc
import itertools
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO

from stress.clock import SystemClock
from stress.engine.users import Controls, UserRunner, UserSpec
from stress.metadb import MetaDb, StoreOptions
from stress.observe.stats import StatsRecorder
from stress.oracle.ledger import LedgerWriter
from stress.plan.profiles import Profile
from stress.plan.workload import PlanLimits, UserPlan

__all__ = ["OPCODE_PARTS", "OpcodesPlan", "count_opcodes", "format_opcodes"]

#: The parts, in the order they are printed; ``own`` is the harness's: all but plan and store.
OPCODE_PARTS = ("plan", "digest", "loop", "ledger", "stats", "store")
_OWN = ("digest", "loop", "ledger", "stats")
#: Functions of the plan's modules that are the digest, not the plan: the chain
#: (workload.py) and the op's canonical bytes (ops.py).
_DIGEST = frozenset({"update", "update_planned", "canonical", "hexdigest"})
_DIGEST_MODULES = ("/stress/plan/workload.py", "/stress/plan/ops.py")
#: Single inserts with no think time: the profile's values decide the rest.
_LIMITS = PlanLimits(1, 1, 0.0, 0.0, 1)
_WARM_UP_OPS = 50
#: How far the bench's clock moves per read.
_STEP_S = 1e-5


@dataclass(frozen=True)
class OpcodesPlan:
    """What one ``stress bench opcodes`` counts."""

    #: Single inserts run under the tracer (about 2 ms each while traced).
    ops: int = 1_000
    seed: int = 1


def _part_of(filename: str, name: str) -> str | None:
    """The part a code object of ``filename`` belongs to; None outside ``stress``."""
    path = filename.replace("\\", "/")
    if "/stress/" not in path:
        return None
    if "/stress/metadb/" in path:
        return "store"
    if "/stress/oracle/" in path:
        return "ledger"
    if "/stress/observe/" in path:
        return "stats"
    if path.endswith(_DIGEST_MODULES) and name in _DIGEST:
        return "digest"
    if "/stress/plan/" in path:
        return "plan"
    return "loop"


class _Tracer:
    """Counts the bytecodes each frame runs, charged to its part."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._parts: dict[int, str] = {}

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event != "call":
            return None
        code = frame.f_code
        part = _part_of(code.co_filename, code.co_name)
        if part is None:  # library code: charged to the stress code that called it
            caller = frame.f_back
            part = self._parts.get(id(caller), "loop") if caller is not None else "loop"
        self._parts[id(frame)] = part
        frame.f_trace_opcodes = True
        counts, parts = self.counts, self._parts

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "opcode":
                counts[part] += 1
            elif event == "return":
                parts.pop(id(frame), None)
            return local

        return local


class _StepClock(SystemClock):
    """A clock whose every read is 10 us after the last, read from C like the system's.

    A user's loop looks at the time to decide when to hand its latencies to the recorder;
    with real time that decision, and the bytecodes it costs, would vary from run to run.
    """

    def __init__(self) -> None:
        self.now = itertools.count(0.0, _STEP_S).__next__


def _runner(
    folder: Path, sink: BinaryIO, ops: int, seed: int, profile: Profile, options: StoreOptions
) -> UserRunner:
    """A user of ``ops`` single inserts with its real store, digest file, ledger and stats."""
    events = Controls(threading.Event(), threading.Event(), threading.Event())
    spec = UserSpec(0, profile.name, 0, 0, ops_limit=ops)
    store = MetaDb.open(folder / "meta.db", folder, options)
    ledger = LedgerWriter(folder / "user-0.bin")
    plan = UserPlan(seed, 0, profile, _LIMITS)
    return UserRunner(spec, plan, store, StatsRecorder(), events, sink, ledger, clock=_StepClock())


def count_opcodes(plan: OpcodesPlan, profile: Profile, options: StoreOptions) -> dict[str, Any]:
    """Bytecodes per op of each part of :data:`OPCODE_PARTS`, and the harness's own sum.

    ``profile`` must plan single inserts only (the overhead bench's ``bench`` profile). An
    untraced user runs first, so what a process does once (tables built on first use,
    imports) is not counted.
    """
    tracer = _Tracer()
    with tempfile.TemporaryDirectory(prefix="stress-opcodes-") as tmp:
        for name, ops, traced in (("warm", _WARM_UP_OPS, False), ("counted", plan.ops, True)):
            folder = Path(tmp) / name
            folder.mkdir()
            with (folder / "user-0.digests").open("wb") as sink:
                runner = _runner(folder, sink, ops, plan.seed, profile, options)
                if traced:
                    # Garbage left by earlier work would run its finalizers' bytecodes
                    # inside whatever part the collector interrupts: collected first, and
                    # no collection while counting (the count is of this loop alone).
                    gc.collect()
                    gc.disable()
                    sys.settrace(tracer)
                try:
                    result = runner.run()
                finally:
                    sys.settrace(None)
                    gc.enable()
            if result.harness_error is not None:
                raise RuntimeError(f"the {name} user failed: {result.harness_error}")
    per_op = {part: round(tracer.counts[part] / plan.ops, 1) for part in OPCODE_PARTS}
    return {
        "ops": plan.ops,
        "python": sys.version.split()[0],
        "bytecodes_per_op": per_op,
        "own_bytecodes_per_op": round(sum(per_op[part] for part in _OWN), 1),
    }


def format_opcodes(document: dict[str, Any]) -> str:
    """The counts of :func:`count_opcodes` as two lines."""
    per_op = document["bytecodes_per_op"]
    parts = "  ".join(f"{part} {per_op[part]:,.1f}" for part in OPCODE_PARTS)
    return (
        f"bytecodes/op     {parts}\n"
        f"own              {document['own_bytecodes_per_op']:,.1f} (digest + loop + ledger + "
        f"stats) over {document['ops']:,} single inserts, Python {document['python']}\n"
    )
