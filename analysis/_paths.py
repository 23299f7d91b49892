"""Project paths and environment variables, in one place."""

from __future__ import annotations

import os
from pathlib import Path

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


def build_dir() -> Path:
    """The book's build folder (``_build``)."""
    return PROJECT_ROOT / "_build"


def env_path(name: str) -> Path | None:
    """The path held by environment variable ``name``, or None when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else None
