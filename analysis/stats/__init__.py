"""Statistics for the trial analyses.

One function per analysis, ``data`` first and column names as arguments, tidy
:class:`pandas.DataFrame` results with stable column names (``estimate, se, ci_low, ci_high, p``).

* :mod:`~analysis.stats.models` -- mixed models (statsmodels), contrasts, OLS, ANCOVA, effect sizes;
* :mod:`~analysis.stats.random_intercept` -- a fast profiled-REML random-intercept fit for
  simulation studies;
* :mod:`~analysis.stats.multiplicity` -- FDR and family-wise adjustments (statsmodels);
* :mod:`~analysis.stats.resampling` -- bootstrap confidence intervals;
* :mod:`~analysis.stats.correlation` -- (partial) correlations with bootstrap CIs;
* :mod:`~analysis.stats.clda` -- constrained longitudinal data analysis, unstructured covariance;
* :mod:`~analysis.stats.causal` -- complier average causal effect (2SLS, linearmodels);
* :mod:`~analysis.stats.missing` -- multiple imputation, Rubin's rules, tipping point;
* :mod:`~analysis.stats.reliability` -- ICC and the smallest detectable change;
* :mod:`~analysis.stats.effects` -- subgroup effects and standardised effects;
* :mod:`~analysis.stats.wording` -- conclusions in words chosen from the numbers.

The analysis plan these serve is ``book/analysis_plan.md``.
"""

from analysis.stats.causal import cace
from analysis.stats.clda import CLDAResult, clda, compare_covariance, covariance_comparison
from analysis.stats.correlation import correlation, partial_correlation
from analysis.stats.effects import standardized_effects, subgroup_effects
from analysis.stats.missing import TippingPointResult, multiple_imputation, rubin_pool, tipping_point
from analysis.stats.models import (
    EFFECT_COLUMNS,
    MixedModelResult,
    ancova,
    contrast,
    design_rows,
    difference_at,
    mixed_model,
    ols,
    standardize_effects,
    tidy_effects,
)
from analysis.stats.multiplicity import fdr_bh, fdr_bh_rows, gatekeeping, holm, trial_families
from analysis.stats.random_intercept import RandomInterceptFit, fit_random_intercept, fit_random_intercepts
from analysis.stats.reliability import icc, smallest_detectable_change
from analysis.stats.resampling import BootstrapCI, bootstrap_ci
from analysis.stats.wording import BIAS_CORRECTION_IDENTITIES, bias_correction_identities, conclusion, verdict

__all__ = [
    "EFFECT_COLUMNS", "MixedModelResult", "BootstrapCI", "RandomInterceptFit", "mixed_model",
    "contrast", "design_rows", "difference_at", "ancova", "ols", "standardize_effects", "tidy_effects", "fdr_bh", "fdr_bh_rows",
    "holm", "bootstrap_ci", "correlation", "partial_correlation", "fit_random_intercept", "fit_random_intercepts",
    "gatekeeping", "trial_families", "CLDAResult", "clda", "compare_covariance", "covariance_comparison", "cace",
    "rubin_pool",
    "multiple_imputation", "TippingPointResult", "tipping_point", "icc", "smallest_detectable_change",
    "subgroup_effects", "standardized_effects", "verdict", "conclusion", "BIAS_CORRECTION_IDENTITIES",
    "bias_correction_identities",
]
