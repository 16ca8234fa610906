"""Shrinking a failing run to a minimal one with the same failure signature."""
