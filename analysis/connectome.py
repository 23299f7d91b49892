"""Connectivity features from parcellated time series, and network segregation.

Three kinds of connectivity, as in nilearn's :class:`~nilearn.connectome.ConnectivityMeasure`
with a Ledoit-Wolf shrinkage covariance :cite:p:`ledoit2004,abraham2014`:

* ``"tangent"`` (default) -- each scan's covariance is whitened by a group reference mean and
  mapped to the tangent space with the matrix logarithm :cite:p:`varoquaux2010,dadi2019`;
* ``"correlation"`` -- Pearson correlation (shrinkage covariance of the z-scored series);
* ``"partial correlation"`` -- from the inverse of the shrinkage covariance.

Features are the lower triangle without the diagonal, in the row-major order of
:func:`numpy.tril_indices` (the order of nilearn's ``sym_matrix_to_vec(..., discard_diagonal=True)``).

The tangent path is batched: per-scan covariances are computed as the time series arrive
(:func:`shrunk_covariances`, so the time series need not all be held in memory), and the
whitening and matrix logarithm use one batched :func:`numpy.linalg.eigh` per chunk of scans.
nilearn loops over subjects in Python and, for the reference, iterates a geometric mean over
all matrices; for 2,433 scans x 160 ROIs that took minutes, the batched path seconds.

The reference mean is fitted on training data only: :class:`ConnectivityFeatures` is a
scikit-learn transformer, so inside a cross-validation fold ``fit`` sees only training scans.
Two reference means are offered: ``"log-euclidean"`` (default; ``expm(mean(logm(C)))``, closed
form) and ``"geometric"`` (the Riemannian / Karcher mean that nilearn uses; fixed-point
iterations, batched). They differ slightly; tests compare each kind with nilearn, the tangent
kind with ``reference="geometric"``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import SpectralClustering
from sklearn.covariance import ledoit_wolf
from sklearn.utils.validation import check_is_fitted

from analysis._paths import TRIAL_DATA_MODULES, atomic_write, cache_dir, cache_lock, code_digest
from analysis._series import SeriesSource
from analysis._threads import n_jobs, parallel_imap, parallel_map, single_threaded_blas

__all__ = [
    "KINDS",
    "REFERENCES",
    "CovarianceStack",
    "ConnectivityFeatures",
    "NamedSeries",
    "SeriesSource",
    "shrunk_covariances",
    "connectivity_features",
    "vectorize",
    "unvectorize",
    "log_euclidean_mean",
    "geometric_mean",
    "system_segregation",
    "find_communities",
]

#: Connectivity kinds understood by :class:`ConnectivityFeatures`.
KINDS = ("tangent", "correlation", "partial correlation")
#: Reference means for the tangent kind.
REFERENCES = ("log-euclidean", "geometric")
#: Scans per partial sum of a reference mean (its rounding depends on this: keep it fixed).
CHUNK = 256
#: Scans per batched eigendecomposition elsewhere (each thread's temporaries: ~5 arrays of this many matrices).
MAP_CHUNK = 64
#: Scans read and estimated per task when a :class:`SeriesSource` is read on threads.
SOURCE_BLOCK = 32


# --------------------------------------------------------------------------------------
# Covariances
# --------------------------------------------------------------------------------------
class CovarianceStack:
    """Precomputed per-scan shrinkage covariances, usable wherever time series are.

    Computing covariances is the only step that needs the raw time series; keeping them lets a
    notebook or :func:`analysis.clock.trial_brain_age` fit and apply clocks repeatedly without
    recomputing. Indexing with integers, slices or index arrays returns a new stack, so
    cross-validation code can split it like an array.

    Parameters
    ----------
    covariances : ndarray of shape (n_scans, n_rois, n_rois)
        Ledoit-Wolf covariance of each scan.
    standardized : bool, default=False
        Whether the series were z-scored before estimating the covariance (what nilearn does
        for the correlation kind).
    """

    def __init__(self, covariances: np.ndarray, standardized: bool = False, logs: np.ndarray | None = None) -> None:
        covariances = np.asarray(covariances, dtype=float)
        if covariances.ndim != 3 or covariances.shape[1] != covariances.shape[2]:
            raise ValueError(
                "covariances must have shape (n_scans, n_rois, n_rois); "
                f"got shape {covariances.shape}"
            )
        if logs is not None and np.shape(logs) != covariances.shape:
            raise ValueError(f"logs must have the covariances' shape {covariances.shape}; got {np.shape(logs)}")
        self.covariances = covariances
        self.standardized = bool(standardized)
        self.logs = logs

    def with_logs(self) -> CovarianceStack:
        """The same stack carrying each covariance's matrix logarithm.

        A log-Euclidean tangent reference is the mean of these logarithms; a stack that carries
        them lets every cross-validation fold fit its reference without recomputing them (the
        same numbers, in the same order, as computing them per fold).
        """
        if self.logs is not None:
            return self
        logs = np.empty_like(self.covariances)

        def fill(part: slice) -> None:
            logs[part] = _map_eigenvalues(np.log, self.covariances[part])

        with single_threaded_blas():
            _map_chunks(fill, len(self))
        return CovarianceStack(self.covariances, self.standardized, logs)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the covariance array."""
        return self.covariances.shape

    @property
    def n_rois(self) -> int:
        """Number of ROIs."""
        return self.covariances.shape[1]

    def __len__(self) -> int:
        return self.covariances.shape[0]

    def __getitem__(self, index) -> CovarianceStack:
        picked = self.covariances[index]
        logs = None if self.logs is None else self.logs[index]
        if picked.ndim == 2:
            picked = picked[None]
            logs = None if logs is None else logs[None]
        return CovarianceStack(picked, self.standardized, logs)

    def __repr__(self) -> str:
        return f"CovarianceStack(n_scans={len(self)}, n_rois={self.n_rois}, standardized={self.standardized})"


