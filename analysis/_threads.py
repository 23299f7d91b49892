"""One BLAS/OpenMP thread per process: the package's single thread-control helper.

The analyses work on many small (ROI x ROI) matrices and parallelise over people, folds or
replicates with joblib or dask; threaded BLAS on a busy 2-core machine oversubscribes and was
measured 10x slower for the tangent embedding and over 100x for gradient boosting.
"""

from __future__ import annotations

import sys

from threadpoolctl import ThreadpoolController

__all__ = ["single_threaded_blas"]

_CACHE: dict[int, ThreadpoolController] = {}


def _controller() -> ThreadpoolController:
    """The loaded BLAS/OpenMP libraries, scanned again only after new modules were imported.

    A scan costs milliseconds, and the simulator enters this context once per scan.
    """
    key = len(sys.modules)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = ThreadpoolController()
    return _CACHE[key]


def single_threaded_blas():
    """Context manager limiting BLAS/LAPACK and OpenMP to one thread."""
    return _controller().limit(limits=1)
