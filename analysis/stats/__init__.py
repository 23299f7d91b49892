"""Statistics for the trial analyses.

One function per analysis, ``data`` first and column names as arguments, tidy
:class:`pandas.DataFrame` results with stable column names (``estimate, se, ci_low, ci_high, p``).

* :mod:`~analysis.stats.models` -- mixed models (statsmodels), contrasts, OLS, ANCOVA, effect sizes;
* :mod:`~analysis.stats.random_intercept` -- a fast profiled-REML random-intercept fit for
  simulation studies;
* :mod:`~analysis.stats.multiplicity` -- FDR and family-wise adjustments (statsmodels);
* :mod:`~analysis.stats.resampling` -- bootstrap confidence intervals;
* :mod:`~analysis.stats.correlation` -- (partial) correlations with bootstrap CIs.
"""

from analysis.stats.correlation import correlation, partial_correlation
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
from analysis.stats.multiplicity import fdr_bh, holm
from analysis.stats.random_intercept import RandomInterceptFit, fit_random_intercept
from analysis.stats.resampling import BootstrapCI, bootstrap_ci

__all__ = [
    "EFFECT_COLUMNS", "MixedModelResult", "BootstrapCI", "RandomInterceptFit", "mixed_model",
    "contrast", "design_rows", "difference_at", "ancova", "ols", "standardize_effects", "tidy_effects", "fdr_bh",
    "holm", "bootstrap_ci", "correlation", "partial_correlation", "fit_random_intercept",
]
