"""Project paths and environment variables, in one place."""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

try:  # POSIX file locks for the disk caches (cache_lock)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: Root of the project checkout (the folder holding ``_config.yml``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Environment variable naming a local mirror of the open data (no download when set).
OPEN_DATA_ENV = "BRAINCLOCK_OPEN_DATA"
#: Environment variable naming a real trial directory (the book then runs on it).
TRIAL_DIR_ENV = "BRAINCLOCK_TRIAL_DIR"
#: Environment variable naming a real reference-cohort directory (the clock is trained on it).
REFERENCE_DIR_ENV = "BRAINCLOCK_REFERENCE_DIR"
#: Environment variable naming a saved, fitted clock file (used instead of training one).
CLOCK_ENV = "BRAINCLOCK_CLOCK"


def data_dir() -> Path:
    """Git-ignored folder for caches (downloads, generated data)."""
    return PROJECT_ROOT / "data"


def cache_dir(name: str) -> Path:
    """A named cache folder under ``data/cache`` (created on demand)."""
    path = data_dir() / "cache" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` all or nothing: ``write(tmp)`` fills a temporary file beside it, which then replaces it.

    The one atomic write of the package (cache entries, extracted series, the simulation
    artifact). The temporary name is unique (threads and processes may write the same entry at
    once), hidden (a listing of ``*.pkl`` or ``part-*.csv`` never sees it) and ends in ``path``'s
    suffix (writers that infer the format from the name, such as ``np.save``, see the same); the
    file is readable like any other (0644). If ``write`` raises, the temporary file is removed and
    ``path`` is untouched.
    """
    path = Path(path)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates owner-only files
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of the cache entry ``path`` while computing it.

    Notebooks of one build run in parallel processes and ask for the same expensive products
    (the reference cohort's covariances, the fitted clock): whoever comes second waits here and
    then finds the entry written, so it is computed once. Use as::

        with cache_lock(path):
            if not path.exists():
                ... compute, write atomically ...

    The lock is an ``flock`` on ``<path>.lock`` (released when the process ends, however it
    ends); where ``fcntl`` does not exist (Windows) it is a no-op and both compute.
    """
    if fcntl is None:  # pragma: no cover - not POSIX
        yield
        return
    lock = Path(path).with_name(Path(path).name + ".lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_dir() -> Path:
    """The book's build folder (``_build``)."""
    return PROJECT_ROOT / "_build"


def env_path(name: str) -> Path | None:
    """The path held by environment variable ``name``, or None when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else None


#: The modules of ``analysis.trial`` that make or read the data (not the descriptive tables):
#: the code behind every cached covariance and brain-age table.
TRIAL_DATA_MODULES = ("__init__", "design", "errors", "assumptions", "io", "simulator", "core", "reference")


def code_digest(patterns) -> str:
    """sha256 of the package's source files matching ``patterns`` (globs relative to ``analysis/``).

    The key of every on-disk cache: a change in the code that produced a cached result gives a
    new key, so nothing stale is ever served; files outside the patterns (the statistics, the
    pages) can change without throwing the cache away.
    """
    package = Path(__file__).resolve().parent
    paths = sorted({p for pattern in patterns for p in package.glob(pattern)})
    if not paths:
        raise ValueError(f"no package file matches {list(patterns)}")
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
