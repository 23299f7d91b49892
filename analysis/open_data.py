"""Real open data: a registry of pinned public files, verified fetching, and tidy loaders.

Every file the book uses from public sources is listed in :data:`REGISTRY` with the
GitHub repository and commit it comes from, its raw URL, its sha256 and its licence.
:func:`fetch` returns a verified local path:

* with ``BRAINCLOCK_OPEN_DATA=DIR`` set, it reads ``DIR/<dataset>/<file>`` (a local mirror,
  byte-identical to the originals) and downloads nothing;
* otherwise it downloads the pinned raw URL into the git-ignored cache
  ``data/cache/open-data/<dataset>/<file>`` (to a temporary file first, checked, then
  renamed, so no partial or unverified file is ever left behind).

Any failure (missing file, wrong hash, no network) raises :class:`OpenDataError` naming the
dataset, the file, what was tried and how to fix it.

The loaders return tidy objects:

* :func:`load_development_fmri` -- 90 BASC-064 connectomes (movie watching, ages 3.5-39) with
  ages. **The row -> participant mapping is inferred, not published** (see
  :func:`development_fmri_rows`).
* :func:`load_ds003871` -- 62 resting-state ICA time-course arrays (295 x 60) with
  *group labels only* (younger / older; no per-person ages exist).
* :func:`load_fcon1000`, :func:`load_openneuro_transfer` -- cortical thickness tables
  (structural MRI, not fMRI) with ages, sex and site; :func:`thickness_columns` gives the
  feature columns the two share.

None of these is an older-adult resting-state cohort with per-person ages: they check that
the clock code, bias correction and metrics behave on real measurements; they do not validate
an older-adult connectivity clock.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from analysis._paths import OPEN_DATA_ENV, PROJECT_ROOT, cache_dir, env_path

__all__ = [
    "OpenDataError",
    "OpenDataFile",
    "OpenDataset",
    "REGISTRY",
    "RAW_URL_BASE",
    "get_file",
    "fetch",
    "is_available",
    "data_origin",
    "mirror_status",
    "provenance_table",
    "file_table",
    "development_fmri_rows",
    "load_development_fmri",
    "vector_to_matrix",
    "load_ds003871",
    "load_fcon1000",
    "load_openneuro_transfer",
    "harmonise_thickness_names",
    "thickness_columns",
    "overview",
]

#: Base of GitHub's raw-file URLs: ``{RAW_URL_BASE}/<repo>/<commit>/<path>``.
RAW_URL_BASE = "https://raw.githubusercontent.com"
#: Seconds before a download attempt gives up.
DOWNLOAD_TIMEOUT = 60.0

DEV_FMRI = "development-fmri-basc064"
DS003871 = "ds003871-ica-timecourses"
FCON1000 = "fcon1000-thickness"
TRANSFER = "openneuro-transfer-thickness"


class OpenDataError(RuntimeError):
    """An open-data file could not be obtained or did not match its pinned sha256."""


# --- registry ---------------------------------------------------------------------------------


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
    """A public dataset: its files, licence and what it can and cannot show."""

    name: str
    title: str
    origin: str
    licence: str
    can_show: str
    cannot_show: str
    files: tuple[OpenDataFile, ...]

    def file(self, file: str) -> OpenDataFile:
        """The registry entry of ``file`` (path relative to the dataset folder)."""
        for entry in self.files:
            if entry.file == file:
                return entry
        known = ", ".join(e.file for e in self.files[:8])
        raise KeyError(f"open dataset {self.name!r} has no file {file!r}; known files include: {known}")


_NILEARN_ML_REPO = ("main-training/main-training-nilearn-ml", "c2935dd612fdebd2a90ccfc1822abaa3b802a036")
_DS000228_REPO = ("OpenNeuroDatasets/ds000228", "dafa3a5237adc54de843ef584ab2261fcd901378")
_TIMESCALES_REPO = (
    "zihao-cpu/Mapping_and_Modeling_Age-Related_Changes-in-_Intrinsic_Neural_Timescales",
    "9ea1244ee05759caaf090ee09e59a3d1c7ac56d8",
)
_PCN_REPO = ("amarquand/PCNtoolkit", "c6557e7cb119f5695f8116949a2c32073da7be73")
_BRAINCHARTS_REPO = ("predictive-clinical-neuroscience/braincharts", "5a1a7822e6f54405b0a826cf137d584240af307c")


def _pinned(dataset: str, file: str, sha256: str, source: tuple[str, str], path: str, what: str) -> OpenDataFile:
    repo, commit = source
    return OpenDataFile(dataset, file, sha256, repo, commit, path, what)


def _development_fmri() -> OpenDataset:
    files = (
        _pinned(DEV_FMRI, "MAIN2019_BASC064_subsamp_features.npz",
                "ab414cd7ebb3e94cc9019523b950120ead45c606cad3c7d0caa68dadb3bed9b1", _NILEARN_ML_REPO,
                "MAIN2019_BASC064_subsamp_features.npz",
                "key 'a': 90 x 2016 vectorised lower triangles (no diagonal) of BASC-064 correlation matrices"),
        _pinned(DEV_FMRI, "participants.tsv",
                "4631ad64f54bea355253482471cafa258fc46a549cf98f92760c8f5df19d6a4d", _DS000228_REPO,
                "participants.tsv", "155 participants of ds000228: Age, Gender, Child_Adult, ..."),
        _pinned(DEV_FMRI, "participants.json",
                "0e00be24fb9c586f86a96ef54f963c5e57e5074d232a85c2da38189c7c22b581", _DS000228_REPO,
                "participants.json", "column descriptions of participants.tsv"),
        _pinned(DEV_FMRI, "dataset_description.json",
                "446cb915fbf58cb99ca6c18983f1aba1e596e64f4ac41d2c32b599b7e19faea6", _DS000228_REPO,
                "dataset_description.json", "BIDS dataset description (licence PDDL, authors, reference)"),
        OpenDataFile(DEV_FMRI, "rows_participants.csv",
                     "e81109d4e074738d190542adfbc7266f9a58859a668923fcb478d12f688af613", None, None, None,
                     "row -> participant mapping derived in the mirror, only used to check "
                     "development_fmri_rows(); not downloadable"),
    )
    return OpenDataset(
        name=DEV_FMRI,
        title="Development fMRI connectomes (OpenNeuro ds000228, BASC-064)",
        origin="https://openneuro.org/datasets/ds000228 (via nilearn's development_fmri subsample)",
        licence="ds000228: PDDL (public domain)",
        can_show=(
            "A connectivity clock runs end to end on real fMRI connectomes (90 people, 64 regions) and "
            "separates children from adults; age prediction over ages 3.5-39."
        ),
        cannot_show=(
            "Anything about older adults (nobody is over 39), or about rest (the scans are movie watching). "
            "Per-person ages rely on an INFERRED row order of the feature file (not published)."
        ),
        files=files,
    )


_BOLD_FILES = tuple(f"BOLD/sub{i:03d}_timecourses_ica.mat" for i in range(1, 63))
_BOLD_SHA256 = (
    "ef5d44a57e689e635c7c89052feba9c252379b6ff8bc2961f8d8e3be67ed2af5",
    "00f99a2d44553e6342a8238fcfee4dd7e6c78cd91b460170738036124dcf0fdd",
    "8a92ec727dcbdfea22e694b059f47216087650d8d53775609320a0e4d84cb7ca",
    "ca162cc2889ba4ef25002388a02e76cb230740f8c7b6118abb74cdb98b5ce329",
    "4a5b407d801d59c7fe87ffd368c5fc3dd7ae0ace5c6e87c46b9552852bd05859",
    "0cf57974dc872bad1e5892544faf54602994f21a34f4144d85e2473833287c64",
    "9bd96b79c759cee00fed9e4e2933f4b6b88454566caf39eea508c070d60e035d",
    "5b27360cdaaaf1570993b8993db67f27c0dbb24a9b57ac98cf3270cd12346341",
    "751bbdfc556d8c870c32f131d636debcb9f69fab474af45b9e5e3a421d889442",
    "0d7656abb7d3433398d3ebede9a9ddffc57960bd36ed1adc462a672cc1895ff4",
    "ccff59d6bb98977dbb36e8019dc8994ef5b1056cc20791e36ea58be82415bc79",
    "d4810497dac31dbdc86417bc2aa0e8726a1fbd0ef73c8b614d64d79a80de6fad",
    "e1bdee02558b190fd506768f657b63baa3bf818920863c1b360e0d4963e039c0",
    "89bf1973cd06d1970ee699b501941e10c3fb98f99c3a17b3d410df9e3bc88b00",
    "dc675e1567962177feab3108a76ffee1e9e5fd04032083019a3fde13c65f5cfc",
    "6fd081a07fa591a10975fc48cbd649e12e931a2368eecbbe8e8358d28a808a64",
    "59928a1ac7ed3d91b9afc860758987a52d23932e439c6aee47bbb696bd76a523",
    "6aa4ac0f271d57e35903809328ee2e2eca351956c5afc4acc36faf9bf2990f9b",
    "31eca33bf146df1427686c9669a58e5aef1b99d2a13a18fd6301eee6fac847d2",
    "0f43e1d59ff18c8a87fa4309950bf1f1c3ab166eb69b4b6066823834cb26faae",
    "ce68433986736de67d86c10ff62f0029cd9184dff47e688e94a05e84498488c3",
    "63c0ec750ae04d5d3d54d4d7d7e305b9fd55180b5eeb7247d461660b676e5cca",
    "cc07286117050c914e77de4feeae94beeffe2c13b3c5d58f3f87267e80dbfd7f",
    "5c34e31d95c46165d980f439e77c8a46282a4740a7ed70146b5243f8842b46ba",
    "966df2cbe3588ec66c81840fac1b58658a1cde58ddada1042087985bdc61ea0f",
    "05d6659675c8fb949b1bfd0cf4591889da35baa786cadf3924d7c8c47127c046",
    "99db9ee814455bb8b1c5b9f6f82d91fc55442254d2271f64f5cf2e11349d6333",
    "e0da0c4ce454cae52a47bb89e6b5aa487da6054a80436422958084cf16155a30",
    "2af16bdcdef1ff246b340af746a9f88a06008656f874d4b96de5ad42e52c6cc1",
    "36372a82a5f49d50519ff79e2431fa6bb4efad426e068022e7c8588145cd9beb",
    "2fb45589ba47e96e5c0205dc8d8b5ddc7c30a50c4fcdf43ce690903690182467",
    "b3b2e91a802ca85cbb9b89fc106955c42eb37e7bdcd55a638b92a5abd305e577",
    "420f70f0afab424e74042add96b6d01574d412b0f1d3bde8a41e5e30f881538d",
    "2ce753657863923a3f8de67c58c3abc339c9514683ff22b080bd311db787a309",
    "27a02d40cd1e5facfcbc76fe4c8101694e117932b2d7ffc061d8e96c76a78194",
    "668cd0330813e658417f66f238bf11f263f6ee1447f5484c2291de5de437960f",
    "8d399abdec7b7095ffd9ada50ccc96015b4db6f884e274d41adf545fae63c581",
    "75d48bf3c49dfc8826a63c1b42b902cb8864219dd71872ec3e0a33f3be51cf9d",
    "c1a92ed90d8c290de2c99d22cac218f11d9475d410061377384084c904f9d2be",
    "2050569a90884e0f356d4d10cef07cea2f1420d9507a051a4cc55a2bbb218702",
    "7d4773c3e59453d93df7f9bac553aa2d6f4949039aa9e96375cd71e973645b89",
    "e189edbd97ecdc28094197d01c01508b8391e6956306d819f9492cf221ffe69f",
    "b79915e4ab2840261cc95b97210a80da5bdf18de09206c02303ae35be8b7374e",
    "f4083e821be117af9627344a985d2f13971e3b32ab03352a1a890aa7e4929760",
    "8188ea24d448736710d6bd36ce4537ceecc9ccad68d7eea9ec672f52fe26ec60",
    "21a48ad22ec0b782e22326735d8f14801ac1ec383ab17b9d33c38a6b43251ea2",
    "fd91bf0a731248a2ca906da573db8a7cf1e4c947a514f78bf4883fe3e9d07c93",
    "5551f9be16f8853f27eaaba2ec2a562a874f9aca55e871918188c4b78045cf32",
    "7d29ace77080c02d43b2351a2cae7a0d2f86fb16b64799475d98d41e366e1717",
    "9b0677575a14742124033dc1557749254a9b5c9b6ba108477f75d26efcd953e8",
    "8da69e1464dc6ca2dc4908199b5150d4bafa7e62639d5f4a902546ca63e2160a",
    "63ca1e982a815023ffb43b63fe22af70fdc7a45d1191fa2c110940a9fb1383dc",
    "3956c48041b003cad7c237d94f34251717e0ebdf6292512f014d99f53eb06b05",
    "c3193fcc0c570566d98c9333a943b4372090f913fb8a6ed37082fac72f63580e",
    "c53a0e5fc625dfab8c0f843701def1e126f3c79c3f51a475e123f2d337bb4f1c",
    "df5b693e060f52207b3321bf52c9bccc6d5a1d1a3456f4353f8d638d2257e4f1",
    "d957f642fa8f77bf94736dc2894aaefda4d44cb2da0c0ba416d542e338dc5dc7",
    "dc3413436eb1d45e8f3dbb522abc3ac7616271e27a13d014941d3245bf108d81",
    "289715604a902e66e4a6ad355f1715eac14a0bb0a6d2432ac582379f759b636c",
    "d775d2b0fba32704de632f3de2d2a8b645d6041e0dab5a5d12cd7fb0faba8625",
    "4025d269a7edf37a9cea737bebc5d387a968d836d5030dc7b62a7ab03e3a5ac7",
    "642e07f2e2653ef80669c5d9f7aaefa45d5fe3b9001c956793049978cffcc1e9",
)


def _ds003871() -> OpenDataset:
    bold = tuple(
        _pinned(DS003871, file, digest, _TIMESCALES_REPO, f"Data/{file}",
                "MATLAB key 'ICA_timesereis' (sic): 295 time points x 60 group-ICA components, TR 2 s")
        for file, digest in zip(_BOLD_FILES, _BOLD_SHA256, strict=True)
    )
    groups = _pinned(DS003871, "global_int_df.csv",
                     "5abcebcba19c961ff2aed389fd09f56ee5a73f456427b340b4385d6e2c0a0045", _TIMESCALES_REPO,
                     "Result/global_int_df.csv",
                     "Subject 1-62, Group (Younger / Elder), Grobal_int (sic: global intrinsic timescale)")
    return OpenDataset(
        name=DS003871,
        title="Resting-state ICA time courses, younger and older adults (OpenNeuro ds003871)",
        origin="https://openneuro.org/datasets/ds003871",
        licence="ds003871: CC0",
        can_show=(
            "Connectivity code (covariance, tangent space) runs on real resting-state time series of "
            "younger and older adults; group-level differences between the two age groups."
        ),
        cannot_show=(
            "Per-person brain age: only group labels (younger / older) exist, no ages; the 60 components "
            "are group-ICA maps, not the Dosenbach regions the trial analysis uses."
        ),
        files=bold + (groups,),
    )


def _fcon1000() -> OpenDataset:
    table = _pinned(FCON1000, "fcon1000.csv",
                    "71958ab3cc5c29a26f810bd6cb3880a7e5feef44648490a8ebf1ef6120bc074a", _PCN_REPO,
                    "examples/resources/data/fcon1000.csv",
                    "1078 people, 23 sites: age, sex, FreeSurfer Destrieux thickness and subcortical volumes")
    return OpenDataset(
        name=FCON1000,
        title="1000 Functional Connectomes: cortical thickness (PCNtoolkit example data)",
        origin="https://fcon_1000.projects.nitrc.org/",
        licence="1000 Functional Connectomes (INDI): non-commercial research use",
        can_show=(
            "Age prediction, bias correction and site effects on real measurements from many sites, "
            "ages 7.9-85 (a few dozen people aged 60+)."
        ),
        cannot_show=(
            "Anything about functional connectivity: thickness is structural MRI. Few older adults; "
            "cross-sectional only."
        ),
        files=(table,),
    )


def _openneuro_transfer() -> OpenDataset:
    files = tuple(
        _pinned(TRANSFER, f"OpenNeuroTransfer_ct_{split}.csv", digest, _BRAINCHARTS_REPO,
                f"docs/OpenNeuroTransfer_ct_{split}.csv", f"{what} split: age, sex, site, Destrieux thickness")
        for split, digest, what in (
            ("ad", "6f47f58152b1ab2821c5b93f4fa9e81e8cc1abeeaa95f04019a8b89c3bd333f9", "adaptation (site calibration)"),
            ("te", "672fc3ba5934744e207af20718308d7b5e01a6a5979cbd87309954d82b134536", "test"),
        )
    )
    return OpenDataset(
        name=TRANSFER,
        title="OpenNeuro transfer set: cortical thickness (braincharts)",
        origin="https://github.com/predictive-clinical-neuroscience/braincharts",
        licence="OpenNeuro source datasets: CC0",
        can_show=(
            "Transfer of a thickness age model to new sites (adaptation split, then held-out test split), "
            "ages 5-73."
        ),
        cannot_show=(
            "Anything about functional connectivity (structural MRI); few people aged 60+. The splits are "
            "not fully independent: 9 children of ds003416 appear in both, and 19 twice in the test split, "
            "with identical thickness but different ages."
        ),
        files=files,
    )


#: Every open dataset, by name (= folder in the mirror and the cache).
REGISTRY: dict[str, OpenDataset] = {
    ds.name: ds for ds in (_development_fmri(), _ds003871(), _fcon1000(), _openneuro_transfer())
}


def get_file(dataset: str, file: str) -> OpenDataFile:
    """The registry entry of ``dataset/file``; a KeyError names the known choices."""
    if dataset not in REGISTRY:
        raise KeyError(f"unknown open dataset {dataset!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[dataset].file(file)


# --- fetching ---------------------------------------------------------------------------------

# sha256 of files already hashed, keyed by (path, size, mtime_ns): repeated fetches are cheap,
# and a file that changes on disk (new size or mtime) is hashed again.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cached_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = _sha256(path)
    return _VERIFIED[key]


def _cache_root() -> Path:
    """Download cache (git-ignored ``data/cache/open-data``)."""
    return cache_dir("open-data")


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


def _error(entry: OpenDataFile, problem: str, tried: str, fix: str) -> OpenDataError:
    return OpenDataError(
        f"open data {entry.dataset!r}, file {entry.file!r}: {problem}.\n"
        f"  tried: {tried}\n"
        f"  fix:   {fix}"
    )


def _check_hash(entry: OpenDataFile, path: Path, tried: str, fix: str, digest: str | None = None) -> None:
    digest = digest or _cached_sha256(path)
    if digest != entry.sha256:
        problem = f"sha256 mismatch (expected {entry.sha256}, got {digest})"
        raise _error(entry, problem, tried, fix)


def _from_mirror(entry: OpenDataFile, mirror: Path) -> Path:
    path = mirror / entry.dataset / entry.file
    tried = f"local mirror file {path} ({OPEN_DATA_ENV}={mirror})"
    if not path.is_file():
        raise _error(entry, "the file is missing from the local mirror", tried, _mirror_fix(entry))
    _check_hash(entry, path, tried, _mirror_fix(entry))
    return path


def _open_url(url: str):
    """Open ``url`` for reading (a seam the tests replace)."""
    return urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT)  # noqa: S310 (pinned https URL)


def _copy_url(url: str, out: BinaryIO) -> None:
    with _open_url(url) as response:
        for block in iter(lambda: response.read(1 << 20), b""):
            out.write(block)


def _download(entry: OpenDataFile, root: Path) -> Path:
    target = root / entry.dataset / entry.file
    if target.is_file():
        if _cached_sha256(target) == entry.sha256:
            return target
        target.unlink()  # a stale or damaged copy never stays in the cache
    if entry.url is None:
        tried = f"download cache {target} (the file cannot be downloaded)"
        raise _error(entry, "the file is not in the cache and has no public URL", tried, _mirror_fix(entry))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    tried = f"download of {entry.url} into {target}"
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_url(entry.url, out)
        _check_hash(entry, tmp, tried, _download_fix(entry), digest=_sha256(tmp))
        os.replace(tmp, target)  # atomic: the cache only ever holds verified files
    except OpenDataError:
        raise
    except (OSError, http.client.HTTPException, ValueError, RuntimeError) as exc:
        raise _error(entry, f"download failed ({type(exc).__name__}: {exc})", tried, _download_fix(entry)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def fetch(dataset: str, file: str) -> Path:
    """A verified local path of one registered open-data file.

    Parameters
    ----------
    dataset : str
        Dataset name, a key of :data:`REGISTRY` (e.g. ``"fcon1000-thickness"``).
    file : str
        File path relative to the dataset folder (e.g. ``"fcon1000.csv"``).

    Returns
    -------
    pathlib.Path
        With ``BRAINCLOCK_OPEN_DATA=DIR``: ``DIR/<dataset>/<file>`` (nothing is downloaded).
        Otherwise ``data/cache/open-data/<dataset>/<file>``, downloaded from the pinned raw
        URL if not already cached. Either way its sha256 matches the registry (hashes are
        remembered by path, size and modification time, so repeated calls are cheap).

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
    return _download(entry, _cache_root())


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


