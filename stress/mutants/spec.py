"""The text of ``STRESS_MUTANT``: ``name`` or ``name:N``, parsed and checked once."""

from __future__ import annotations

from dataclasses import dataclass

from stress.mutants.registry import MUTANT_ARGS

__all__ = ["MutantSpec", "mutant_grammar", "parse_mutant"]


def mutant_grammar() -> str:
    """What a valid value looks like, with every known mutant (the fix of a bad value)."""
    names = ", ".join(
        f"{name}[:N]" if arg.default is not None else (f"{name}:N" if arg.meaning else name)
        for name, arg in MUTANT_ARGS.items()
    )
    return f"must be a store mutant, `name` or `name:N` with N a whole number >= 1; known: {names}"


@dataclass(frozen=True)
class MutantSpec:
    """One mutant and its argument (the default filled in)."""

    name: str
    arg: int | None

    @property
    def text(self) -> str:
        """As ``STRESS_MUTANT`` spells it, the argument always written out."""
        return self.name if self.arg is None else f"{self.name}:{self.arg}"


def parse_mutant(text: str) -> MutantSpec:
    """``drop-write:500`` -> ``MutantSpec("drop-write", 500)``; ValueError says what is wrong."""
    name, colon, arg_text = text.strip().partition(":")
    if name not in MUTANT_ARGS:
        raise ValueError(f"no mutant named {name!r}")
    rule = MUTANT_ARGS[name]
    if not colon:
        if rule.meaning is not None and rule.default is None:
            raise ValueError(f"{name} needs its argument ({name}:N, N: {rule.meaning})")
        return MutantSpec(name, rule.default)
    if rule.meaning is None:
        raise ValueError(f"{name} takes no argument")
    if not arg_text.strip().isdigit() or int(arg_text) < rule.minimum:
        raise ValueError(f"{name}: N must be a whole number >= {rule.minimum} ({rule.meaning})")
    return MutantSpec(name, int(arg_text))
