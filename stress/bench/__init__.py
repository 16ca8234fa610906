"""Benchmarks that measure the store and the simulator, one module per benchmark.

- :mod:`stress.bench.writers`: concurrent single-row writers, one process each, for every
  combination of engine, connection mode and id strategy (``stress bench writers``);
- :mod:`stress.bench.overhead`: the simulator's cost over a plain store loop, and its peak
  memory (``stress bench overhead``);
- :mod:`stress.bench.monitor`: the resource monitor's own cost (``stress bench monitor``);
- :mod:`stress.bench.store`: the store's write paths against a raw ``sqlite3`` loop on the
  same rows (``stress bench store``).

Each takes a plan or plain values and returns figures; the commands and their flags are
:mod:`stress.cli.bench`'s. Nothing is imported here, so importing one bench never loads the
others (overhead and monitor pull in the whole engine).
"""

__all__: list[str] = []
