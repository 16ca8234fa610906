"""Store mutants: the real store with one deliberate defect, so failures can be made on purpose.

``STRESS_MUTANT=drop-write:500`` (or ``--mutant``) runs every user's store through a mutant:
a small subclass of :class:`~stress.metadb.MetaDb` (``stress/mutants/<name>.py``) that
breaks one promise of the store now and then, drawing when from the user's own stream. The
oracle must catch each; ``stress selftest`` proves it does. Never on by default.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from stress.mutants.registry import MUTANT_ARGS, MutantArg, module_of, selftest_mutants
from stress.mutants.spec import MutantSpec, mutant_grammar, parse_mutant

if TYPE_CHECKING:
    import numpy as np

    from stress.metadb import MetaDb
    from stress.mutants.base import MutantStore

__all__ = [
    "MUTANT_ARGS",
    "MutantArg",
    "MutantSpec",
    "apply_mutant",
    "caught_by",
    "mutant_class",
    "mutant_grammar",
    "parse_mutant",
    "selftest_mutants",
]


def mutant_class(name: str) -> type[MutantStore]:
    """The store class of mutant ``name`` (its module's ``MUTANT``)."""
    mutant: type[MutantStore] = importlib.import_module(module_of(name)).MUTANT
    return mutant


def caught_by(name: str) -> str:
    """The oracle check that must catch mutant ``name`` (its module's ``CAUGHT_BY``)."""
    check: str = importlib.import_module(module_of(name)).CAUGHT_BY
    return check


def apply_mutant(store: MetaDb, spec: MutantSpec | None, seed: np.random.SeedSequence) -> MetaDb:
    """``store`` itself without a mutant, else the mutant over the same file and options."""
    if spec is None:
        return store
    return mutant_class(spec.name)(store, spec, seed)
