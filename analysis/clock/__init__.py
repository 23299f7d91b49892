"""The brain-age clock: connectivity -> predicted age -> bias-corrected brain age gap.

Modules, each importing only those above it:

* :mod:`~analysis.clock.correction` -- bias corrections of the gap (pure functions);
* :mod:`~analysis.clock.models` -- the regression models a clock can use and their alpha grid;
* :mod:`~analysis.clock.estimator` -- :class:`BrainAgeClock`, a scikit-learn regressor, and
  :func:`clock_metrics`;
* :mod:`~analysis.clock.evaluation` -- repeated K-fold evaluation with a permutation test;
* :mod:`~analysis.clock.validation` -- the validation studies of the clock page;
* :mod:`~analysis.clock.persist` -- a fitted clock saved to and loaded from a safe file (skops);
* :mod:`~analysis.clock.apply` -- the clock applied to every trial scan, cached on disk, from
  one allowed source (saved clock, reference cohort, or the synthetic reference for the
  synthetic trial only).
"""

from analysis.clock.apply import (
    ClockSourceError,
    TrialBrainAge,
    apply_clock,
    require_clock_source,
    trial_brain_age,
)
from analysis.clock.correction import BIAS_CORRECTIONS, apply_correction, fit_correction
from analysis.clock.estimator import MIN_SUBJECTS, BrainAgeClock, clock_metrics
from analysis.clock.evaluation import ClockEvaluation, evaluate_clock
from analysis.clock.models import DEFAULT_ALPHAS, MODELS, make_model
from analysis.clock.persist import (
    ClockFileError,
    SavedClock,
    clock_from_bytes,
    clock_from_env,
    clock_to_bytes,
    file_sha256,
    fit_clock,
    load_clock,
    save_clock,
)
from analysis.clock.validation import (  # the clock page's studies and what it can resolve
    HoldoutStudy,
    bootstrap_ci,
    calibration_sentence,
    COMPARE_FOLDS,
    COMPARE_N,
    clock_comparison,
    compare_clocks,
    control_retest,
    default_train_sizes,
    describe_reference,
    describe_saved_clock,
    discrimination_results,
    evaluation_results,
    group_discrimination,
    hedges_g,
    holdout_predictions,
    holdout_results,
    holdout_study,
    learning_curve,
    range_accuracy,
    range_accuracy_sentence,
    resolution_results,
    resolution_sentence,
    resolution_study,
    resolution_table,
    retest_reliability,
    scans_by_visit,
    second_session,
    segregation_by_group,
    segregation_by_k,
    segregation_conclusion,
    segregation_results,
    session_retest,
    site_calibrated_transfer,
    site_features,
    study_learning_curve,
    subset_covariances,
    thickness_results,
    transfer_conclusion,
    trial_age_range,
    validation_reference,
    validation_summary,
)

__all__ = [
    "ClockSourceError", "TrialBrainAge", "apply_clock", "require_clock_source", "BIAS_CORRECTIONS", "ClockFileError", "SavedClock", "clock_from_env", "fit_clock", "load_clock",
    "save_clock", "clock_from_bytes", "clock_to_bytes", "file_sha256", "DEFAULT_ALPHAS", "MIN_SUBJECTS", "MODELS", "BrainAgeClock",
    "COMPARE_FOLDS", "COMPARE_N", "ClockEvaluation", "apply_correction", "clock_comparison", "bootstrap_ci", "clock_metrics", "compare_clocks",
    "evaluate_clock", "fit_correction", "group_discrimination", "hedges_g", "holdout_predictions",
    "learning_curve", "make_model", "segregation_by_group", "site_calibrated_transfer",
    "site_features", "trial_brain_age",
    "HoldoutStudy", "calibration_sentence", "control_retest", "default_train_sizes", "describe_reference",
    "describe_saved_clock", "discrimination_results", "evaluation_results", "holdout_results", "holdout_study",
    "range_accuracy", "range_accuracy_sentence", "resolution_results", "resolution_sentence", "resolution_study", "resolution_table",
    "retest_reliability", "scans_by_visit", "second_session", "segregation_by_k", "segregation_conclusion",
    "segregation_results", "session_retest", "study_learning_curve", "subset_covariances", "thickness_results", "transfer_conclusion",
    "trial_age_range", "validation_reference", "validation_summary",
]
