"""Verified local paths of registered open-data files: a local mirror, or a pooch download.

* With ``BRAINCLOCK_OPEN_DATA=DIR`` set, :func:`fetch` reads ``DIR/<dataset>/<file>`` directly
  (no pooch, no network), checking its sha256 once per file version (memo keyed by path,
  size and modification time).
* Otherwise a :class:`pooch.Pooch` per dataset downloads the pinned raw URL into the
  git-ignored cache ``data/cache/open-data/<dataset>/<file>``: to a temporary file, hash
  checked (``sha256:``), retried ``DOWNLOAD_RETRIES`` times on a network error or a hash
  mismatch, then moved into place -- the cache never holds an unverified file.

The only thing added on top of pooch is the error: any failure becomes an
:class:`~analysis.open_data.registry.OpenDataError` naming the dataset, the file, what was
tried and how to fix it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pooch
import requests

from analysis._paths import OPEN_DATA_ENV, cache_dir, env_path

from . import registry
from .registry import REGISTRY, OpenDataError, OpenDataFile, get_file

#: Seconds before a download attempt gives up waiting for the server.
DOWNLOAD_TIMEOUT = 60.0
#: Further download attempts after a failed one (network error or hash mismatch); pooch waits
#: 1, 2, 3 ... seconds between attempts.
DOWNLOAD_RETRIES = 3
#: Bytes per chunk streamed to disk.
_CHUNK = 1 << 16

# sha256 of files already hashed, keyed by (path, size, mtime_ns): repeated fetches are cheap,
# and a file that changes on disk (new size or mtime) is hashed again.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _memo_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _cached_sha256(path: Path) -> str:
    key = _memo_key(path)
    if key not in _VERIFIED:
        _VERIFIED[key] = _sha256(path)
    return _VERIFIED[key]


def _cache_root() -> Path:
    """Download cache (git-ignored ``data/cache/open-data``)."""
    return cache_dir("open-data")


# --- the clear error ----------------------------------------------------------------------------


def _error(entry: OpenDataFile, problem: str, tried: str, fix: str) -> OpenDataError:
    return OpenDataError(
        f"open data {entry.dataset!r}, file {entry.file!r}: {problem}.\n"
        f"  tried: {tried}\n"
        f"  fix:   {fix}"
    )


def _mismatch(entry: OpenDataFile, digest: str) -> str:
    return f"sha256 mismatch (expected {entry.sha256}, got {digest})"


def _mirror_fix(entry: OpenDataFile) -> str:
    where = f"{entry.dataset}/{entry.file}"
    download = (
        f"or unset {OPEN_DATA_ENV} to download it from {entry.url} (needs internet)"
        if entry.url
        else "(this file exists only in the project's local mirror; it cannot be downloaded)"
    )
    return f"point {OPEN_DATA_ENV} at a mirror folder that holds {where} byte-identical to the original, {download}"


def _download_fix(entry: OpenDataFile) -> str:
    return (
        f"connect to the internet and retry, or set {OPEN_DATA_ENV}=DIR to a local mirror "
        f"holding {entry.dataset}/{entry.file}"
    )


# --- mirror (read directly) -----------------------------------------------------------------------


def _from_mirror(entry: OpenDataFile, mirror: Path) -> Path:
    path = mirror / entry.dataset / entry.file
    tried = f"local mirror file {path} ({OPEN_DATA_ENV}={mirror})"
    if not path.is_file():
        raise _error(entry, "the file is missing from the local mirror", tried, _mirror_fix(entry))
    digest = _cached_sha256(path)
    if digest != entry.sha256:
        raise _error(entry, _mismatch(entry, digest), tried, _mirror_fix(entry))
    return path


# --- download (pooch) -----------------------------------------------------------------------------


class _Downloader:
    """pooch's HTTP downloader that also remembers the sha256 of what the last attempt received."""

    def __init__(self, progressbar: bool):
        self._http = pooch.HTTPDownloader(progressbar=progressbar, chunk_size=_CHUNK, timeout=DOWNLOAD_TIMEOUT)
        self.received: str | None = None

    def __call__(self, url: str, output_file: str, pup: pooch.Pooch | None) -> None:
        self.received = None
        self._http(url, output_file, pup)
        self.received = _sha256(Path(output_file))


def _pooch(dataset: str, root: Path) -> pooch.Pooch:
    """A pooch for the downloadable files of ``dataset``, caching in ``root/<dataset>``."""
    entries = [e for e in REGISTRY[dataset].files if e.url is not None]
    return pooch.create(
        path=root / dataset,
        base_url=f"{registry.RAW_URL_BASE}/",  # unused: every file has its own pinned URL
        registry={e.file: f"sha256:{e.sha256}" for e in entries},
        urls={e.file: e.url for e in entries},
        retry_if_failed=DOWNLOAD_RETRIES,
    )


