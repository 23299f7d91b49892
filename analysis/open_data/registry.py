"""The open-data registry: ``registry.json`` (shipped in this package) read into typed objects.

``registry.json`` is the single place where the pinned files are listed: one object per
dataset (name, title, origin, licence, citation, what it can and cannot show) with its files
(path in the dataset folder, sha256, GitHub repository, commit and path there, what the file
holds). A file with ``repo``/``commit``/``path`` set to null exists only in the local mirror
and cannot be downloaded. This module only reads and checks that file; fetching lives in
:mod:`analysis.open_data.fetching`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources

import pandas as pd

#: Base of GitHub's raw-file URLs: ``{RAW_URL_BASE}/<repo>/<commit>/<path>``.
RAW_URL_BASE = "https://raw.githubusercontent.com"
#: Name of the registry data file inside this package.
REGISTRY_FILE = "registry.json"

DEV_FMRI = "development-fmri-basc064"
DS003871 = "ds003871-ica-timecourses"
FCON1000 = "fcon1000-thickness"
TRANSFER = "openneuro-transfer-thickness"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX40 = re.compile(r"[0-9a-f]{40}")
_DATASET_KEYS = ("name", "title", "origin", "licence", "citation", "can_show", "cannot_show", "files")
_FILE_KEYS = ("file", "sha256", "repo", "commit", "path", "what")


class OpenDataError(RuntimeError):
    """An open-data file could not be obtained or did not match its pinned sha256."""


@dataclass(frozen=True)
class OpenDataFile:
    """One pinned public file.

    Parameters
    ----------
    dataset : str
        Dataset name = folder in the mirror and in the cache.
    file : str
        Path relative to the dataset folder (e.g. ``"BOLD/sub001_timecourses_ica.mat"``).
    sha256 : str
        Expected sha256 of the file's bytes.
    repo, commit, source_path : str or None
        GitHub ``owner/name``, commit and path in that repository; None for a file that is
        only part of the local mirror (derived there, not downloadable).
    description : str
        What the file holds.
    """

    dataset: str
    file: str
    sha256: str
    repo: str | None
    commit: str | None
    source_path: str | None
    description: str

    @property
    def url(self) -> str | None:
        """Pinned raw URL, or None when the file is not downloadable."""
        if self.repo is None or self.commit is None or self.source_path is None:
            return None
        return f"{RAW_URL_BASE}/{self.repo}/{self.commit}/{self.source_path}"


@dataclass(frozen=True)
class OpenDataset:
    """A public dataset: its files, licence, citation and what it can and cannot show."""

    name: str
    title: str
    origin: str
    licence: str
    can_show: str
    cannot_show: str
    files: tuple[OpenDataFile, ...]
    citation: str = ""

    def file(self, file: str) -> OpenDataFile:
        """The registry entry of ``file`` (path relative to the dataset folder)."""
        for entry in self.files:
            if entry.file == file:
                return entry
        known = ", ".join(e.file for e in self.files[:8])
        raise KeyError(f"open dataset {self.name!r} has no file {file!r}; known files include: {known}")


def _invalid(where: str, problem: str) -> ValueError:
    return ValueError(f"open-data registry {REGISTRY_FILE}, {where}: {problem}")


def _parse_file(dataset: str, raw: dict) -> OpenDataFile:
    where = f"dataset {dataset!r}, file {raw.get('file')!r}"
    if set(raw) != set(_FILE_KEYS):
        raise _invalid(where, f"keys {sorted(raw)}, expected {sorted(_FILE_KEYS)}")
    if not _HEX64.fullmatch(str(raw["sha256"])):
        raise _invalid(where, f"sha256 {raw['sha256']!r} is not 64 lower-case hex digits")
    source = (raw["repo"], raw["commit"], raw["path"])
    if any(s is None for s in source) and any(s is not None for s in source):
        raise _invalid(where, "repo, commit and path must all be set or all be null")
    if raw["commit"] is not None and not _HEX40.fullmatch(raw["commit"]):
        raise _invalid(where, f"commit {raw['commit']!r} is not a full 40-digit hash")
    return OpenDataFile(dataset, raw["file"], raw["sha256"], raw["repo"], raw["commit"], raw["path"], raw["what"])


def parse_registry(data: dict) -> dict[str, OpenDataset]:
    """Datasets by name from the decoded ``registry.json``; a ValueError names any bad entry."""
    if data.get("format") != 1:
        raise _invalid("top level", f"unknown format {data.get('format')!r} (expected 1)")
    registry: dict[str, OpenDataset] = {}
    for raw in data["datasets"]:
        name = raw.get("name")
        if set(raw) != set(_DATASET_KEYS):
            raise _invalid(f"dataset {name!r}", f"keys {sorted(raw)}, expected {sorted(_DATASET_KEYS)}")
        if name in registry:
            raise _invalid(f"dataset {name!r}", "listed twice")
        files = tuple(_parse_file(name, f) for f in raw["files"])
        names = [f.file for f in files]
        if len(set(names)) != len(names):
            raise _invalid(f"dataset {name!r}", "a file is listed twice")
        registry[name] = OpenDataset(
            name=name, title=raw["title"], origin=raw["origin"], licence=raw["licence"],
            can_show=raw["can_show"], cannot_show=raw["cannot_show"], files=files, citation=raw["citation"],
        )
    return registry


def load_registry() -> dict[str, OpenDataset]:
    """Read the ``registry.json`` shipped in this package."""
    text = resources.files(__package__).joinpath(REGISTRY_FILE).read_text(encoding="utf-8")
    return parse_registry(json.loads(text))


#: Every open dataset, by name (= folder in the mirror and the cache).
REGISTRY: dict[str, OpenDataset] = load_registry()


def get_file(dataset: str, file: str) -> OpenDataFile:
    """The registry entry of ``dataset/file``; a KeyError names the known choices."""
    if dataset not in REGISTRY:
        raise KeyError(f"unknown open dataset {dataset!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[dataset].file(file)


def _files_summary(files: list[OpenDataFile]) -> str:
    bold = [f for f in files if f.file.startswith("BOLD/")]
    others = [f.file for f in files if not f.file.startswith("BOLD/")]
    if bold:
        others.insert(0, f"BOLD/subNNN_timecourses_ica.mat ({len(bold)} files)")
    return "; ".join(others)


def provenance_table() -> pd.DataFrame:
    """One row per dataset and source repository: what it is, where it comes from, what it shows.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset``, ``title``, ``files``, ``source_repo``, ``commit``, ``licence``,
        ``can_show``, ``cannot_show``. Files derived in the mirror (not downloadable) get
        ``source_repo`` "derived locally (checking only)".
    """
    rows = []
    for ds in REGISTRY.values():
        sources = dict.fromkeys((e.repo, e.commit) for e in ds.files)
        for repo, commit in sources:
            files = [e for e in ds.files if (e.repo, e.commit) == (repo, commit)]
            rows.append({
                "dataset": ds.name,
                "title": ds.title,
                "files": _files_summary(files),
                "source_repo": repo or "derived locally (checking only)",
                "commit": commit or "",
                "licence": ds.licence,
                "can_show": ds.can_show,
                "cannot_show": ds.cannot_show,
            })
    return pd.DataFrame(rows)


def file_table() -> pd.DataFrame:
    """Every registered file: ``dataset``, ``file``, ``url`` (None if not downloadable), ``sha256``."""
    return pd.DataFrame(
        [{"dataset": e.dataset, "file": e.file, "url": e.url, "sha256": e.sha256}
         for ds in REGISTRY.values() for e in ds.files]
    )
