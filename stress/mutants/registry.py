"""Every store mutant by name: one line each.

A mutant named ``drop-write`` lives in the module ``stress.mutants.drop_write``, whose
``MUTANT`` is its store class (a :class:`~stress.mutants.base.MutantStore`) and ``CAUGHT_BY``
the oracle check that must catch it; the line below says what argument it takes. Adding a mutant is
one module and one line here. Modules are imported only when their mutant is used, so reading
the names (the settings model validates ``STRESS_MUTANT`` with them) loads no store.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MUTANT_ARGS", "MutantArg", "module_of", "selftest_mutants"]


@dataclass(frozen=True)
class MutantArg:
    """What the ``:N`` after a mutant's name means; ``meaning`` None = it takes none."""

    meaning: str | None
    #: The value when the name comes alone; None = the argument is required.
    default: int | None = None
    minimum: int = 1
    #: Caught by a short run's oracle, so `stress selftest` runs it; a slow defect (a leak) is
    #: caught only by a long run's slopes (`stress soak`) and is left out of the selftest.
    selftest: bool = True


#: Name -> its argument. Order is the order `stress selftest` runs them in.
#: (``stress selftest`` runs those with ``selftest``; see :func:`selftest_mutants`.)
MUTANT_ARGS: dict[str, MutantArg] = {
    "drop-write": MutantArg("acknowledge 1 in N writes without writing them", 100),
    "ack-before-commit": MutantArg("roll back 1 in N acknowledged batches", 20),
    "reuse-id": MutantArg("hand out an id twice in 1 of N single writes", 50),
    "torn-spool": MutantArg("spool 1 in N single writes as half a line", 50),
    "phantom-row": MutantArg("write a row no one asked for after 1 in N single writes", 50),
    "corrupt-row": MutantArg("change one field of 1 in N acknowledged single rows", 50),
    "hold-memory": MutantArg(
        "hold N KB of memory per op, never freed (a leak)", 64, selftest=False
    ),
}


def module_of(name: str) -> str:
    """The module holding mutant ``name`` (``drop-write`` -> ``stress.mutants.drop_write``)."""
    return f"stress.mutants.{name.replace('-', '_')}"


def selftest_mutants() -> list[str]:
    """The mutants a short run's oracle must catch, in the selftest's order."""
    return [name for name, arg in MUTANT_ARGS.items() if arg.selftest]
