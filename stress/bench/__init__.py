"""Benchmarks that measure the store itself, one module per benchmark.

- :mod:`stress.bench.writers`: concurrent single-row writers, one process each, for every
  combination of engine, connection mode and id strategy (``stress bench writers``).

Nothing is imported here on purpose: ``python -m stress.bench.writers`` runs a module of this
package, and a package that imported it first would make ``runpy`` warn that the module was
already in ``sys.modules`` (and pytest turns warnings into errors). Import the module instead:
``from stress.bench.writers import add_writers_arguments, run_writers_command``.
"""

__all__: list[str] = []
