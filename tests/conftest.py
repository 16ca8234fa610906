"""Every test's base: a clean environment; shared helpers sit beside (tests/README.md)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_stress_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A STRESS_* variable of the caller's shell must not leak into a test."""
    for name in list(os.environ):
        if name.startswith("STRESS_"):
            monkeypatch.delenv(name)