# --- development fMRI (ds000228, BASC-064 connectomes) ---------------------------------------

#: Rows of the feature file: the first 19 adults, then the first 71 children, each in
#: participant-ID order. INFERRED (see :func:`development_fmri_rows`).
DEV_FMRI_N_ADULTS = 19
DEV_FMRI_N_CHILDREN = 71


def _id_number(participant_id: pd.Series) -> pd.Series:
    return participant_id.str.extract(r"(\d+)$", expand=False).astype(int)


def development_fmri_rows(participants: pd.DataFrame) -> pd.DataFrame:
    """The participant behind each row of the BASC-064 feature file -- an INFERRED mapping.

    The published feature file carries no participant IDs. Its 90 rows are taken to be the
    first 19 adults (``sub-pixar123`` ... ``sub-pixar141``) followed by the first 71 children
    (``sub-pixar001`` ... ``sub-pixar071``), each in participant-ID order. Evidence, not
    documentation: with this order a classifier separates children from adults with
    cross-validated accuracy 0.97 and predicted age correlates with age (r about 0.67); the
    reverse order gives chance accuracy. Every result that uses these ages inherits this
    assumption.

    Parameters
    ----------
    participants : pandas.DataFrame
        ``participants.tsv`` of ds000228 (columns ``participant_id``, ``Age``, ``Gender``,
        ``Child_Adult``).

    Returns
    -------
    pandas.DataFrame
        90 rows in feature-file order: ``participant_id``, ``age`` (years), ``sex``
        ("F"/"M"), ``child_adult`` ("child"/"adult").
    """
    missing = {"participant_id", "Age", "Gender", "Child_Adult"} - set(participants.columns)
    if missing:
        raise ValueError(f"participants table lacks column(s) {sorted(missing)}")
    ordered = participants.assign(_num=_id_number(participants["participant_id"])).sort_values("_num")
    groups = []
    for label, n in (("adult", DEV_FMRI_N_ADULTS), ("child", DEV_FMRI_N_CHILDREN)):
        group = ordered[ordered["Child_Adult"] == label].head(n)
        if len(group) != n:
            raise ValueError(f"participants table has {len(group)} {label}s, need {n}")
        groups.append(group)
    rows = pd.concat(groups, ignore_index=True)
    return pd.DataFrame({
        "participant_id": rows["participant_id"].astype(str),
        "age": rows["Age"].astype(float),
        "sex": rows["Gender"].astype(str),
        "child_adult": rows["Child_Adult"].astype(str),
    })


