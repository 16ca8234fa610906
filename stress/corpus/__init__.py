"""Failure bundles in replay/: a failing (or clean) run kept as a regression test."""
