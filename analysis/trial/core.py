"""The :class:`Trial` and :class:`Reference` objects: simulated, or loaded from a directory.

Time series are generated lazily, one scan at a time, from an independent seeded stream per
scan, so any subset is cheap and bit-identical to the same scans generated in a full pass.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from analysis._paths import TRIAL_DIR_ENV, env_path
from analysis._series import SeriesSource
from analysis.atlas import dosenbach_atlas
from analysis.trial import io
from analysis.trial import simulator as sim
from analysis.trial.assumptions import TrialAssumptions
from analysis.trial.design import DESIGN_FILE, LISA, TrialDesign, TrialDesignError
from analysis.trial.io import NOT_AVAILABLE, TrialDataError

__all__ = ["NOT_AVAILABLE", "Trial", "Reference", "simulate_trial", "simulate_reference", "load_trial",
           "load_default_trial"]


@dataclass(eq=False)
class Trial:
    """A randomised trial: tables of people and visits, the atlas, and lazy ROI time series.

    Attributes
    ----------
    participants : pandas.DataFrame
        One row per randomised person: ``participant_id``, ``arm`` (a label of ``design``),
        ``sex`` (F/M), ``age`` (baseline, y) and the optional ``bmi``, ``chair_stand_30s``,
        ``stratum`` (all present in the synthetic trial).
    visits : pandas.DataFrame
        One row per person x visit month of ``design`` (LISA: 0, 12, 24): ``attended``, ``age``,
        ``mri_usable``, ``mean_fd_mm``, ``n_volumes`` and the optional
        ``knee_extensor_mvc_nm``, ``adherence_sessions_per_week`` (LISA: training arms, month
        12), ``self_training`` (LISA: training arms attending month 24), ``mri_acquired``. Ask
        :meth:`has_column` before using an optional column.
    atlas : pandas.DataFrame
        ``roi, x, y, z, network`` [, ``region``] (synthetic: Dosenbach 2010, 160 ROIs).
    source : str
        ``"synthetic"`` or ``"real"``.
    truth : pandas.DataFrame or None
        Synthetic only: latent brain age and its components per person x month.
    assumptions : TrialAssumptions or None
        Synthetic only: the assumptions the trial was simulated with.
    seed : int or None
        Synthetic only: the seed.
    design : TrialDesign
        Arms, control, visits, primary and follow-up visits (``trial.json``; LISA's for the
        synthetic trial).
    path : Path or None
        The directory read (loaded trials only).
    """

    participants: pd.DataFrame
    visits: pd.DataFrame
    atlas: pd.DataFrame
    source: str
    _reader: Callable[[str, int], np.ndarray] = field(repr=False)
    truth: pd.DataFrame | None = None
    assumptions: TrialAssumptions | None = None
    seed: int | None = None
    design: TrialDesign = LISA
    path: Path | None = None
    _digest: str | None = field(default=None, repr=False)

    def has_column(self, name: str) -> bool:
        """Whether ``participants`` or ``visits`` has column ``name`` with at least one value.

        Optional measurements (strength, adherence, self-training, BMI, ...) may be absent from
        real trial data; a page asks this first and otherwise says :data:`NOT_AVAILABLE`.
        """
        for table in (self.participants, self.visits):
            if name in table.columns:
                return bool(table[name].notna().any())
        return False

    @property
    def digest(self) -> str | None:
        """sha256 of a loaded trial's files (tables, design, QC, time series used); None otherwise.

        Computed from the file bytes on first use (no parsing), then kept.
        """
        if self.path is None:
            return None
        if self._digest is None:
            names = [n for n in (DESIGN_FILE, "participants.tsv", "visits.tsv", "atlas.tsv", "qc.tsv")
                     if (self.path / n).is_file()]
            names += [f"timeseries/{io.timeseries_name(p, m)}"
                      for p, m in zip(self.scans["participant_id"], self.scans["month"])]
            digest = hashlib.sha256()
            for name in names:
                digest.update(f"{name}\n".encode())
                digest.update(hashlib.sha256((self.path / name).read_bytes()).digest())
            self._digest = digest.hexdigest()
        return self._digest

    @property
    def scans(self) -> pd.DataFrame:
        """The visits with a usable rs-fMRI scan, in (participant_id, month) order."""
        scans = self.visits[self.visits["mri_usable"]].merge(
            self.participants[["participant_id", "arm", "sex"]], on="participant_id", how="left")
        return scans.reset_index(drop=True)

    @property
    def roi_names(self) -> list[str]:
        return self.atlas["roi"].tolist()

    def timeseries(self, participant_id: str, month: int) -> np.ndarray:
        """The (n_volumes, n_rois) float64 time series of one usable scan."""
        row = self.visits[(self.visits["participant_id"] == participant_id) & (self.visits["month"] == month)]
        if row.empty:
            raise KeyError(f"no visit for participant_id={participant_id!r}, month={month!r}")
        if not bool(row["mri_usable"].iat[0]):
            raise KeyError(f"participant_id={participant_id!r}, month={month!r} has no usable scan")
        return self._reader(participant_id, int(month))

    def scans_identity(self, scans: pd.DataFrame | None = None) -> str | None:
        """Name of a synthetic trial's ``scans`` (default :attr:`scans`) for the disk caches.

        Seed, assumptions, atlas and the (participant, month) scans taken fix a synthetic
        trial's time series, so covariances keyed by this name are computed once per build
        and shared by every page that asks for them; None for real data (never cached by name).
        """
        if self.source != "synthetic" or self.seed is None or self.assumptions is None:
            return None
        scans = self.scans if scans is None else scans
        keys = "|".join(f"{p}:{int(m)}" for p, m in zip(scans["participant_id"], scans["month"]))
        return (f"trial:seed={self.seed}:{self.assumptions!r}:"
                f"atlas={pd.util.hash_pandas_object(self.atlas, index=False).sum()}:"
                f"scans={hashlib.sha256(keys.encode()).hexdigest()}")

    def iter_timeseries(self, scans: pd.DataFrame | None = None) -> SeriesSource:
        """Time series of ``scans`` (default :attr:`scans`), in row order (readable in any order)."""
        scans = self.scans if scans is None else scans
        keys = [(pid, int(month)) for pid, month in zip(scans["participant_id"], scans["month"])]
        return SeriesSource(len(keys), lambda i: self.timeseries(*keys[i]))

    def write(self, path: str | Path) -> Path:
        """Write the real-trial layout to ``path`` (created), ``trial.json`` included.

        :func:`load_trial` reads it back.
        """
        path = Path(path)
        (path / "timeseries").mkdir(parents=True, exist_ok=True)
        self.design.to_json(path / DESIGN_FILE)
        io.write_table(self.participants, path / "participants.tsv")
        io.write_table(self.visits, path / "visits.tsv")
        io.write_table(self.atlas, path / "atlas.tsv")
        names = self.roi_names
        for pid, month in zip(self.scans["participant_id"], self.scans["month"]):
            data = self.timeseries(pid, int(month))
            io.write_timeseries(data, names, path / "timeseries" / io.timeseries_name(pid, month))
        return path

    def __repr__(self) -> str:
        return (f"Trial(source={self.source!r}, participants={len(self.participants)}, "
                f"usable scans={int(self.visits['mri_usable'].sum())})")


@dataclass(eq=False)
class Reference:
    """A healthy reference cohort (synthetic) for training a brain-age clock.

    Attributes
    ----------
    participants : pandas.DataFrame
        ``participant_id`` (R0001...), ``age``, ``sex``, ``mean_fd_mm``, ``n_volumes``.
    truth : pandas.DataFrame
        ``participant_id``, ``age``, ``brain_age`` (latent).
    atlas : pandas.DataFrame
    """

    participants: pd.DataFrame
    truth: pd.DataFrame
    atlas: pd.DataFrame
    _model: sim.SignalModel = field(repr=False)
    seed: int = 0
    source: str = "synthetic"
    _index: dict | None = field(default=None, repr=False)

    def timeseries(self, participant_id: str) -> np.ndarray:
        """The (n_volumes, n_rois) float64 time series of one reference person."""
        if self._index is None:
            self._index = {pid: i for i, pid in enumerate(self.participants["participant_id"])}
        if participant_id not in self._index:
            raise KeyError(f"unknown reference participant_id={participant_id!r}")
        i = self._index[participant_id]
        return self._model.scan(self.seed, sim.KIND_REFERENCE, i, 0, float(self.truth["brain_age"].iat[i]),
                                float(self.participants["mean_fd_mm"].iat[i]), 0.0,
                                int(self.participants["n_volumes"].iat[i]))

    def iter_timeseries(self, participants: pd.DataFrame | None = None) -> SeriesSource:
        """Time series of every (or the given) reference person, in row order.

        The iterator of the whole synthetic cohort carries ``cache_identity`` (seed, size,
        assumptions): :func:`analysis.connectome.shrunk_covariances` then reuses covariances
        already computed on disk instead of simulating the cohort again.
        """
        ids = (self.participants if participants is None else participants)["participant_id"]
        identity = None
        if participants is None and self.source == "synthetic" and self.seed is not None:
            # the atlas too: two cohorts of one seed and size on different ROI sets differ
            identity = (f"reference:n={len(ids)}:seed={self.seed}:{self._model.a!r}:"
                        f"{pd.util.hash_pandas_object(self.participants, index=False).sum()}:"
                        f"atlas={pd.util.hash_pandas_object(self.atlas, index=False).sum()}")
        ids = list(ids)
        return SeriesSource(len(ids), lambda i: self.timeseries(ids[i]), identity)

    def __repr__(self) -> str:
        return f"Reference(n={len(self.participants)}, seed={self.seed})"


def _assumptions(assumptions: TrialAssumptions | None, overrides: dict[str, Any]) -> TrialAssumptions:
    base = TrialAssumptions() if assumptions is None else assumptions
    if not isinstance(base, TrialAssumptions):
        raise TypeError(f"assumptions must be a TrialAssumptions, got {type(base).__name__}")
    return base.with_overrides(**overrides)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def simulate_trial(seed: int = 0, *, assumptions: TrialAssumptions | None = None, **overrides: Any) -> Trial:
    """Simulate the synthetic LISA trial.

    Parameters
    ----------
    seed : int
        Seed of every random stream; the same seed gives bit-identical data.
    assumptions : TrialAssumptions, optional
        Base assumptions (default ``TrialAssumptions()``; ``TrialAssumptions.null()`` for a
        trial without any arm effect).
    **overrides
        Fields of :class:`TrialAssumptions` to replace, e.g. ``effect_12m_hrt=0``.

    Returns
    -------
    Trial
        ``source == "synthetic"``, with ``truth`` and ``assumptions``.
    """
    seed = _check_seed(seed)
    a = _assumptions(assumptions, overrides)
    tables = sim.simulate_tables(seed, a)
    atlas = dosenbach_atlas()
    model = sim.SignalModel(a, atlas)
    people, truth, visits = tables["participants"], tables["truth"], tables["visits"]
    index = {pid: i for i, pid in enumerate(people["participant_id"])}
    brain_age = truth.set_index(["participant_id", "month"])["brain_age"]
    fd = visits.set_index(["participant_id", "month"])["mean_fd_mm"]
    is_hrt = dict(zip(people["participant_id"], people["arm"] == "HRT"))
    boost = dict(zip(sim.MONTHS, (0.0, a.prefrontal_hrt_12m, a.prefrontal_hrt_24m)))

    def reader(pid: str, month: int) -> np.ndarray:
        return model.scan(seed, sim.KIND_TRIAL, index[pid], month, float(brain_age[(pid, month)]),
                          float(fd[(pid, month)]), boost[month] if is_hrt[pid] else 0.0, a.n_volumes)

    return Trial(people, visits, atlas, "synthetic", reader, truth=truth, assumptions=a, seed=seed)


def simulate_reference(n: int = 2433, seed: int = 0, *, assumptions: TrialAssumptions | None = None,
                       **overrides: Any) -> Reference:
    """Simulate healthy adults across adulthood from the trial's generative model (no arm effect).

    Parameters
    ----------
    n : int
        Number of people (default 2,433, the size of the published clock's training set).
    seed : int
        Seed; independent of (and not colliding with) the trial's streams.
    assumptions, **overrides
        As for :func:`simulate_trial`; ``reference_age_min``/``reference_age_max`` set the span.
    """
    seed = _check_seed(seed)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    a = _assumptions(assumptions, overrides)
    table = sim.simulate_reference_table(seed, a, int(n))
    atlas = dosenbach_atlas()
    model = sim.SignalModel(a, atlas)
    people = table.drop(columns="brain_age")
    truth = table[["participant_id", "age", "brain_age"]].copy()
    return Reference(people, truth, atlas, model, seed=seed)


def load_trial(path: str | Path, *, check_timeseries: bool = True) -> Trial:
    """Read and validate a trial directory in the documented layout.

    Parameters
    ----------
    path : str or Path
        Folder holding ``trial.json``, ``participants.tsv``, ``visits.tsv``, ``atlas.tsv``,
        ``timeseries/`` and optionally ``qc.tsv``.
    check_timeseries : bool
        Read every time-series file now and check its values (NaN, constant signals, length).
        Headers and file presence are always checked; values are checked again on every read.

    Returns
    -------
    Trial
        ``source == "real"``, ``design`` from ``trial.json``; with ``qc.tsv``, ``mean_fd_mm``
        and ``n_volumes`` (its ``n_volumes_kept``) merged into ``visits``.

    Raises
    ------
    TrialDataError
        On any broken rule, naming file, row, column and rule. Nothing is dropped or coerced.
        :class:`TrialDesignError` (a :class:`TrialDataError`) when ``trial.json`` is missing or
        invalid.
    """
    path = Path(path)
    if not path.is_dir():
        raise TrialDataError(str(path), "trial directory must exist")
    design = _read_design(path)
    people = io.read_table(path / "participants.tsv", io.participant_columns(design))
    io.check_participants(people)
    has_qc = (path / "qc.tsv").is_file()
    visits = io.read_table(path / "visits.tsv", io.visit_columns(design, qc=has_qc))
    if has_qc:
        visits = io.merge_qc(visits, io.read_trial_qc(path / "qc.tsv", design))
    io.check_visits(visits, people, design)
    atlas = io.read_table(path / "atlas.tsv", io.ATLAS_COLUMNS)
    io.check_atlas(atlas)
    names = atlas["roi"].tolist()
    usable = visits[visits["mri_usable"]]
    expected = {io.timeseries_name(p, m) for p, m in zip(usable["participant_id"], usable["month"])}
    _check_timeseries_files(path / "timeseries", expected, names)
    n_volumes = {(p, int(m)): int(v) for p, m, v in zip(usable["participant_id"], usable["month"], usable["n_volumes"])}

    def reader(pid: str, month: int) -> np.ndarray:
        file = path / "timeseries" / io.timeseries_name(pid, month)
        return io.read_timeseries(file, names, n_volumes[(pid, month)])

    trial = Trial(people, visits, atlas, "real", reader, design=design, path=path)
    if check_timeseries:
        for _ in trial.iter_timeseries():
            pass
    return trial


def _read_design(path: Path) -> TrialDesign:
    if not (path / DESIGN_FILE).is_file():
        raise TrialDesignError(
            DESIGN_FILE, None, "file must exist",
            detail=(f"expected {path / DESIGN_FILE}: the trial's arms, control and visit months. Write one "
                    f"with analysis.trial.TrialDesign(...).to_json(DIR) -- for LISA's design "
                    f"analysis.trial.LISA.to_json(DIR) -- or copy the example in data/README.md"))
    return TrialDesign.from_json(path / DESIGN_FILE)


def _check_timeseries_files(folder: Path, expected: set[str], names: list[str]) -> None:
    present = {p.name for p in folder.glob("*_timeseries.tsv")} if folder.is_dir() else set()
    for name in sorted(expected - present):
        raise TrialDataError(f"timeseries/{name}", "time-series file must exist for a scan marked usable",
                             column="mri_usable", detail="visits.tsv marks this scan usable")
    for name in sorted(present - expected):
        raise TrialDataError(f"timeseries/{name}", "time-series file only for scans marked usable in visits.tsv",
                             column="mri_usable")
    for name in sorted(expected):
        with open(folder / name) as fh:
            io.check_header(fh.readline().rstrip("\n").split("\t"), names, f"timeseries/{name}")


def load_default_trial(seed: int = 0) -> Trial:
    """The real trial if ``BRAINCLOCK_TRIAL_DIR`` is set, else the synthetic trial of ``seed``."""
    path = env_path(TRIAL_DIR_ENV)
    return load_trial(path) if path is not None else simulate_trial(seed)