def load_development_fmri() -> tuple[np.ndarray, pd.DataFrame]:
    """BASC-064 connectomes of 90 people from ds000228 with their (inferred) ages.

    The scans are movie watching, not rest; ages 3.5-39. The features are vectorised lower
    triangles (no diagonal) of 64 x 64 correlation matrices, in row-major order of
    ``numpy.tril_indices(64, k=-1)`` (nilearn's ``sym_matrix_to_vec(discard_diagonal=True)``);
    :func:`vector_to_matrix` turns them back into matrices.

    Returns
    -------
    features : numpy.ndarray, shape (90, 2016)
    participants : pandas.DataFrame
        One row per feature row, see :func:`development_fmri_rows` -- the row -> participant
        mapping is INFERRED, not published.
    """
    with np.load(fetch(DEV_FMRI, "MAIN2019_BASC064_subsamp_features.npz")) as npz:
        features = np.asarray(npz["a"], dtype=float)
    participants = pd.read_csv(fetch(DEV_FMRI, "participants.tsv"), sep="\t")
    rows = development_fmri_rows(participants)
    if features.shape[0] != len(rows):
        raise OpenDataError(
            f"open data {DEV_FMRI!r}: feature file has {features.shape[0]} rows but the inferred "
            f"mapping has {len(rows)}"
        )
    return features, rows


