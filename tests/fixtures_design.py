"""Test data for a trial that is not LISA: two arms, visits 0/6/12, a 60-ROI atlas, fewer columns.

:func:`write_two_arm_trial` derives it from the synthetic LISA simulator, so its numbers are
plausible and it costs seconds, but nothing of LISA's design survives: arms ``EX`` (exercise)
and ``CTRL`` (control; LISA's HRT and CON, MIT dropped), visits 0, 6 and 12 months (LISA's 0, 12
and 24; primary 6, follow-up 12), a 60-ROI subset of the Dosenbach atlas (networks and the
``region`` column kept, prefrontal ROIs included), no inclusion age range, and no strength,
self-training, BMI, chair-stand, stratum or ``mri_acquired`` columns (pages must say "not
available in these data"). Mean FD and volume counts come from ``qc.tsv`` (as ``python -m
analysis extract`` writes it), not from ``visits.tsv``. A matching reference cohort (same 60
ROIs) is written with :func:`analysis.trial.write_reference`; it is labelled synthetic (it is).

Used by ``tests/unit/test_other_design.py`` and ``tests/notebooks/test_other_design.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.atlas import prefrontal_mask
from analysis.trial import Arm, TrialDesign, simulate_reference, simulate_trial, write_reference
from analysis.trial import io as trial_io

#: The design of the two-arm trial.
TWO_ARM = TrialDesign(arms=(Arm("EX", "Supervised exercise"), Arm("CTRL", "Control (usual care)")),
                      control="CTRL", visits=(0, 6, 12), primary_visit=6, followup_visits=(12,))
ARM_MAP = {"HRT": "EX", "CON": "CTRL"}
MONTH_MAP = {0: 0, 12: 6, 24: 12}
#: Optional columns the two-arm trial leaves out.
DROPPED = ("bmi", "chair_stand_30s", "stratum", "knee_extensor_mvc_nm", "self_training", "mri_acquired")
N_PREFRONTAL = 8


def roi_subset(atlas: pd.DataFrame, n_rois: int = 60) -> np.ndarray:
    """Indices of ``n_rois`` ROIs: the first :data:`N_PREFRONTAL` prefrontal ones, the rest spread out."""
    pfc = np.flatnonzero(prefrontal_mask(atlas))[:N_PREFRONTAL]
    others = np.setdiff1d(np.arange(len(atlas)), pfc)
    spread = others[np.linspace(0, len(others) - 1, n_rois - len(pfc)).round().astype(int)]
    return np.sort(np.concatenate([pfc, spread]))


class _Subset:
    """A reference cohort restricted to some ROIs (what ``write_reference`` needs)."""

    def __init__(self, reference, rois: np.ndarray):
        self.participants = reference.participants
        self.atlas = reference.atlas.iloc[rois].reset_index(drop=True)
        self.source, self.seed = reference.source, reference.seed
        self._reference, self._rois = reference, rois

    def timeseries(self, participant_id: str) -> np.ndarray:
        return self._reference.timeseries(participant_id)[:, self._rois]


def write_two_arm_trial(path_trial: str | Path, path_reference: str | Path, *, n_per_arm: int = 30,
                        n_reference: int = 150, n_rois: int = 60, n_volumes: int = 150,
                        seed: int = 0) -> tuple[Path, Path]:
    """Write the two-arm trial and its reference cohort; returns ``(path_trial, path_reference)``.

    Parameters
    ----------
    path_trial, path_reference : str or Path
        Output directories (created).
    n_per_arm : int
        People per arm (before attendance: about 93% attend month 6, 88% month 12).
    n_reference : int
        Reference adults (ages 18-90).
    n_rois : int
        ROIs kept from the Dosenbach atlas (at least :data:`N_PREFRONTAL` + 2).
    n_volumes : int
        Volumes per scan.
    seed : int
        Seed of the simulated trial and reference.
    """
    path_trial, path_reference = Path(path_trial), Path(path_reference)
    att12, att24 = round(0.93 * n_per_arm), round(0.88 * n_per_arm)
    lisa = simulate_trial(seed, arm_sizes=(n_per_arm,) * 3, attended_12m=(att12,) * 3,
                          attended_24m=(att24,) * 3, n_volumes=n_volumes)
    rois = roi_subset(lisa.atlas, n_rois)
    people = lisa.participants[lisa.participants["arm"].isin(ARM_MAP)].copy()
    people["arm"] = people["arm"].map(ARM_MAP)
    people = people.drop(columns=[c for c in DROPPED if c in people.columns]).reset_index(drop=True)
    visits = lisa.visits[lisa.visits["participant_id"].isin(people["participant_id"])].copy()
    base_age = visits["participant_id"].map(people.set_index("participant_id")["age"])
    jitter = visits["age"] - base_age - visits["month"] / 12
    visits["month"] = visits["month"].map(MONTH_MAP).astype(np.int64)
    visits["age"] = np.round(base_age + visits["month"] / 12 + jitter, 2)
    lisa_month = {new: old for old, new in MONTH_MAP.items()}
    scans = visits[visits["mri_usable"]]
    qc = pd.DataFrame({
        "participant_id": scans["participant_id"].to_numpy(), "session": scans["month"].astype(str).to_numpy(),
        "mean_fd_mm": scans["mean_fd_mm"].to_numpy(), "n_volumes": scans["n_volumes"].astype(int).to_numpy(),
        "n_volumes_kept": scans["n_volumes"].astype(int).to_numpy(), "n_scrubbed": 0,
        "strategy": "synthetic (no scrubbing)", "source_file": "n/a"})
    visits = visits.drop(columns=[c for c in (*DROPPED, "mean_fd_mm", "n_volumes") if c in visits.columns])
    (path_trial / "timeseries").mkdir(parents=True, exist_ok=True)
    TWO_ARM.to_json(path_trial)
    trial_io.write_table(people, path_trial / "participants.tsv")
    trial_io.write_table(visits.reset_index(drop=True), path_trial / "visits.tsv")
    trial_io.write_table(qc, path_trial / "qc.tsv")
    atlas = lisa.atlas.iloc[rois].reset_index(drop=True)
    trial_io.write_table(atlas, path_trial / "atlas.tsv")
    names = atlas["roi"].tolist()
    for pid, month in zip(scans["participant_id"], scans["month"]):
        data = lisa.timeseries(pid, lisa_month[int(month)])[:, rois]
        trial_io.write_timeseries(data, names, path_trial / "timeseries" / trial_io.timeseries_name(pid, month))
    reference = simulate_reference(n_reference, seed=seed, n_volumes=n_volumes)
    write_reference(_Subset(reference, rois), path_reference)
    return path_trial, path_reference
