"""The brain-age clock: connectivity -> predicted age -> bias-corrected brain age gap.

:class:`BrainAgeClock` is a scikit-learn regressor :cite:p:`pedregosa2011`. By default it embeds
each scan's Ledoit-Wolf covariance in tangent space :cite:p:`varoquaux2010,dadi2019` and fits a
ridge regression on standardised edges with the penalty chosen by exact leave-one-out CV
(:class:`~analysis.clock.models.LeaveOneOutRidge`, the model of scikit-learn's ``RidgeCV`` with
less work and memory; clocks saved with ``RidgeCV`` still load). Non-linear alternatives (RBF support-vector regression,
histogram gradient boosting) are offered for an honest comparison.

Bias correction of the brain age gap ``delta = predicted - age`` is fitted on **training data
only**. Predictions of the training people themselves would be overfitted (a ridge fit on
12,720 edges nearly interpolates its training ages), so the correction is fitted on
*out-of-sample* predictions of the training people. For ridge these are the exact
leave-one-out predictions the ridge computes in closed form while choosing the penalty: each
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

:func:`~analysis.clock.evaluate_clock` runs repeated K-fold CV (connectivity reference, model and correction
all refitted inside each training fold) and returns MAE, RMSE, r and R^2, uncorrected and
corrected, beside a baseline that predicts the training-fold mean age, with an optional
permutation test. :func:`~analysis.clock.trial_brain_age` applies a clock trained on the reference cohort to
every usable trial scan, with a content-addressed disk cache.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted, validate_data

from analysis._threads import single_threaded_blas
from analysis.clock.correction import BIAS_CORRECTIONS, apply_correction, fit_correction
from analysis.clock.models import MODELS, leave_one_out_predictions, make_model
from analysis.connectome import KINDS, ConnectivityFeatures, CovarianceStack

__all__ = ["MIN_SUBJECTS", "BrainAgeClock", "clock_metrics", "fit_on_features"]

#: Fewest training people a clock accepts.
MIN_SUBJECTS = 10


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
        ``"ridge"``: standardised features + ridge over ``alphas`` chosen by exact leave-one-out error;
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
        return self._fit_model(Z, age)

    def _fit_model(self, Z: np.ndarray, age: np.ndarray) -> BrainAgeClock:
        """Fit the model and the bias correction on the training features ``Z``."""
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


def fit_on_features(clock: BrainAgeClock, features: ConnectivityFeatures, Z: np.ndarray, age) -> BrainAgeClock:
    """Fit ``clock`` (unfitted, with connectivity) given its already fitted connectivity step.

    ``features`` must be a :class:`~analysis.connectome.ConnectivityFeatures` of the clock's
    kind and reference, fitted on the training scans, and ``Z`` its transform of them. The
    result is the clock ``clock.fit(training scans, age)`` would give, without computing the
    features again (callers that also need the features of other people compute them once).
    """
    clock._check_params()
    if clock.connectivity is None:
        raise ValueError("fit_on_features needs a clock with connectivity; use fit for a feature matrix")
    check_is_fitted(features, "mean_")
    if (features.kind, features.reference) != (clock.connectivity, clock.reference):
        raise ValueError(f"features are {features.kind!r}/{features.reference!r} but the clock wants "
                         f"{clock.connectivity!r}/{clock.reference!r}")
    Z = np.asarray(Z, dtype=float)
    age = _check_age(age, len(Z))
    minimum = max(MIN_SUBJECTS, 2 * clock.inner_cv)
    if len(Z) < minimum:
        raise ValueError(f"too few subjects to fit a clock: got n_samples = {len(Z)}, need at least {minimum}")
    clock.features_ = features
    with single_threaded_blas():
        return clock._fit_model(Z, age)


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