def vector_to_matrix(vectors: np.ndarray, *, diagonal: float = 1.0) -> np.ndarray:
    """Symmetric matrices from vectorised lower triangles without diagonal.

    Parameters
    ----------
    vectors : numpy.ndarray, shape (k,) or (m, k)
        ``k = n (n - 1) / 2`` values in ``numpy.tril_indices(n, k=-1)`` order (e.g. 2016 -> 64).
    diagonal : float
        Value put on the diagonal (1 for correlation matrices).

    Returns
    -------
    numpy.ndarray, shape (n, n) or (m, n, n)
    """
    vectors = np.asarray(vectors, dtype=float)
    k = vectors.shape[-1]
    n = int(round((1 + np.sqrt(1 + 8 * k)) / 2))
    if n * (n - 1) // 2 != k:
        raise ValueError(f"vectors: last dimension {k} is not n(n-1)/2 for any integer n")
    out = np.full(vectors.shape[:-1] + (n, n), diagonal, dtype=float)
    rows, cols = np.tril_indices(n, k=-1)
    out[..., rows, cols] = vectors
    out[..., cols, rows] = vectors
    return out


# --- ds003871 (resting-state ICA time courses, group labels only) ----------------------------

#: The CSV calls the older group "Elder"; the book says "Older".
_DS003871_GROUPS = {"Younger": "Younger", "Elder": "Older"}
_ICA_KEY = "ICA_timesereis"  # sic, as in the .mat files


