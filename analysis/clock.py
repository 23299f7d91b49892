"""The brain-age clock: connectivity -> predicted age -> bias-corrected brain age gap.

:class:`BrainAgeClock` is a scikit-learn regressor :cite:p:`pedregosa2011`. By default it embeds
each scan's Ledoit-Wolf covariance in tangent space :cite:p:`varoquaux2010,dadi2019` and fits a
ridge regression on standardised edges with the penalty chosen by efficient leave-one-out CV
(:class:`~sklearn.linear_model.RidgeCV`). Non-linear alternatives (RBF support-vector regression,
histogram gradient boosting) are offered for an honest comparison.

Bias correction of the brain age gap ``delta = predicted - age`` is fitted on **training data
only**. Predictions of the training people themselves would be overfitted (a ridge fit on
12,720 edges nearly interpolates its training ages), so the correction is fitted on
*out-of-sample* predictions of the training people. For ridge these are the exact
leave-one-out predictions RidgeCV computes in closed form while choosing the penalty: each
comes from a model trained on n - 1 people, so it is shrunk towards the mean as much as the
final model's predictions of new people are. (An inner K-fold CV trains on fewer people, whose
predictions are shrunk more: a correction fitted on them over-corrects new people -- with 3
inner folds, the held-out synthetic gaps then correlated +0.35 with age.) Other models use an
inner K-fold CV (``inner_cv``). The standardisation and the tangent reference mean are
unsupervised (they never see an age) and are fitted on the whole training set. Corrections:

* ``"beheshti"`` :cite:p:`beheshti2019`: fit ``delta = a*age + b``; corrected ``delta - (a*age + b)``;
* ``"cole"`` :cite:p:`cole2018,delange2020`: fit ``predicted = alpha*age + beta``; corrected
  prediction ``(predicted - beta) / alpha``, gap = corrected prediction - age;
* ``"smith"`` :cite:p:`smith2019`: regress ``delta`` on demeaned age and orthogonalised age^2;
* ``"none"``: the raw gap (add age as a covariate downstream, :cite:p:`le2018`).

:func:`evaluate_clock` runs repeated K-fold CV (connectivity reference, model and correction
all refitted inside each training fold) and returns MAE, RMSE, r and R^2, uncorrected and
corrected, beside a baseline that predicts the training-fold mean age, with an optional
permutation test. :func:`trial_brain_age` applies a clock trained on the reference cohort to
every usable trial scan, with a content-addressed disk cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted, validate_data

from analysis._clock_cache import trial_brain_age
from analysis._clock_models import MODELS, leave_one_out_predictions, make_model
from analysis.connectome import (
    KINDS,
    ConnectivityFeatures,
    CovarianceStack,
    parallel_map,
    single_threaded_blas,
)

__all__ = [
    "bootstrap_ci",
    "holdout_predictions",
    "learning_curve",
    "compare_clocks",
    "group_discrimination",
    "segregation_by_group",
    "hedges_g",
    "site_features",
    "site_calibrated_transfer",
    "BIAS_CORRECTIONS",
    "MODELS",
    "BrainAgeClock",
    "ClockEvaluation",
    "fit_correction",
    "apply_correction",
    "clock_metrics",
    "evaluate_clock",
    "trial_brain_age",
]

#: Bias corrections of the brain age gap.
BIAS_CORRECTIONS = ("beheshti", "cole", "smith", "none")
#: Fewest training people a clock accepts.
MIN_SUBJECTS = 10


# --------------------------------------------------------------------------------------
# Bias correction (pure functions of predictions and ages)
# --------------------------------------------------------------------------------------
def fit_correction(predicted: np.ndarray, age: np.ndarray) -> dict[str, float]:
    """Fit every bias correction on (out-of-fold) training predictions.

    Returns
    -------
    dict
        ``beheshti_slope``, ``beheshti_intercept`` (delta on age), ``cole_slope``,
        ``cole_intercept`` (predicted on age), ``smith_*`` (delta on demeaned age and
        orthogonalised age^2) and ``age_mean``.
    """
    predicted, age = np.asarray(predicted, float), np.asarray(age, float)
    delta = predicted - age
    b_slope, b_icept = np.polyfit(age, delta, 1)
    c_slope, c_icept = np.polyfit(age, predicted, 1)
    centred = age - age.mean()
    square = centred**2
    sq_fit = np.polyfit(centred, square, 1)
    ortho = square - np.polyval(sq_fit, centred)
    design = np.column_stack([np.ones_like(age), centred, ortho])
    smith = np.linalg.lstsq(design, delta, rcond=None)[0]
    return {
        "beheshti_slope": float(b_slope), "beheshti_intercept": float(b_icept),
        "cole_slope": float(c_slope), "cole_intercept": float(c_icept),
        "age_mean": float(age.mean()), "smith_sq_slope": float(sq_fit[0]),
        "smith_sq_intercept": float(sq_fit[1]), "smith_b0": float(smith[0]),
        "smith_b1": float(smith[1]), "smith_b2": float(smith[2]),
    }


def apply_correction(
    predicted: np.ndarray, age: np.ndarray, correction: dict[str, float], method: str
) -> np.ndarray:
    """Bias-corrected brain age gap with ``method`` from a fitted ``correction``."""
    predicted, age = np.asarray(predicted, float), np.asarray(age, float)
    delta = predicted - age
    if method == "none":
        return delta
    if method == "beheshti":
        return delta - (correction["beheshti_slope"] * age + correction["beheshti_intercept"])
    if method == "cole":
        return (predicted - correction["cole_intercept"]) / correction["cole_slope"] - age
    if method == "smith":
        centred = age - correction["age_mean"]
        ortho = centred**2 - (correction["smith_sq_slope"] * centred + correction["smith_sq_intercept"])
        fitted = correction["smith_b0"] + correction["smith_b1"] * centred + correction["smith_b2"] * ortho
        return delta - fitted
    raise ValueError(f"bias_correction must be one of {BIAS_CORRECTIONS}; got {method!r}")


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------
def _n_samples(X) -> int:
    return len(X)


def _take(X, index: np.ndarray):
    """Rows ``index`` of a feature matrix, a CovarianceStack or a list of time series."""
    if isinstance(X, (np.ndarray, CovarianceStack)):
        return X[index]
    return [X[i] for i in index]


def _check_age(age, n: int) -> np.ndarray:
    age = np.asarray(age, dtype=float)
    if age.ndim != 1:
        raise ValueError(f"age must be 1-D; got shape {age.shape}")
    if len(age) != n:
        raise ValueError(f"age has {len(age)} values but X has {n} samples")
    if not np.all(np.isfinite(age)):
        raise ValueError("age contains NaN or infinite values")
    return age


# --------------------------------------------------------------------------------------
# The clock
# --------------------------------------------------------------------------------------
class BrainAgeClock(RegressorMixin, BaseEstimator):
    """A brain-age clock: connectivity features, a regression model, a gap correction.

    Parameters
    ----------
    connectivity : {"tangent", "correlation", "partial correlation"} or None, default="tangent"
        Connectivity kind computed from a list of (time x ROI) arrays (or a
        :class:`~analysis.connectome.CovarianceStack`); ``None`` takes a 2-D feature matrix.
    model : {"ridge", "svr", "hgb"}, default="ridge"
        ``"ridge"``: standardised features + RidgeCV over ``alphas`` (leave-one-out);
        ``"svr"``: standardised features + RBF SVR (C chosen by inner 3-fold CV);
        ``"hgb"``: histogram gradient boosting (early stopping).
    bias_correction : {"beheshti", "cole", "smith", "none"}, default="beheshti"
        Correction applied by :meth:`brain_age_gap`.
    alphas : array-like or None, default=None
        Ridge penalties searched (default ``logspace(-2, 6, 17)``, in units of the
        standardised features).
    reference : {"log-euclidean", "geometric"}, default="log-euclidean"
        Tangent reference mean.
    inner_cv : int, default=3
        Folds of the inner CV giving the out-of-fold training predictions that the bias
        correction is fitted on, for models other than ridge (ridge uses its exact
        leave-one-out predictions instead).
    random_state : int or None, default=None
        Seed of the inner CV split and of stochastic models.

    Attributes
    ----------
    features_ : ConnectivityFeatures or None
        Fitted connectivity transformer (None with ``connectivity=None``).
    model_ : estimator
        Fitted regression model.
    correction_ : dict
        Fitted coefficients of every correction (see :func:`fit_correction`).
    oof_predictions_ : ndarray of shape (n_samples,)
        Out-of-sample predictions of the training ages (ridge: leave-one-out; others: inner CV).
    train_age_ : ndarray of shape (n_samples,)
        Training ages.
    n_features_in_ : int
        Number of features (edges) the model sees.
    """

    def __init__(
        self,
        connectivity: str | None = "tangent",
        model: str = "ridge",
        bias_correction: str = "beheshti",
        alphas=None,
        reference: str = "log-euclidean",
        inner_cv: int = 3,
        random_state: int | None = None,
    ) -> None:
        self.connectivity = connectivity
        self.model = model
        self.bias_correction = bias_correction
        self.alphas = alphas
        self.reference = reference
        self.inner_cv = inner_cv
        self.random_state = random_state

    # -- parameter checks -------------------------------------------------------------
    def _check_params(self) -> None:
        if self.connectivity is not None and self.connectivity not in KINDS:
            raise ValueError(f"connectivity must be one of {KINDS} or None; got {self.connectivity!r}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}; got {self.model!r}")
        if self.bias_correction not in BIAS_CORRECTIONS:
            raise ValueError(
                f"bias_correction must be one of {BIAS_CORRECTIONS}; got {self.bias_correction!r}"
            )
        if not isinstance(self.inner_cv, (int, np.integer)) or self.inner_cv < 2:
            raise ValueError(f"inner_cv must be an integer >= 2; got {self.inner_cv!r}")

    def _features(self, X, *, fit: bool) -> np.ndarray:
        if self.connectivity is None:
            return validate_data(self, X, reset=fit)
        if fit:
            self.features_ = ConnectivityFeatures(self.connectivity, reference=self.reference)
            return self.features_.fit_transform(X)
        return self.features_.transform(X)

    def _new_model(self):
        return make_model(self.model, alphas=self.alphas, random_state=self.random_state)

    def _out_of_fold(self, Z: np.ndarray, age: np.ndarray) -> np.ndarray:
        folds = KFold(self.inner_cv, shuffle=True, random_state=self.random_state)
        predicted = np.empty_like(age)
        for train, test in folds.split(Z):
            predicted[test] = self._new_model().fit(Z[train], age[train]).predict(Z[test])
        return predicted

    # -- scikit-learn API ---------------------------------------------------------------
    def fit(self, X, y) -> BrainAgeClock:
        """Fit connectivity reference, model and bias correction on training data.

        Parameters
        ----------
        X : list of ndarray (n_timepoints, n_rois), CovarianceStack, or ndarray (n, n_features)
            Training scans (or features with ``connectivity=None``).
        y : array-like of shape (n_samples,)
            Chronological age.
        """
        with single_threaded_blas():
            return self._fit(X, y)

    def _fit(self, X, y) -> BrainAgeClock:
        self._check_params()
        if self.connectivity is None:
            X, y = validate_data(self, X, y, y_numeric=True)
        n = _n_samples(X)
        age = _check_age(y, n)
        minimum = max(MIN_SUBJECTS, 2 * self.inner_cv)
        if n < minimum:
            raise ValueError(
                f"too few subjects to fit a clock: got n_samples = {n}, need at least {minimum}"
            )
        Z = X if self.connectivity is None else self._features(X, fit=True)
        self.n_features_in_ = Z.shape[1]
        self.model_ = self._new_model().fit(Z, age)
        loo = leave_one_out_predictions(self.model_)
        self.oof_predictions_ = loo if loo is not None else self._out_of_fold(Z, age)
        self.correction_ = fit_correction(self.oof_predictions_, age)
        self.train_age_ = age
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted (uncorrected) brain age."""
        check_is_fitted(self, "model_")
        with single_threaded_blas():
            return self.model_.predict(self._features(X, fit=False))

    def correct(self, predicted, age, method: str | None = None) -> np.ndarray:
        """Bias-corrected gap from predictions already made (``method`` defaults to the clock's)."""
        check_is_fitted(self, "correction_")
        age = _check_age(age, len(np.asarray(predicted)))
        return apply_correction(predicted, age, self.correction_, method or self.bias_correction)

    def brain_age_gap(self, X, age, method: str | None = None) -> np.ndarray:
        """Bias-corrected brain age gap (predicted - age, corrected with ``method``)."""
        return self.correct(self.predict(X), age, method)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.connectivity is not None:
            tags.input_tags.two_d_array = False
            tags.input_tags.three_d_array = True
        return tags


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------
def clock_metrics(predicted: np.ndarray, age: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, Pearson r and R^2 of predictions against age."""
    predicted, age = np.asarray(predicted, float), np.asarray(age, float)
    error = predicted - age
    r = np.corrcoef(predicted, age)[0, 1] if np.std(predicted) > 0 else 0.0
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r": float(r),
        "r2": float(1 - np.sum(error**2) / np.sum((age - age.mean()) ** 2)),
    }


@dataclass
class ClockEvaluation:
    """Result of :func:`evaluate_clock`.

    Attributes
    ----------
    folds : DataFrame
        One row per repeat x fold x estimate (``uncorrected``, ``corrected``, ``mean_age``):
        ``mae, rmse, r, r2``.
    predictions : DataFrame
        One row per repeat x person: ``repeat, index, age, predicted_age, predicted_corrected``.
    summary : DataFrame
        Indexed by estimate; mean of the per-repeat pooled metrics.
    permutation_mae : ndarray
        Uncorrected MAE under permuted ages (empty without permutations).
    p_value : float
        Permutation p-value of the uncorrected MAE (NaN without permutations).
    """

    folds: pd.DataFrame
    predictions: pd.DataFrame
    summary: pd.DataFrame
    permutation_mae: np.ndarray
    p_value: float

    def metric(self, name: str, estimate: str = "uncorrected") -> float:
        """One summary number, e.g. ``metric("mae", "corrected")``."""
        return float(self.summary.loc[estimate, name])


def _fit_fold(task) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``clock`` on one training fold; (predicted, corrected) ages of its test fold."""
    clock, X, target, train, test, correct = task
    fitted = clone(clock).fit(_take(X, train), target[train])
    predicted = fitted.predict(_take(X, test))
    corrected = fitted.correct(predicted, target[test]) + target[test] if correct else predicted
    return predicted, corrected


def _run_folds(jobs: list) -> list:
    """Fit every (clock, X, target, splits, correct) job's folds in one parallel pass.

    All folds of all jobs go to :func:`~analysis.connectome.parallel_map` together (the cores
    stay busy even with 3 folds); each fold's result depends only on its inputs, so the output
    is identical to fitting them one after the other. Returns, per job, the tuple of
    :func:`_cv_predict`.
    """
    tasks = [(clock, X, target, train, test, correct)
             for clock, X, target, splits, correct in jobs for train, test in splits]
    results = iter(parallel_map(_fit_fold, tasks))
    out = []
    for _, _, target, splits, _ in jobs:
        predicted, corrected, baseline = (np.empty_like(target) for _ in range(3))
        fold_of = []
        for fold, (train, test) in enumerate(splits):
            predicted[test], corrected[test] = next(results)
            baseline[test] = target[train].mean()
            fold_of.append((fold, test))
        out.append((predicted, corrected, baseline, fold_of))
    return out


def _cv_predict(clock, X, age, splits) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    return _run_folds([(clock, X, age, list(splits), True)])[0]


def _check_evaluation(X, age, n_splits: int) -> np.ndarray:
    n = _n_samples(X)
    age = _check_age(age, n)
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2; got {n_splits!r}")
    if n < 2 * n_splits:
        raise ValueError(f"too few subjects for {n_splits}-fold CV: got {n}")
    return age


def evaluate_clock(
    clock: BrainAgeClock,
    X,
    age,
    *,
    n_splits: int = 5,
    n_repeats: int = 1,
    n_permutations: int = 0,
    random_state: int | None = 0,
) -> ClockEvaluation:
    """Repeated K-fold evaluation of a clock, everything refitted inside each training fold.

    Parameters
    ----------
    clock : BrainAgeClock
        Unfitted clock (cloned for every fold).
    X : list of ndarray, CovarianceStack or ndarray
        Scans or features, as the clock expects.
    age : array-like of shape (n_samples,)
        Chronological age.
    n_splits, n_repeats : int
        K and the number of repeats of the shuffled K-fold split.
    n_permutations : int, default=0
        Number of age permutations for a p-value of the uncorrected MAE against the null of no
        age information (each permutation reruns one repeat of the CV).
    random_state : int or None, default=0
        Seed of the splits and the permutations.

    Returns
    -------
    ClockEvaluation
    """
    age = _check_evaluation(X, age, n_splits)
    rng = np.random.default_rng(random_state)
    plan = _evaluation_plan(age, n_splits, n_repeats, n_permutations, rng)
    return _evaluations([(clock, X, age, plan)])[0]


def _evaluation_plan(age, n_splits, n_repeats, n_permutations, rng) -> tuple[list, list]:
    """Splits of every repeat and (shuffled ages, splits) of every permutation.

    Drawn from ``rng`` in the order the serial implementation drew them, so the folds and
    permutations (and therefore the results) do not depend on how the fits are scheduled.
    """
    repeats = []
    for _ in range(n_repeats):
        seed = int(rng.integers(2**31))
        repeats.append(list(KFold(n_splits, shuffle=True, random_state=seed).split(age)))
    permutations = []
    for _ in range(n_permutations):
        shuffled = rng.permutation(age)
        seed = int(rng.integers(2**31))
        permutations.append((shuffled, list(KFold(n_splits, shuffle=True, random_state=seed).split(age))))
    return repeats, permutations


def _evaluations(items: list) -> list[ClockEvaluation]:
    """:func:`evaluate_clock` for several (clock, X, age, plan) at once: all fits in one pass."""
    jobs = []
    for clock, X, age, (repeats, permutations) in items:
        jobs += [(clock, X, age, splits, True) for splits in repeats]
        jobs += [(clock, X, shuffled, splits, False) for shuffled, splits in permutations]
    results = iter(_run_folds(jobs))
    return [_assemble(age, [next(results) for _ in repeats],
                      [(shuffled, next(results)[0]) for shuffled, _ in permutations])
            for _, _, age, (repeats, permutations) in items]


def _assemble(age, repeat_results: list, permutation_results: list) -> ClockEvaluation:
    fold_rows, prediction_frames, pooled = [], [], []
    for repeat, (predicted, corrected, baseline, folds) in enumerate(repeat_results):
        estimates = {"uncorrected": predicted, "corrected": corrected, "mean_age": baseline}
        for fold, test in folds:
            for name, values in estimates.items():
                fold_rows.append({"repeat": repeat, "fold": fold, "estimate": name,
                                  **clock_metrics(values[test], age[test])})
        for name, values in estimates.items():
            pooled.append({"repeat": repeat, "estimate": name, **clock_metrics(values, age)})
        prediction_frames.append(pd.DataFrame({
            "repeat": repeat, "index": np.arange(len(age)), "age": age,
            "predicted_age": predicted, "predicted_corrected": corrected,
        }))
    summary = pd.DataFrame(pooled).groupby("estimate")[["mae", "rmse", "r", "r2"]].mean()
    summary = summary.loc[["uncorrected", "corrected", "mean_age"]]
    null = np.array([np.mean(np.abs(predicted - shuffled))
                     for shuffled, predicted in permutation_results], dtype=float)
    observed = summary.loc["uncorrected", "mae"]
    p_value = float((1 + np.sum(null <= observed)) / (1 + len(null))) if len(null) else float("nan")
    return ClockEvaluation(pd.DataFrame(fold_rows), pd.concat(prediction_frames, ignore_index=True),
                           summary, null, p_value)


def _permutation_mae(clock, X, age, n_splits, n_permutations, rng) -> np.ndarray:
    """Uncorrected CV MAE under ``n_permutations`` permutations of ``age`` (drawn from ``rng``)."""
    _, permutations = _evaluation_plan(age, n_splits, 0, n_permutations, rng)
    jobs = [(clock, X, shuffled, splits, False) for shuffled, splits in permutations]
    return np.array([np.mean(np.abs(result[0] - shuffled))
                     for (shuffled, _), result in zip(permutations, _run_folds(jobs))], dtype=float)


# validation studies live in a private module; imported last (they use the names above)
from analysis._clock_validation import (  # noqa: E402
    bootstrap_ci,
    compare_clocks,
    group_discrimination,
    hedges_g,
    holdout_predictions,
    learning_curve,
    segregation_by_group,
    site_calibrated_transfer,
    site_features,
)
