"""stress: a Monte Carlo stress simulator for meta.db."""

__version__ = "0.1.0"
