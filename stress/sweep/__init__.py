"""``stress sweep``: many seeds, each a ``stress run`` subprocess, on Dask.

One module per concept: :mod:`~stress.sweep.seeds` (which seeds), :mod:`~stress.sweep.swarm`
(a configuration drawn per seed), :mod:`~stress.sweep.plan` (each run's variables and
folder), :mod:`~stress.sweep.runner` (one run in its own process group, with a timeout),
:mod:`~stress.sweep.outcome` (what a run's folder says, and failure signatures),
:mod:`~stress.sweep.results` (``sweep.ndjson``, ``sweep.json``, the failure table, resume),
:mod:`~stress.sweep.progress` (the live line), :mod:`~stress.sweep.shrink` (the ``--shrink``
hook) and :mod:`~stress.sweep.driver` (Dask). Dask is imported only by the driver, inside its
functions: it is the optional extra ``stress[sweep]``.
"""