def _download(entry: OpenDataFile, root: Path, *, progressbar: bool = False) -> Path:
    target = root / entry.dataset / entry.file
    if target.is_file():
        if _cached_sha256(target) == entry.sha256:
            return target
        target.unlink()  # a stale or damaged copy never stays in the cache
    if entry.url is None:
        tried = f"download cache {target} (the file cannot be downloaded)"
        raise _error(entry, "the file is not in the cache and has no public URL", tried, _mirror_fix(entry))
    tried = f"download of {entry.url} into {target} ({1 + DOWNLOAD_RETRIES} attempt(s), via pooch)"
    downloader = _Downloader(progressbar)
    try:
        path = Path(_pooch(entry.dataset, root).fetch(entry.file, downloader=downloader))
    except ValueError as exc:
        if downloader.received is not None:  # pooch: the downloaded file's hash does not match
            raise _error(entry, _mismatch(entry, downloader.received), tried, _download_fix(entry)) from exc
        raise _error(entry, f"download failed ({type(exc).__name__}: {exc})", tried, _download_fix(entry)) from exc
    except (requests.RequestException, OSError) as exc:
        raise _error(entry, f"download failed ({type(exc).__name__}: {exc})", tried, _download_fix(entry)) from exc
    _VERIFIED[_memo_key(path)] = entry.sha256  # pooch has just checked it
    return path


def fetch(dataset: str, file: str, *, progressbar: bool = False) -> Path:
    """A verified local path of one registered open-data file.

    Parameters
    ----------
    dataset : str
        Dataset name, a key of :data:`~analysis.open_data.REGISTRY` (e.g. ``"fcon1000-thickness"``).
    file : str
        File path relative to the dataset folder (e.g. ``"fcon1000.csv"``).
    progressbar : bool
        Show pooch's progress bar while downloading (needs tqdm).

    Returns
    -------
    pathlib.Path
        With ``BRAINCLOCK_OPEN_DATA=DIR``: ``DIR/<dataset>/<file>`` (nothing is downloaded).
        Otherwise ``data/cache/open-data/<dataset>/<file>``, downloaded with pooch from the
        pinned raw URL if not already cached. Either way its sha256 matches the registry
        (hashes are remembered by path, size and modification time, so repeated calls are cheap).

    Raises
    ------
    KeyError
        ``dataset`` or ``file`` is not in the registry.
    OpenDataError
        The file is missing, its hash is wrong, or the download failed; the message names the
        dataset, the file, what was tried and how to fix it.
    """
    entry = get_file(dataset, file)
    mirror = env_path(OPEN_DATA_ENV)
    if mirror is not None:
        return _from_mirror(entry, mirror)
    return _download(entry, _cache_root(), progressbar=progressbar)


# --- what is on disk (no hashing, no network) ---------------------------------------------------


def _local_path(entry: OpenDataFile) -> tuple[str, Path]:
    mirror = env_path(OPEN_DATA_ENV)
    if mirror is not None:
        return "mirror", mirror / entry.dataset / entry.file
    return "cache", _cache_root() / entry.dataset / entry.file


def is_available(dataset: str, *, downloadable_only: bool = True) -> bool:
    """Whether every file of ``dataset`` is on disk (mirror or cache), without network or hashing.

    ``downloadable_only`` ignores files that exist only in the mirror (``rows_participants.csv``).
    """
    entries = [e for e in REGISTRY[dataset].files if e.url is not None or not downloadable_only]
    return all(_local_path(e)[1].is_file() for e in entries)


def data_origin() -> str:
    """One sentence saying where open data are read from (for notebooks and logs)."""
    mirror = env_path(OPEN_DATA_ENV)
    if mirror is not None:
        return f"a local mirror named by {OPEN_DATA_ENV} (nothing downloaded)"
    return "the download cache data/cache/open-data (pinned GitHub raw URLs, sha256-checked)"


def mirror_status() -> pd.DataFrame:
    """Per dataset: where its files are read from and how many are present (no hashing, no network).

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset``, ``source`` ("mirror" or "cache"), ``n_files``, ``n_present``,
        ``megabytes`` (of the present files).
    """
    rows = []
    for ds in REGISTRY.values():
        located = [_local_path(e) for e in ds.files]
        present = [p for _, p in located if p.is_file()]
        rows.append({
            "dataset": ds.name,
            "source": located[0][0],
            "n_files": len(ds.files),
            "n_present": len(present),
            "megabytes": sum(p.stat().st_size for p in present) / 1e6,
        })
    return pd.DataFrame(rows)