def _load_ica(path: Path) -> np.ndarray:
    from scipy.io import loadmat

    content = loadmat(path)
    if _ICA_KEY not in content:
        raise OpenDataError(f"open data {DS003871!r}: {path.name} has no key {_ICA_KEY!r}")
    return np.asarray(content[_ICA_KEY], dtype=float)


def load_ds003871() -> tuple[list[np.ndarray], pd.DataFrame]:
    """Resting-state group-ICA time courses of 62 adults (ds003871), with group labels only.

    Returns
    -------
    timeseries : list of numpy.ndarray
        62 arrays of shape (295, 60): time points (TR 2 s) x group-ICA components, in subject
        order.
    subjects : pandas.DataFrame
        ``subject`` (1..62), ``group`` ("Younger" for 1-34, "Older" for 35-62; the source CSV
        says "Elder"), ``global_int`` (the source's global intrinsic neural timescale,
        column ``Grobal_int``). No per-person ages exist.
    """
    table = pd.read_csv(fetch(DS003871, "global_int_df.csv"))
    unknown = set(table["Group"]) - set(_DS003871_GROUPS)
    if unknown:
        raise OpenDataError(f"open data {DS003871!r}: global_int_df.csv has unknown Group value(s) {sorted(unknown)}")
    subjects = pd.DataFrame({
        "subject": table["Subject"].astype(int),
        "group": table["Group"].map(_DS003871_GROUPS),
        "global_int": table["Grobal_int"].astype(float),
    })
    timeseries = [_load_ica(fetch(DS003871, f"BOLD/sub{s:03d}_timecourses_ica.mat")) for s in subjects["subject"]]
    return timeseries, subjects


