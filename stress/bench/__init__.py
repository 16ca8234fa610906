"""Benchmarks that measure the store and the simulator, one module per benchmark.

- :mod:`stress.bench.writers`: concurrent single-row writers, processes or threads, for every
  combination of engine, connection mode and id strategy (``stress bench writers``);
- :mod:`stress.bench.load`, :mod:`stress.bench.reads`, :mod:`stress.bench.openwrite`: the
  original's load profile, reads under write load, and cold vs warm writes (``stress bench
  load|reads|open``), on :mod:`stress.bench.fanout` (workers as threads or processes) and
  :mod:`stress.bench.figures` (strategies, the original's percentile, tables);
- :mod:`stress.bench.overhead`: the simulator's cost over a plain store loop, and its peak
  memory (``stress bench overhead``);
- :mod:`stress.bench.monitor`: the resource monitor's own cost (``stress bench monitor``);
- :mod:`stress.bench.store`: the store's write paths against a raw ``sqlite3`` loop on the
  same rows (``stress bench store``).

Each takes a plan or plain values and returns figures; the commands and their flags are
:mod:`stress.cli`'s. Nothing is imported here, so importing one bench never loads the
others (overhead and monitor pull in the whole engine).
"""

__all__: list[str] = []
