"""Time series readable in any order (a light module: the cohorts and the connectivity code share it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

__all__ = ["SeriesSource"]


class SeriesSource:
    """Time series that can be read in any order: scan ``i`` is ``read(i)``.

    What the cohorts' ``iter_timeseries()`` return. Iterating reads the scans in order, as any
    iterable of arrays would; :func:`shrunk_covariances` instead reads and estimates blocks of
    scans on the available cores (simulating or parsing a scan is most of the cost, and each
    scan is independent of the others, so the result is the serial loop's, bit for bit).
    ``cache_identity`` names the content for the covariance disk cache (see :class:`NamedSeries`).
    """

    def __init__(self, n: int, read: Callable[[int], np.ndarray], identity: str | None = None) -> None:
        self._n, self._read, self.cache_identity = int(n), read, identity

    def __len__(self) -> int:
        return self._n

    def read(self, index: int) -> np.ndarray:
        """The time series of scan ``index``."""
        return self._read(index)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self._read(i) for i in range(self._n))