# --- cortical thickness tables ----------------------------------------------------------------

#: FreeSurfer 6 names in the OpenNeuro transfer files -> the FreeSurfer 5.3 names of fcon1000.csv.
#: The transfer files also carry the 5.3 names, but as all-zero placeholder columns.
_FS6_TO_FS53 = {
    **{
        f"{h}_{new}_thickness": f"{h}_{old}_thickness"
        for h in ("lh", "rh")
        for new, old in (
            ("G_Ins_lG&S_cent_ins", "G_Ins_lg&S_cent_ins"),
            ("S_intrapariet_and_P_trans", "S_intrapariet&P_trans"),
            ("S_oc_middle_and_Lunatus", "S_oc_middle&Lunatus"),
            ("S_oc_sup_and_transversal", "S_oc_sup&transversal"),
            ("S_oc-temp_med_and_Lingual", "S_oc-temp_med&Lingual"),
        )
    },
    "Left-Thalamus": "Left-Thalamus-Proper",
    "Right-Thalamus": "Right-Thalamus-Proper",
}
_ID_COLUMNS = ["participant_id", "age", "sex", "site"]


def _tidy_thickness(table: pd.DataFrame) -> pd.DataFrame:
    table = table.rename(columns={"sub_id": "participant_id"})
    return table[_ID_COLUMNS + [c for c in table.columns if c not in _ID_COLUMNS]].copy()


