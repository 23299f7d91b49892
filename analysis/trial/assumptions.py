"""Every assumption of the synthetic LISA trial, named, documented and overridable.

Each field of :class:`TrialAssumptions` carries its source in ``metadata["source"]``:
a publication (see ``docs/published-numbers.md``) or ``"assumption: not published"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import pandas as pd

_NP = "assumption: not published"


def _a(default: Any, source: str, doc: str) -> Any:
    return field(default=default, metadata={"source": source, "doc": doc})


@dataclass(frozen=True)
class TrialAssumptions:
    """Parameters of the synthetic LISA trial and reference cohort.

    Every field is documented with its meaning and source; :meth:`describe` lists them as a
    table. Pass overrides as keyword arguments to :func:`analysis.trial.simulate_trial`.
    """

    # --- cohort and randomisation --------------------------------------------------------
    arm_sizes: tuple = _a((149, 154, 148), "Gylling 2020a; Eriksen 2016 (451 randomised)",
                          "People randomised to HRT, MIT, CON")
    attended_12m: tuple = _a((143, 144, 132), "Gylling 2020a (ITT 419)",
                             "People attending the 12-month visit per arm (HRT, MIT, CON)")
    attended_24m: tuple = _a((137, 135, 126), "total 398: Gylling 2020b; split per arm: " + _NP,
                             "People attending the 24-month visit per arm (HRT, MIT, CON)")
    age_min: float = _a(62.0, "Eriksen 2016 (inclusion 62-70)", "Youngest age at inclusion (y)")
    age_max: float = _a(70.99, "Eriksen 2016 (inclusion 62-70)", "Oldest age at inclusion (y)")
    age_mean: float = _a(64.5, "calibrated to mean ~66, SD ~2.5 after truncation (Gylling 2020a)",
                         "Location of baseline age before truncation to the inclusion range (y)")
    age_sd: float = _a(5.0, "calibrated to mean ~66, SD ~2.5 after truncation (Gylling 2020a)",
                       "Scale of baseline age before truncation to the inclusion range (y)")
    female_fraction: float = _a(0.61, "Gylling 2020a (61% women)", "Fraction of women")
    bmi_mean: float = _a(26.0, _NP, "Mean BMI (kg/m2)")
    bmi_sd: float = _a(4.0, _NP, "SD of BMI (kg/m2)")
    chair_stand_mean: float = _a(13.5, _NP, "Mean 30-s chair stand count")
    chair_stand_sd: float = _a(3.5, _NP, "SD of 30-s chair stand count")
    # --- strength (isometric knee-extensor MVC) --------------------------------------------
    mvc_female_mean: float = _a(124.0, "calibrated to HRT baseline 149.7 +- 51.5 Nm (Bloch-Ibenfeldt 2024)",
                                "Mean baseline MVC of women (Nm)")
    mvc_female_sd: float = _a(36.0, "calibrated to Bloch-Ibenfeldt 2024", "SD of baseline MVC of women (Nm)")
    mvc_male_mean: float = _a(190.0, "calibrated to Bloch-Ibenfeldt 2024", "Mean baseline MVC of men (Nm)")
    mvc_male_sd: float = _a(42.0, "calibrated to Bloch-Ibenfeldt 2024", "SD of baseline MVC of men (Nm)")
    mvc_age_slope: float = _a(-0.01, _NP, "Relative MVC change per year of age above the mean age")
    gain_12m_hrt: float = _a(0.10, "direction: Gylling 2020a; size calibrated so HRT is ~+7% at 24 m (Gylling 2020b)",
                             "Mean relative MVC change over year 1, HRT")
    gain_12m_mit: float = _a(0.02, "direction: Gylling 2020a; size " + _NP, "Mean relative MVC change over year 1, MIT")
    gain_12m_con: float = _a(-0.02, "direction: Gylling 2020a; size " + _NP, "Mean relative MVC change over year 1, CON")
    year2_change_self_training: float = _a(-0.01, "Gylling 2020b (-1%)",
                                           "Mean relative MVC change over year 2, trainees who kept training")
    year2_change_stopped: float = _a(-0.06, "Gylling 2020b (-6%)",
                                     "Mean relative MVC change over year 2, trainees who stopped")
    year2_change_con: float = _a(-0.02, _NP, "Mean relative MVC change over year 2, CON")
    self_training_fraction: float = _a(65 / 265, "Gylling 2020b (65 of 265 trainees)",
                                       "Fraction of trainees attending at 24 m who kept training on their own")
    strength_response_sd: float = _a(0.08, _NP, "SD of individual relative MVC change per year")
    mvc_measurement_sd: float = _a(0.05, _NP, "Relative SD of MVC measurement error per visit")
    # --- adherence and dropout -------------------------------------------------------------
    adherence_planned: float = _a(3.0, "Eriksen 2016 (3 sessions/week)", "Planned sessions per week")
    adherence_alpha: float = _a(6.3, "calibrated to 83% >= 2 sessions/week (Gylling 2020a)",
                                "Beta(alpha, beta) shape of adherence / planned")
    adherence_beta: float = _a(1.6, "calibrated to 83% >= 2 sessions/week (Gylling 2020a)",
                               "Beta(alpha, beta) shape of adherence / planned")
    dropout_age_logodds: float = _a(0.10, _NP, "Log-odds of dropout per year of baseline age")
    dropout_strength_logodds: float = _a(-0.30, _NP, "Log-odds of dropout per SD of baseline MVC")
    dropout_adherence_logodds: float = _a(-0.80, _NP,
                                          "Log-odds of dropout per SD of adherence (training arms)")
    dropout_no_mri_logodds: float = _a(2.0, "calibrated so ~276+ keep MRI at all visits (Gonzalez-Gomez 2026 / Demnitz group: 276 at 4 time points); " + _NP,
                                       "Log-odds of dropout for people not in the MRI sub-study")
    # --- MRI availability and head motion --------------------------------------------------
    mri_usable_baseline: int = _a(309, "Gonzalez-Gomez 2026 (press: 309 LISA participants)",
                                  "Usable rs-fMRI scans at baseline")
    mri_motion_excluded_fraction: float = _a(0.5, _NP,
                                             "Fraction of high-motion baseline people who were scanned (then excluded)")
    mri_followup_missed: float = _a(0.02, _NP, "Probability an MRI-eligible attendee misses the follow-up scan")
    fd_exclusion_mm: float = _a(0.5, "common rs-fMRI QC threshold; " + _NP, "Mean FD above which a scan is unusable")
    fd_median_mm: float = _a(0.16, _NP, "Median mean framewise displacement at age 66 (mm)")
    fd_person_sd: float = _a(0.35, _NP, "SD of a person's stable log mean FD")
    fd_visit_sd: float = _a(0.20, _NP, "SD of log mean FD between visits")
    fd_age_slope: float = _a(0.012, _NP, "Change in log mean FD per year of age")
    # --- latent brain age ------------------------------------------------------------------
    effect_12m_hrt: float = _a(-1.40, "Gonzalez-Gomez 2026 (press: HRT -1.40 y)", "Arm effect on brain age at 12 m vs CON (y)")
    effect_12m_mit: float = _a(-1.39, "Gonzalez-Gomez 2026 (press: MIT -1.39 y)", "Arm effect on brain age at 12 m vs CON (y)")
    effect_24m_hrt: float = _a(-2.0, "Gonzalez-Gomez 2026 (press: about -2 y)", "Arm effect on brain age at 24 m vs CON (y)")
    effect_24m_mit: float = _a(-2.0, "Gonzalez-Gomez 2026 (press: about -2 y)", "Arm effect on brain age at 24 m vs CON (y)")
    strength_coupling: float = _a(-0.05, "sign: Gonzalez-Gomez 2026 (press); size " + _NP,
                                  "Brain-age change (y) per percentage point of MVC change beyond the arm mean")
    brain_age_gap_sd: float = _a(3.5, "size calibrated with the clock (MAE 5-8 y); " + _NP, "SD of the stable individual brain-age gap (y)")
    brain_age_visit_sd: float = _a(0.5, _NP, "SD of visit-to-visit brain-age noise (y)")
    # --- resting-state time series ---------------------------------------------------------
    n_volumes: int = _a(250, _NP + " (typical 8-10 min rs-fMRI)", "Volumes per scan")
    tr_s: float = _a(2.0, _NP, "Repetition time (s)")
    ar1: float = _a(0.4, _NP, "AR(1) coefficient of every ROI signal (temporal autocorrelation)")
    age_center: float = _a(55.0, _NP, "Brain age at which the network loadings take their base values (y)")
    age_scale: float = _a(20.0, _NP, "Brain-age scale of the segregation change (y)")
    within_loading: float = _a(0.8, _NP, "Base loading of an ROI on its own network signal")
    segregation_decline: float = _a(0.095, "direction: Chan 2014, Geerligs 2015; size calibrated (clock MAE)",
                                    "Log-decline of within-network loading per age_scale of brain age")
    between_loading: float = _a(0.4, _NP, "Base loading of an ROI on the shared between-network signal")
    integration_rise: float = _a(0.095, "direction: Chan 2014, Geerligs 2015; size calibrated (clock MAE)",
                                 "Log-rise of between-network loading per age_scale of brain age")
    roi_age_sensitivity_sd: float = _a(0.5, _NP, "SD across ROIs of the relative strength of the age change")
    fingerprint_rank: int = _a(6, _NP, "Rank of a person's stable connectivity fingerprint")
    fingerprint_sd: float = _a(0.80, "calibrated (clock MAE 5-8 y, r 0.7-0.85)", "Loading SD of the fingerprint")
    session_rank: int = _a(4, _NP, "Rank of the session-specific noise")
    session_sd: float = _a(0.60, "calibrated (clock MAE 5-8 y, r 0.7-0.85)", "Loading SD of session noise")
    motion_sd_per_mm: float = _a(1.0, _NP, "Loading of the motion signal per mm of mean FD")
    unique_sd: float = _a(1.0, _NP, "SD of ROI-specific noise")
    prefrontal_hrt_12m: float = _a(0.30, "direction: Gonzalez-Gomez 2026 (press); size " + _NP,
                                   "Loading of an extra shared prefrontal signal, HRT at 12 m")
    prefrontal_hrt_24m: float = _a(0.15, _NP, "Loading of the extra shared prefrontal signal, HRT at 24 m")
    structure_seed: int = _a(2010, _NP, "Seed of the ROI-level structure shared by all cohorts")
    # --- reference cohort ------------------------------------------------------------------
    reference_age_min: float = _a(18.0, _NP, "Youngest reference participant (y)")
    reference_age_max: float = _a(90.0, _NP, "Oldest reference participant (y)")
    reference_age_mean: float = _a(54.0, _NP + " (adult lifespan cohorts such as Cam-CAN)",
                                   "Mean of the reference age distribution before truncation (y)")
    reference_age_sd: float = _a(15.0, "calibrated with the clock (MAE 5-8 y, r 0.7-0.85); " + _NP, "SD of the reference age distribution before truncation (y)")
    reference_female_fraction: float = _a(0.5, _NP, "Fraction of women in the reference cohort")

    def __post_init__(self) -> None:
        for name in ("arm_sizes", "attended_12m", "attended_24m"):
            value = getattr(self, name)
            if len(value) != 3 or any(int(v) < 0 for v in value):
                raise ValueError(f"{name} must be three non-negative counts (HRT, MIT, CON), got {value!r}")
            object.__setattr__(self, name, tuple(int(v) for v in value))
        for a, b, c in zip(self.arm_sizes, self.attended_12m, self.attended_24m):
            if not a >= b >= c:
                raise ValueError(
                    f"attendance must not grow: arm_sizes {self.arm_sizes}, attended_12m "
                    f"{self.attended_12m}, attended_24m {self.attended_24m}"
                )
        if self.n_volumes < 10:
            raise ValueError(f"n_volumes must be >= 10, got {self.n_volumes!r}")
        if not -1 < self.ar1 < 1:
            raise ValueError(f"ar1 must lie in (-1, 1), got {self.ar1!r}")

    @classmethod
    def null(cls, **overrides: Any) -> "TrialAssumptions":
        """Assumptions of a null trial: no arm effect, no strength coupling, no prefrontal change."""
        base = dict(effect_12m_hrt=0.0, effect_12m_mit=0.0, effect_24m_hrt=0.0, effect_24m_mit=0.0,
                    strength_coupling=0.0, prefrontal_hrt_12m=0.0, prefrontal_hrt_24m=0.0)
        base.update(overrides)
        return cls(**base)

    def with_overrides(self, **overrides: Any) -> "TrialAssumptions":
        """A copy with some fields replaced; unknown names raise ``TypeError`` naming them."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown trial assumption(s) {unknown}; see TrialAssumptions.describe()")
        return replace(self, **overrides)

    @property
    def scale(self) -> float:
        """Size of the trial relative to the published 451 randomised people."""
        return sum(self.arm_sizes) / 451.0

    def describe(self) -> pd.DataFrame:
        """Every assumption with its value, meaning and source."""
        return pd.DataFrame(
            [
                {"name": f.name, "value": getattr(self, f.name), "meaning": f.metadata["doc"],
                 "source": f.metadata["source"]}
                for f in fields(self)
            ]
        )
