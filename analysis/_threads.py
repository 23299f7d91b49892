"""Threads and workers: one BLAS thread per process, and the one parallel map of the package.

The analyses work on many small (ROI x ROI) matrices and parallelise over people, folds or
replicates with joblib or dask; threaded BLAS on a busy 2-core machine oversubscribes and was
measured 10x slower for the tangent embedding and over 100x for gradient boosting.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import ThreadpoolController

__all__ = ["N_JOBS_ENV", "n_jobs", "parallel_imap", "parallel_map", "row_blocks", "single_threaded_blas"]

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


#: Environment variable capping the workers (processes or threads) the analyses use.
N_JOBS_ENV = "BRAINCLOCK_N_JOBS"


def n_jobs() -> int:
    """Workers to use: ``BRAINCLOCK_N_JOBS`` if set, else the usable CPUs (at most 2).

    Inside a worker started by :func:`parallel_map` it is 1, so work never nests (no
    oversubscription); every worker runs BLAS with one thread.
    """
    value = os.environ.get(N_JOBS_ENV, "").strip()
    if value:
        return max(1, int(value))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(2, cpus))


def _run_in_worker(function: Callable, item):
    os.environ[N_JOBS_ENV] = "1"  # a worker never starts workers of its own
    with single_threaded_blas():
        return function(item)


def parallel_map(function: Callable, items: Iterable, *, threads: bool = False) -> list:
    """``[function(item) for item in items]`` on the available cores, results in order.

    The one place the package parallelises. ``threads=True`` uses a thread pool (for NumPy
    work that releases the GIL, e.g. batched eigendecompositions); otherwise joblib's loky
    processes (for scikit-learn fits). BLAS is limited to one thread in every worker, and a
    worker's own calls run serially, so the cores are never oversubscribed. Each item's result
    depends only on the item: the output is identical to the serial loop.
    """
    items = list(items)
    workers = min(n_jobs(), len(items))
    if workers <= 1:
        return [function(item) for item in items]
    if threads:
        with single_threaded_blas(), ThreadPoolExecutor(workers) as pool:
            return list(pool.map(function, items))
    parallel = Parallel(n_jobs=workers, backend="loky", inner_max_num_threads=1)
    return parallel(delayed(_run_in_worker)(function, item) for item in items)


def parallel_imap(function: Callable, items: Iterable) -> Iterator:
    """``function(item)`` for each item on threads (the available cores), yielded in order as done.

    For work whose results are consumed one by one (written to a file): results wait only while
    an earlier item is unfinished. BLAS single-threaded in every thread.
    """
    items = list(items)
    workers = min(n_jobs(), len(items))
    if workers <= 1:
        yield from (function(item) for item in items)
        return
    with single_threaded_blas(), ThreadPoolExecutor(workers) as pool:
        yield from pool.map(function, items)


#: Rows per block of :func:`row_blocks`: fixed, so a result never depends on the number of cores.
BLOCK_ROWS = 256


def row_blocks(function: Callable, n_rows: int, *, block_rows: int = BLOCK_ROWS):
    """``function(slice(0, n_rows))`` computed as row blocks on the available cores, stacked.

    For array work whose rows are independent (a matrix product's rows, an element-wise map).
    The blocks have ``block_rows`` rows whatever the number of workers (the last one fewer) and
    are shared out over worker threads, BLAS single-threaded in each (also with one worker), so
    the result is the same bits on any number of cores. That is why the blocks are fixed: a
    matrix product's last bits depend on the row partition (measured 2026-12-01 on 2,433 x 12,720:
    one piece ``X @ X.T`` runs BLAS ``syrk``, and ``gemm`` blocks starting at rows that are not
    a multiple of the kernel's unrolling differ at ~1e-13), and a partition into one block per
    worker made a clock's last digits depend on the core count. ``n_rows <= block_rows``: one
    call on the whole range.
    """
    if block_rows < 1:
        raise ValueError(f"block_rows must be a positive number of rows; got {block_rows}")
    blocks = [slice(start, min(start + block_rows, n_rows)) for start in range(0, n_rows, block_rows)] or [slice(0, 0)]
    with single_threaded_blas():  # also when parallel_map runs the blocks serially (one worker)
        parts = parallel_map(function, blocks, threads=True)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