def load_fcon1000() -> pd.DataFrame:
    """FreeSurfer thickness and volumes of 1078 people from 23 sites (1000 Functional Connectomes).

    Returns
    -------
    pandas.DataFrame
        ``participant_id``, ``age`` (years), ``sex`` (0/1 as in the source; the source does not
        document the coding), ``site``, then 150 ``*_thickness`` columns (148 Destrieux regions
        + 2 hemisphere means, mm) and subcortical / global volumes, as in the source.
        Structural MRI, not fMRI. A thickness of 0 marks a region that was not measured
        (2 cells in the file).
    """
    return _tidy_thickness(pd.read_csv(fetch(FCON1000, "fcon1000.csv")))


def harmonise_thickness_names(table: pd.DataFrame) -> pd.DataFrame:
    """Give FreeSurfer-6-named columns the fcon1000 (FreeSurfer 5.3) names.

    Placeholder columns are dropped first: those named ``*.1`` and the 5.3-named columns a
    6-named column replaces (all zero in the OpenNeuro transfer files), then any column that
    is zero in every row. Tables without 6-named columns come back unchanged.
    """
    renames = {new: old for new, old in _FS6_TO_FS53.items() if new in table.columns}
    placeholders = [c for c in table.columns if c.endswith(".1") or c in renames.values()]
    if not renames and not placeholders:
        return table
    table = table.drop(columns=placeholders)
    numeric = table.select_dtypes("number")
    all_zero = [c for c in numeric.columns if (numeric[c] == 0).all()]
    return table.drop(columns=all_zero).rename(columns=renames)