def _check_series(series: np.ndarray, index: int, n_rois: int | None) -> np.ndarray:
    series = np.asarray(series, dtype=float)
    if series.ndim != 2:
        raise ValueError(f"time series {index} must be 2-D (time x ROI); got shape {series.shape}")
    if n_rois is not None and series.shape[1] != n_rois:
        raise ValueError(
            f"time series {index} has {series.shape[1]} ROIs but earlier ones have {n_rois}: "
            "all scans must use the same atlas"
        )
    if series.shape[0] < 3:
        raise ValueError(f"time series {index} has {series.shape[0]} time points; need at least 3")
    if not np.all(np.isfinite(series)):
        raise ValueError(f"time series {index} contains NaN or infinite values")
    return series


def _zscore(series: np.ndarray) -> np.ndarray:
    centred = series - series.mean(axis=0)
    std = centred.std(axis=0, ddof=1)
    std[std < np.finfo(float).eps] = 1.0
    return centred / std


def _ledoit_wolf(series: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf covariance of one (time x ROI) series, bit-identical to sklearn's.

    The same arithmetic, in the same order, as :func:`sklearn.covariance.ledoit_wolf` (centre,
    shrinkage from ``<X.T, X>`` and ``<X2.T, X2>`` with one block, shrink towards ``mu * I``),
    without its per-call validation and estimator overhead: 3-4x faster per scan. The unit
    tests compare it with sklearn to the last bit.
    """
    n, p = series.shape
    if p == 1:
        return ledoit_wolf(series)[0]
    x = series - series.mean(0)
    x2 = x**2
    trace = np.sum(x2, axis=0) / n
    mu = np.sum(trace) / p
    gram = np.dot(x.T, x)
    delta_ = np.sum(gram**2) / n**2
    beta_ = np.sum(np.dot(x2.T, x2))
    beta = 1.0 / (p * n) * (beta_ / n - delta_)
    delta = (delta_ - 2.0 * mu * trace.sum() + p * mu**2) / p
    beta = min(beta, delta)
    shrinkage = 0 if beta == 0 else beta / delta
    empirical = gram / n
    shrunk = (1.0 - shrinkage) * empirical
    shrunk.flat[:: p + 1] += shrinkage * (np.sum(np.trace(empirical)) / p)
    return shrunk


class NamedSeries:
    """An iterator of time series that names its content for the covariance disk cache.

    :func:`shrunk_covariances` keeps the covariances of a named iterator under
    ``data/cache/covariances`` (keyed by the name, ``standardize`` and the code), so a second
    computation of the same scans reads them instead of simulating or reading the series again.
    The name must identify the series exactly (e.g. a synthetic cohort's seed, assumptions and
    the rows taken); ``identity=None`` means unnamed (never cached). A :class:`SeriesSource`
    named this way keeps being read in blocks on the available cores.
    """

    def __init__(self, series: Iterable[np.ndarray], identity: str | None) -> None:
        self.source = series if isinstance(series, SeriesSource) else None
        self._series, self.cache_identity = iter(series), identity

    def __iter__(self) -> NamedSeries:
        return self

    def __next__(self) -> np.ndarray:
        return next(self._series)


def shrunk_covariances(
    timeseries: Iterable[np.ndarray], *, standardize: bool = False
) -> CovarianceStack:
    """Ledoit-Wolf covariance of each scan, computed as the series arrive.

    Parameters
    ----------
    timeseries : iterable of ndarray of shape (n_timepoints, n_rois)
        One array per scan; a generator works and is never held in memory as a whole.
    standardize : bool, default=False
        Z-score each series (sample SD) before estimating, as nilearn does for correlations.

    Returns
    -------
    CovarianceStack
        ``covariances`` of shape (n_scans, n_rois, n_rois).
    """
    identity = getattr(timeseries, "cache_identity", None)
    if identity is not None:
        return _cached_covariances(timeseries, identity, standardize)
    source = timeseries if isinstance(timeseries, SeriesSource) else getattr(timeseries, "source", None)
    if isinstance(source, SeriesSource) and len(source) > 1:
        return _source_covariances(source, standardize)
    covariances: list[np.ndarray] = []
    n_rois: int | None = None
    with single_threaded_blas():
        for index, series in enumerate(timeseries):
            series = _check_series(series, index, n_rois)
            n_rois = series.shape[1]
            if standardize:
                series = _zscore(series)
            covariances.append(_ledoit_wolf(series))
    if not covariances:
        raise ValueError("timeseries is empty: need at least one scan")
    return CovarianceStack(np.stack(covariances), standardized=standardize)


def _source_blocks(source: SeriesSource, variants: Sequence[bool]):
    """Covariances of every scan of ``source``, block by block in order: one stack per variant.

    ``variants`` lists ``standardize`` values (raw and/or z-scored series, estimated from one read
    of each scan). Scan 0 is read first (its ROI count is the one every other scan must have);
    blocks of :data:`SOURCE_BLOCK` scans are then read and estimated on threads, each in order, so
    the first bad scan reported is the one the serial loop would report, and every covariance has
    the serial loop's bits. Yields ``(rows, [stack per variant])`` with a few blocks in memory.
    Measured on the 2,433-person synthetic reference (simulation + Ledoit-Wolf, 2 cores): 8.4 s one
    scan after the other, 6.0 s in blocks on two threads (the simulator holds the GIL for part of
    each scan).
    """
    with single_threaded_blas():
        first = _check_series(source.read(0), 0, None)
    n_rois = first.shape[1]

    def block(part: range) -> tuple[range, list[np.ndarray]]:
        series = [first if i == 0 else _check_series(source.read(i), i, n_rois) for i in part]
        return part, [np.stack([_ledoit_wolf(_zscore(x) if std else x) for x in series]) for std in variants]

    yield from parallel_imap(block, [range(start, min(start + SOURCE_BLOCK, len(source)))
                                     for start in range(0, len(source), SOURCE_BLOCK)])


def _source_covariances(source: SeriesSource, standardize: bool) -> CovarianceStack:
    """:func:`shrunk_covariances` of a :class:`SeriesSource`: blocks of scans read on threads."""
    out = None
    for part, (stack,) in _source_blocks(source, [standardize]):
        if out is None:
            out = np.empty((len(source), *stack.shape[1:]))
        out[part.start:part.stop] = stack
    return CovarianceStack(out, standardized=standardize)


#: Package files whose code fixes the covariances of a named (simulated) cohort.
COVARIANCE_CODE = ("_paths.py", "_threads.py", "atlas.py", *(f"trial/{m}.py" for m in TRIAL_DATA_MODULES),
                   "connectome.py")


def _covariance_path(identity: str, standardize: bool) -> Path:
    key = hashlib.sha256(f"{identity}|standardize={standardize}|{code_digest(COVARIANCE_CODE)}"
                         .encode()).hexdigest()[:32]
    return cache_dir("covariances") / f"{key}.npy"


def _cached_covariances(timeseries: Iterable[np.ndarray], identity: str, standardize: bool) -> CovarianceStack:
    """Covariances of a named cohort, from ``data/cache/covariances`` when computed before.

    Keyed by the cohort's identity, ``standardize`` and the code that simulates and estimates
    (:data:`COVARIANCE_CODE`). The stack is returned memory-mapped from the file (read-only),
    so several users in one process share one copy in memory.

    A named :class:`SeriesSource` is read once for both variants: its raw and standardised
    covariances are estimated from the same series and streamed to their two files block by
    block (the book needs both for the reference cohort and the trial -- tangent and
    correlation clocks -- and simulating a scan costs more than estimating it twice; no stack is
    held in memory). One lock covers the pair.
    """
    paths = {std: _covariance_path(identity, std) for std in (False, True)}
    path = paths[standardize]
    with cache_lock(paths[False]):
        if not path.exists():
            source = timeseries if isinstance(timeseries, SeriesSource) else getattr(timeseries, "source", None)
            if isinstance(source, SeriesSource):
                _stream_covariances(source, {std: p for std, p in paths.items() if not p.exists()})
            else:
                stack = shrunk_covariances((s for s in timeseries), standardize=standardize)  # unnamed
                atomic_write(path, lambda tmp: np.save(tmp, stack.covariances))
    return CovarianceStack(np.load(path, mmap_mode="r"), standardized=standardize)


def _stream_covariances(source: SeriesSource, targets: dict[bool, Path]) -> None:
    """Covariances of every scan of ``source``, raw and/or standardised, written to ``targets``.

    The blocks of :func:`_source_blocks` are appended to the ``.npy`` files in order (each file
    complete, then renamed into place): the same arrays as :func:`shrunk_covariances`, bit for
    bit, with a few blocks in memory instead of the stack.
    """
    tmps = [p.with_suffix(f".{os.getpid()}.tmp.npy") for p in targets.values()]
    files = [open(tmp, "wb") for tmp in tmps]
    try:
        for part, stacks in _source_blocks(source, list(targets)):
            if part.start == 0:  # the header needs the ROI count, known from the first block
                header = {"descr": np.lib.format.dtype_to_descr(np.dtype(float)), "fortran_order": False,
                          "shape": (len(source), *stacks[0].shape[1:])}
                for handle in files:
                    np.lib.format.write_array_header_2_0(handle, header)
            for handle, stack in zip(files, stacks):
                handle.write(np.ascontiguousarray(stack).tobytes())
    finally:
        for handle in files:
            handle.close()
    for tmp, path in zip(tmps, targets.values()):
        os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# Batched matrix functions
# --------------------------------------------------------------------------------------
def _map_eigenvalues(function, matrices: np.ndarray) -> np.ndarray:
    """Apply ``function`` to the eigenvalues of a stack of symmetric matrices (batched)."""
    values, vectors = np.linalg.eigh(matrices)
    if np.any(values <= 0) and function in (np.log, np.sqrt):
        raise ValueError(
            "a covariance matrix is not positive definite (smallest eigenvalue "
            f"{values.min():.3g}); check for constant or duplicated ROI signals"
        )
    return (vectors * function(values)[..., None, :]) @ np.swapaxes(vectors, -1, -2)


def _chunks(n: int, size: int = CHUNK) -> Iterable[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _map_chunks(function: Callable, n: int, *, fixed: bool = False) -> list:
    """``function(part)`` for every chunk ``part`` of ``range(n)``, on threads, in order.

    ``fixed=True`` keeps chunks of exactly :data:`CHUNK` scans (for sums, whose rounding
    depends on the chunking); otherwise chunks of at most :data:`MAP_CHUNK` scans, smaller when
    that keeps every worker busy (a row's result does not depend on its chunk).
    """
    size, workers = (CHUNK, 1) if fixed else (MAP_CHUNK, n_jobs())
    if workers > 1:
        size = max(16, min(MAP_CHUNK, -(-n // workers)))
    return parallel_map(function, list(_chunks(n, size)), threads=True)


def _gather(covariances: np.ndarray, rows: np.ndarray | None, part: slice) -> np.ndarray:
    """Scans ``part`` of the stack, or of its rows ``rows`` (gathered per chunk: no copy of the subset)."""
    return np.asarray(covariances[part] if rows is None else covariances[rows[part]])


def _mean_log(covariances: np.ndarray, whitening: np.ndarray | None = None,
              rows: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``logm(W C W)`` over the stack (or its ``rows``), chunk by chunk (chunks on threads).

    Each chunk of :data:`CHUNK` scans is summed one matrix after the other, as ``sum(axis=0)``
    does, in pieces of :data:`MAP_CHUNK` scans (less temporary memory, the same bits).
    """
    n = len(covariances) if rows is None else len(rows)

    def chunk_sum(part: slice) -> np.ndarray:
        partial = np.zeros(covariances.shape[1:])
        for piece in _chunks(part.stop - part.start, MAP_CHUNK):
            block = _gather(covariances, rows, slice(part.start + piece.start, part.start + piece.stop))
            if whitening is not None:
                block = whitening @ block @ whitening
            for log in _map_eigenvalues(np.log, block):
                partial += log
        return partial

    total = np.zeros(covariances.shape[1:])
    for partial in _map_chunks(chunk_sum, n, fixed=True):
        total += partial  # in chunk order: the same sum as the serial loop
    return total / n


def _exp_mean_log(logs: np.ndarray) -> np.ndarray:
    """:func:`log_euclidean_mean` from precomputed matrix logarithms (same chunked sum)."""
    total = np.zeros(logs.shape[1:])
    for part in _chunks(len(logs)):
        total += np.asarray(logs[part]).sum(axis=0)
    mean_log = total / len(logs)
    return _map_eigenvalues(np.exp, (mean_log + mean_log.T) / 2)


def log_euclidean_mean(covariances: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Log-Euclidean mean ``expm(mean(logm(C_i)))`` of SPD matrices (closed form), of ``rows`` if given."""
    mean_log = _mean_log(np.asarray(covariances, dtype=float), rows=rows)
    return _map_eigenvalues(np.exp, (mean_log + mean_log.T) / 2)


def geometric_mean(
    covariances: np.ndarray, *, max_iter: int = 50, tol: float = 1e-9
) -> np.ndarray:
    """Riemannian (Karcher) geometric mean of SPD matrices, by batched fixed-point iterations.

    Starts from the arithmetic mean and updates ``G <- G^1/2 expm(mean(logm(G^-1/2 C G^-1/2))) G^1/2``
    until the relative norm of the mean log falls below ``tol`` -- the mean nilearn's tangent
    kind uses (nilearn adapts its step size; at convergence both give the same point).
    """
    covariances = np.asarray(covariances, dtype=float)
    mean = covariances.mean(axis=0)
    for _ in range(max_iter):
        values, vectors = np.linalg.eigh(mean)
        sqrt = (vectors * np.sqrt(values)) @ vectors.T
        inv_sqrt = (vectors / np.sqrt(values)) @ vectors.T
        gradient = _mean_log(covariances, inv_sqrt)
        gradient = (gradient + gradient.T) / 2
        mean = sqrt @ _map_eigenvalues(np.exp, gradient) @ sqrt
        mean = (mean + mean.T) / 2
        if np.linalg.norm(gradient) / np.sqrt(mean.shape[0]) < tol:
            break
    return mean


def vectorize(matrices: np.ndarray) -> np.ndarray:
    """Lower triangle without the diagonal of each matrix, row-major (nilearn's order)."""
    matrices = np.asarray(matrices)
    rows, cols = np.tril_indices(matrices.shape[-1], k=-1)
    return matrices[..., rows, cols]


def unvectorize(vectors: np.ndarray, *, diagonal: float = 0.0) -> np.ndarray:
    """Inverse of :func:`vectorize`: symmetric matrices with ``diagonal`` on the diagonal."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=float))
    n_edges = vectors.shape[1]
    n_rois = int(round((1 + np.sqrt(1 + 8 * n_edges)) / 2))
    if n_rois * (n_rois - 1) // 2 != n_edges:
        raise ValueError(f"vectors have {n_edges} columns, not n*(n-1)/2 for any n")
    out = np.zeros((len(vectors), n_rois, n_rois))
    rows, cols = np.tril_indices(n_rois, k=-1)
    out[:, rows, cols] = vectors
    out[:, cols, rows] = vectors
    out[:, np.arange(n_rois), np.arange(n_rois)] = diagonal
    return out


def _cov_to_corr(covariances: np.ndarray) -> np.ndarray:
    std = np.sqrt(np.einsum("...ii->...i", covariances))
    corr = covariances / std[..., :, None] / std[..., None, :]
    idx = np.arange(corr.shape[-1])
    corr[..., idx, idx] = 1.0
    return corr


def _partial_correlation(covariances: np.ndarray) -> np.ndarray:
    precision = np.linalg.inv(covariances)
    partial = -_cov_to_corr(precision)
    idx = np.arange(partial.shape[-1])
    partial[..., idx, idx] = 1.0
    return partial


# --------------------------------------------------------------------------------------
# The transformer
# --------------------------------------------------------------------------------------
def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    return kind


def _as_stack(X, *, standardize: bool, n_rois: int | None = None) -> CovarianceStack:
    """Covariances from ``X``: a :class:`CovarianceStack` or a sequence of (time x ROI) arrays."""
    if isinstance(X, CovarianceStack):
        stack = X
    elif isinstance(X, np.ndarray) and X.ndim == 2:
        raise ValueError(
            "X is a 2-D array; connectivity features need a list of (time x ROI) arrays "
            "or a CovarianceStack (use connectivity=None for a precomputed feature matrix)"
        )
    else:
        stack = shrunk_covariances(X, standardize=standardize)
    if n_rois is not None and stack.n_rois != n_rois:
        raise ValueError(
            f"X has {stack.n_rois} ROIs but the transformer was fitted on {n_rois} ROIs"
        )
    if not np.all(np.isfinite(stack.covariances)):
        raise ValueError("X contains NaN or infinite covariances")
    return stack


class ConnectivityFeatures(TransformerMixin, BaseEstimator):
    """Vectorised connectivity features from parcellated time series.

    Parameters
    ----------
    kind : {"tangent", "correlation", "partial correlation"}, default="tangent"
        Connectivity kind.
    reference : {"log-euclidean", "geometric"}, default="log-euclidean"
        Reference mean of the training covariances for the tangent kind.

    Attributes
    ----------
    mean_ : ndarray of shape (n_rois, n_rois)
        Reference mean (tangent kind) or mean connectivity of the training scans.
    whitening_ : ndarray of shape (n_rois, n_rois) or None
        ``mean_ ** -1/2`` for the tangent kind.
    n_rois_ : int
        Number of ROIs seen in ``fit``.

    Notes
    -----
    ``X`` is a list of (time x ROI) arrays (any lengths) or a :class:`CovarianceStack`. For the
    correlation kind a stack of unstandardised covariances is normalised to correlations; that
    differs slightly from nilearn, which shrinks the covariance of the z-scored series.
    """

    def __init__(self, kind: str = "tangent", reference: str = "log-euclidean") -> None:
        self.kind = kind
        self.reference = reference

    def _stack(self, X, n_rois: int | None = None) -> CovarianceStack:
        return _as_stack(X, standardize=self.kind == "correlation", n_rois=n_rois)

    def fit(self, X, y=None) -> ConnectivityFeatures:
        """Fit the reference mean on the (training) scans in ``X``."""
        _check_kind(self.kind)
        if self.reference not in REFERENCES:
            raise ValueError(f"reference must be one of {REFERENCES}; got {self.reference!r}")
        stack = self._stack(X)
        with single_threaded_blas():
            return self._fit_stack(stack)

    def fit_rows(self, stack: CovarianceStack, rows) -> ConnectivityFeatures:
        """``fit(stack[rows])`` without copying the subset (bit for bit the same reference)."""
        _check_kind(self.kind)
        rows = np.asarray(rows, dtype=np.intp)
        if self.reference == "geometric" or stack.logs is not None:
            return self.fit(stack[rows])
        with single_threaded_blas():
            return self._fit_stack(stack, rows)

    def _fit_stack(self, stack: CovarianceStack, rows: np.ndarray | None = None) -> ConnectivityFeatures:
        self.n_rois_ = stack.n_rois
        self.whitening_ = None
        if self.kind == "tangent" and self.reference == "log-euclidean" and stack.logs is not None:
            self.mean_ = _exp_mean_log(stack.logs)
            self.whitening_ = _map_eigenvalues(lambda v: 1 / np.sqrt(v), self.mean_)
        elif self.kind == "tangent":
            self.mean_ = (log_euclidean_mean(stack.covariances, rows) if self.reference == "log-euclidean"
                          else geometric_mean(stack.covariances))
            self.whitening_ = _map_eigenvalues(lambda v: 1 / np.sqrt(v), self.mean_)
        else:  # the mean connectivity, summed one matrix after the other as mean(axis=0) does
            n = len(stack) if rows is None else len(rows)
            total = np.zeros((stack.n_rois, stack.n_rois))
            for part in _chunks(n, MAP_CHUNK):
                for matrix in self._matrices(_gather(stack.covariances, rows, part)):
                    total += matrix
            self.mean_ = total / n
        return self

    def _matrices(self, covariances: np.ndarray) -> np.ndarray:
        if self.kind == "correlation":
            return _cov_to_corr(covariances)
        if self.kind == "partial correlation":
            return _partial_correlation(covariances)
        return _map_eigenvalues(np.log, self.whitening_ @ covariances @ self.whitening_)

    def transform(self, X) -> np.ndarray:
        """Vectorised connectivity of each scan, shape (n_scans, n_rois * (n_rois - 1) / 2)."""
        check_is_fitted(self, "mean_")
        return self._transform(self._stack(X, self.n_rois_).covariances)

    def transform_rows(self, stack: CovarianceStack, rows) -> np.ndarray:
        """``transform(stack[rows])`` without copying the subset."""
        check_is_fitted(self, "mean_")
        return self._transform(self._stack(stack, self.n_rois_).covariances, np.asarray(rows, dtype=np.intp))

    def _transform(self, covariances: np.ndarray, take: np.ndarray | None = None) -> np.ndarray:
        rows, cols = np.tril_indices(self.n_rois_, k=-1)
        out = np.empty((len(covariances) if take is None else len(take), len(rows)))

        def fill(part: slice) -> None:
            out[part] = self._matrices(_gather(covariances, take, part))[:, rows, cols]

        _map_chunks(fill, len(out))
        return out

    def fit_transform(self, X, y=None) -> np.ndarray:
        """Fit on ``X`` and transform it (covariances computed once)."""
        stack = self._stack(X)
        return self.fit(stack).transform(stack)


def named_features(identity: str, kind: str, stack: Callable[[], CovarianceStack], *,
                   reference: str = "log-euclidean") -> tuple[ConnectivityFeatures, np.ndarray]:
    """Fitted connectivity step and features of a named (simulated) cohort, computed once per build.

    ``ConnectivityFeatures(kind, reference).fit_transform(stack())``, kept in ``data/cache/features``
    under the cohort's identity, the kind, the reference and :data:`COVARIANCE_CODE`: the primary
    clock, the sensitivity clocks and the connectivity page all embed the same 2,433 reference scans
    (a tangent embedding: two batched eigendecompositions per scan, ~4 s on 2 cores), and a rebuild
    reads them. ``stack`` is called only on a cache miss. Returns the fitted step (its reference
    mean and whitening, to transform new scans) and the features (read-only, memory-mapped).
    """
    _check_kind(kind)
    key = hashlib.sha256(f"features|{kind}|{reference}|{identity}|{code_digest(COVARIANCE_CODE)}"
                         .encode()).hexdigest()[:32]
    folder = cache_dir("features")
    path, state_path = folder / f"{key}.npy", folder / f"{key}.state.npz"
    with cache_lock(path):
        if not path.exists():
            step = ConnectivityFeatures(kind, reference=reference)
            with single_threaded_blas():
                features = step.fit_transform(stack())
            whitening = step.whitening_ if step.whitening_ is not None else np.empty((0, 0))
            atomic_write(state_path, lambda tmp: np.savez(tmp, mean=step.mean_, whitening=whitening,
                                                          n_rois=step.n_rois_))
            atomic_write(path, lambda tmp: np.save(tmp, features))  # last: its presence completes the entry
    step = ConnectivityFeatures(kind, reference=reference)
    with np.load(state_path) as state:
        step.mean_, step.n_rois_ = state["mean"], int(state["n_rois"])
        step.whitening_ = state["whitening"] if state["whitening"].size else None
    return step, np.load(path, mmap_mode="r")


def connectivity_features(
    timeseries: Sequence[np.ndarray] | CovarianceStack,
    kind: str = "tangent",
    *,
    reference: str = "log-euclidean",
) -> np.ndarray:
    """Fit-and-transform shortcut for exploratory use (reference from all scans given)."""
    return ConnectivityFeatures(kind=kind, reference=reference).fit_transform(timeseries)


# --------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------
def system_segregation(conn: np.ndarray, communities: Sequence) -> np.ndarray:
    """System segregation of each connectome :cite:p:`chan2014`.

    ``(mean within-community connectivity - mean between-community connectivity) / mean within``,
    over off-diagonal edges. Negative edges are kept as they are (Chan 2014 zero them; with
    Fisher-z correlations of group-ICA components few are negative).

    Parameters
    ----------
    conn : ndarray of shape (n_rois, n_rois) or (n_scans, n_rois, n_rois)
        Connectivity matrices (e.g. Fisher-z correlations).
    communities : sequence of length n_rois
        Community label of each ROI; at least two communities.

    Returns
    -------
    ndarray of shape (n_scans,) (a float for a single matrix)
    """
    conn = np.asarray(conn, dtype=float)
    single = conn.ndim == 2
    conn = conn[None] if single else conn
    labels = np.asarray(communities)
    if conn.shape[-1] != len(labels) or conn.shape[-2] != len(labels):
        raise ValueError(
            f"communities has {len(labels)} labels but conn has shape {conn.shape[1:]}"
        )
    if len(np.unique(labels)) < 2:
        raise ValueError("communities must contain at least two distinct labels")
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    within = conn[:, same & off].mean(axis=1)
    between = conn[:, ~same].mean(axis=1)
    result = (within - between) / within
    return float(result[0]) if single else result


def find_communities(
    group_conn: np.ndarray, n_communities: int, *, random_state: int | None = 0
) -> np.ndarray:
    """Communities of ROIs from a group connectome, by spectral clustering.

    Negative weights are set to zero (spectral clustering needs a non-negative affinity).

    Parameters
    ----------
    group_conn : ndarray of shape (n_rois, n_rois)
        Group-average connectivity (e.g. mean Fisher-z correlation).
    n_communities : int
        Number of communities.
    random_state : int or None, default=0
        Seed of the k-means step.

    Returns
    -------
    ndarray of int, shape (n_rois,)
    """
    group_conn = np.asarray(group_conn, dtype=float)
    if group_conn.ndim != 2 or group_conn.shape[0] != group_conn.shape[1]:
        raise ValueError(f"group_conn must be a square matrix; got shape {group_conn.shape}")
    if not 2 <= n_communities < group_conn.shape[0]:
        raise ValueError(
            f"n_communities must be between 2 and n_rois - 1; got {n_communities}"
        )
    affinity = np.clip((group_conn + group_conn.T) / 2, 0, None)
    np.fill_diagonal(affinity, 0.0)
    model = SpectralClustering(
        n_clusters=n_communities, affinity="precomputed", random_state=random_state,
        assign_labels="cluster_qr",
    )
    return model.fit_predict(affinity)
