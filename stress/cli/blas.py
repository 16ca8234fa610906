"""One BLAS thread for every process of a run: the harness does no linear algebra.

numpy's OpenBLAS starts a pool of threads as numpy loads, one per core. The harness never
needs them (its numpy work is element-wise), and a pool that does run spins on the cores the
store under test needs: a single int64 x float64 ``np.dot`` took 6-10 ms on its pool and
0.1 ms on one thread. The limits are read when the library loads, so they are set before
anything imports numpy; the worker processes (forkserver) inherit them. A value the user set
is kept.
"""

from __future__ import annotations

import os

__all__ = ["BLAS_THREAD_VARIABLES", "one_blas_thread"]

#: The variables OpenBLAS, OpenMP and MKL read for their pool size.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> None:
    """Ask for one BLAS thread, unless the environment already says how many."""
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