def load_openneuro_transfer(split: str) -> pd.DataFrame:
    """Cortical thickness of people from 6 OpenNeuro datasets (braincharts transfer example).

    Parameters
    ----------
    split : {"ad", "te"}
        ``"ad"``: adaptation split (110 people, for site calibration); ``"te"``: test split (436).

    Returns
    -------
    pandas.DataFrame
        ``participant_id``, ``age``, ``sex`` (0/1 as in the source), ``site`` (OpenNeuro
        accession), ``sitenum``, thickness and volume columns with names harmonised to
        fcon1000 (see :func:`harmonise_thickness_names`; placeholder all-zero columns dropped).
        Rows are kept as published, which matters for validation: in ds003416 (a longitudinal
        child study) 19 IDs appear twice in the test split and 9 IDs appear in both splits,
        each time with identical thickness values but ages about a year apart (546 rows, 518
        distinct IDs over both splits). A value of 0 marks a region that was not measured.
    """
    if split not in ("ad", "te"):
        raise ValueError(f"split must be 'ad' (adaptation) or 'te' (test), got {split!r}")
    table = pd.read_csv(fetch(TRANSFER, f"OpenNeuroTransfer_ct_{split}.csv"))
    return _tidy_thickness(harmonise_thickness_names(table))


def thickness_columns(a: pd.DataFrame, b: pd.DataFrame, *, include_mean: bool = False) -> list[str]:
    """The regional thickness columns two tables share, in the order of ``a``.

    Parameters
    ----------
    a, b : pandas.DataFrame
        Thickness tables, e.g. :func:`load_fcon1000` and :func:`load_openneuro_transfer`
        (which already harmonises FreeSurfer 6 names; raw tables go through
        :func:`harmonise_thickness_names` here).
    include_mean : bool
        Also return the two hemisphere means (``*_MeanThickness_thickness``).

    Returns
    -------
    list of str
        148 Destrieux columns for fcon1000 vs the transfer set (150 with the means). Columns
        that are zero in every row of either table are excluded.
    """
    a, b = harmonise_thickness_names(a), harmonise_thickness_names(b)

    def usable(table: pd.DataFrame) -> set[str]:
        cols = [c for c in table.columns if c.endswith("_thickness")]
        return {c for c in cols if not (table[c] == 0).all()}

    shared = usable(a) & usable(b)
    columns = [c for c in a.columns if c in shared and (include_mean or "MeanThickness" not in c)]
    if not columns:
        raise ValueError("the two tables share no '*_thickness' column")
    return columns


# --- overview -----------------------------------------------------------------------------------


def _age_row(dataset: str, what: str, n: int, n_features: int, age: pd.Series | None, **extra) -> dict:
    has_age = age is not None
    return {
        "dataset": dataset,
        "what": what,
        "n_rows": n,
        "n_features": n_features,
        "per_person_age": has_age,
        "age_min": float(age.min()) if has_age else float("nan"),
        "age_max": float(age.max()) if has_age else float("nan"),
        "n_aged_60_plus": int((age >= 60).sum()) if has_age else pd.NA,
        **extra,
    }


def overview() -> pd.DataFrame:
    """One row per open dataset (split): size, features, ages -- loads every dataset.

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``what``, ``n_rows``, ``n_features``, ``per_person_age`` (bool),
        ``age_min``, ``age_max`` (NaN where ages do not exist), ``n_aged_60_plus`` (Int64,
        missing where ages do not exist),
        ``n_sites`` (Int64; missing for the fMRI sets, whose files do not record a site),
        ``modality``.
    """
    features, dev = load_development_fmri()
    series, groups = load_ds003871()
    fcon = load_fcon1000()
    rows = [
        _age_row(DEV_FMRI, "BASC-064 connectomes", len(dev), features.shape[1], dev["age"], n_sites=pd.NA,
                 modality="fMRI, movie watching"),
        _age_row(DS003871, "group-ICA time courses", len(groups), series[0].shape[1], None, n_sites=pd.NA,
                 modality="fMRI, rest"),
        _age_row(FCON1000, "Destrieux thickness", len(fcon), len(thickness_columns(fcon, fcon)), fcon["age"],
                 n_sites=fcon["site"].nunique(), modality="structural MRI"),
    ]
    for split in ("ad", "te"):
        table = load_openneuro_transfer(split)
        rows.append(_age_row(f"{TRANSFER} ({split})", "Destrieux thickness", len(table),
                             len(thickness_columns(fcon, table)), table["age"],
                             n_sites=table["site"].nunique(), modality="structural MRI"))
    return pd.DataFrame(rows).astype({"n_aged_60_plus": "Int64", "n_sites": "Int64"})
