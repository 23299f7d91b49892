"""Regression models a :class:`analysis.clock.BrainAgeClock` can use (private)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from analysis._threads import row_blocks, single_threaded_blas

#: Model names a clock accepts.
MODELS = ("ridge", "svr", "hgb")
#: Default ridge penalties (features are standardised, so these are in comparable units).
DEFAULT_ALPHAS = np.logspace(-2, 6, 17)
#: Column means below this count as centred (standardised features: ~1e-16).
CENTRED = 1e-6


def rbf_scale_kernel(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """RBF kernel with ``gamma="scale"`` taken from ``Y`` (the training rows), BLAS-computed.

    SVR calls a callable kernel as ``kernel(X_train, X_train)`` in ``fit`` and
    ``kernel(X_new, X_train)`` in ``predict``, so ``gamma = 1 / (n_features * Y.var())`` is
    exactly scikit-learn's ``gamma="scale"`` of the training data. libsvm evaluates the same
    formula ``exp(-gamma (|x|^2 + |y|^2 - 2 x.y))`` one pair at a time in a scalar loop; on
    12,720 edges that made SVR ~10x slower than one matrix product (agreement to rounding).

    New clocks use :class:`ScaleRBFSVR`; this function stays because clock files saved before it
    hold ``SVR(kernel=rbf_scale_kernel)`` and must still load (it is on the persistence allow-list).
    """
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
    variance = Y.var()
    gamma = 1.0 / (Y.shape[1] * variance) if variance != 0 else 1.0
    return _rbf(X, Y, gamma)


def _rbf(X: np.ndarray, Y: np.ndarray, gamma: float) -> np.ndarray:
    """The RBF kernel block, its rows computed in blocks on the available cores.

    Each row of the kernel depends on its row of ``X`` only, and single-threaded BLAS gives the
    same bits for a row whatever block it is in, so the result is identical to the one-piece
    product (tested) -- unlike threaded BLAS, whose products change in the last bits with the
    thread count. 2,433 x 12,720 training rows: 1.1 s on 2 cores vs 2.0 s.
    """
    y_norms = np.einsum("ij,ij->i", Y, Y)[None, :]  # row norms without a squared copy of the features

    def block(rows: slice) -> np.ndarray:
        part = X[rows]
        return np.exp(-gamma * (np.einsum("ij,ij->i", part, part)[:, None] + y_norms - 2.0 * (part @ Y.T)))

    return row_blocks(block, len(X))


class ScaleRBFSVR(RegressorMixin, BaseEstimator):
    """RBF support-vector regression, ``gamma="scale"``, ``C`` chosen by inner K-fold CV.

    The same model as ``GridSearchCV(SVR(kernel="rbf", gamma="scale"), {"C": Cs})``, with the
    kernel computed once per fit instead of once per candidate, fold and scoring call: the
    search runs on the precomputed kernel of the training rows (scikit-learn's
    ``SVR(kernel="precomputed")`` + ``GridSearchCV``, which slices it per fold), and prediction
    needs one kernel block against the training rows. On 12,720 edges the kernel (one matrix
    product of the training rows) dominates: GridSearchCV with a callable kernel computed it 20
    times per fit, measured 43 s of page 03's 97 s. One difference, stated: inside the search
    ``gamma`` is the training set's ``1 / (n_features * X.var())`` rather than each inner
    fold's (the variance of unlabelled features; the refitted model is identical).

    Attributes
    ----------
    gamma_ : float
    search_ : GridSearchCV
        ``best_params_["C"]`` is the chosen penalty.
    X_fit_ : ndarray
        Training rows (the kernel of new rows is taken against them).
    """

    def __init__(self, Cs=(1.0, 10.0, 100.0), epsilon: float = 1.0, cv: int = 3, random_state: int | None = None):
        self.Cs = Cs
        self.epsilon = epsilon
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        variance = X.var()
        self.gamma_ = 1.0 / (X.shape[1] * variance) if variance != 0 else 1.0
        self.X_fit_ = X
        self.search_ = GridSearchCV(
            SVR(kernel="precomputed", epsilon=self.epsilon), {"C": list(self.Cs)},
            cv=KFold(self.cv, shuffle=True, random_state=self.random_state), scoring="neg_mean_absolute_error",
        ).fit(_rbf(X, X, self.gamma_), y)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features; the SVR was fitted on {self.n_features_in_}")
        return self.search_.predict(_rbf(X, self.X_fit_, self.gamma_))


class LeaveOneOutRidge(RegressorMixin, BaseEstimator):
    """Ridge regression with an intercept, the penalty chosen by exact leave-one-out error.

    The model of ``RidgeCV(alphas, store_cv_results=True, scoring="neg_mean_squared_error")``
    (scikit-learn's "eigen" GCV path, for fewer rows than features), computed with less work
    and memory: the Gram matrix of the rows is one product whose row blocks run on the
    available cores (bit for bit the one-piece product), the centring is applied to the Gram
    matrix instead of a centred copy of the features, and the diagonal of each penalty's
    inverse comes from one precomputed ``Q**2`` product. On 2,433 x 12,720 standardised features
    here: ``RidgeCV`` 7.5-8.6 s and a centred copy of the features (248 MB), this 5.3-7.2 s and no
    copy; the eigendecomposition of the 2,433 x 2,433 Gram matrix (3-4 s, one core) is the floor.
    Agreement with ``RidgeCV`` (penalty, coefficients, leave-one-out predictions) is tested.

    Parameters
    ----------
    alphas : array-like or None, default=None
        Penalties searched (default :data:`DEFAULT_ALPHAS`); ties go to the first.

    Attributes
    ----------
    alpha_ : float
        Chosen penalty.
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    best_score_ : float
        Negative mean squared leave-one-out error at ``alpha_``.
    cv_results_ : ndarray of shape (n_samples, n_alphas)
        Leave-one-out predictions of every training row at every penalty (as ``RidgeCV`` stores them).
    """

    def __init__(self, alphas=None):
        self.alphas = alphas

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        if X.ndim != 2 or y.shape != (X.shape[0],):
            raise ValueError(f"X must be 2-D with one row per value of y; got X {X.shape}, y {y.shape}")
        alphas = np.atleast_1d(np.asarray(DEFAULT_ALPHAS if self.alphas is None else self.alphas, dtype=float))
        if alphas.ndim != 1 or np.any(alphas <= 0):
            raise ValueError(f"alphas must be positive numbers; got {self.alphas!r}")
        with single_threaded_blas():
            return self._fit(X, y, alphas)

    def _fit(self, X: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> LeaveOneOutRidge:
        n = len(y)
        mean, y_mean = X.mean(axis=0), y.mean()
        yc = y - y_mean
        offset = mean  # the intercept's
        if np.abs(mean).max() > CENTRED:  # not standardised: centre a copy (the Gram identity below
            X, mean = X - mean, np.zeros_like(mean)  # would lose digits to large means)
        # Gram matrix of the centred rows, (X - 1m')(X - 1m')' = XX' - u1' - 1u' + (m.m) 11', u = Xm
        gram = row_blocks(lambda rows: X[rows] @ X.T, n)
        u = X @ mean
        gram -= u[:, None]
        gram -= u[None, :]
        gram += mean @ mean
        eigenvalues, Q = np.linalg.eigh(gram)
        del gram
        Qt_y, Qt_1 = Q.T @ yc, Q.sum(axis=0)
        Q2 = Q * Q
        results, best = np.empty((n, len(alphas))), None
        for k, alpha in enumerate(alphas):
            D = 1.0 / (eigenvalues + alpha)
            c = Q @ (D * Qt_y)
            # leave-one-out residual c_i / d_i, d = diag(G) - (G 1) / n for the unpenalised intercept
            d = Q2 @ D - (Q @ (D * Qt_1)) / n
            residual = c / d
            results[:, k] = y - residual
            score = -float(np.mean(residual**2))
            if best is None or score > best[0]:
                best = (score, k, c)
        score, k, c = best
        self.alpha_, self.best_score_, self.cv_results_ = float(alphas[k]), score, results
        self.coef_ = X.T @ c - mean * c.sum()
        self.intercept_ = float(y_mean - offset @ self.coef_)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has shape {X.shape}; the ridge was fitted on {self.n_features_in_} features")
        return X @ self.coef_ + self.intercept_


def make_model(name: str, *, alphas=None, random_state: int | None = None):
    """A fresh, unfitted regression pipeline named ``name``."""
    if name == "ridge":
        grid = DEFAULT_ALPHAS if alphas is None else np.asarray(alphas, dtype=float)
        return make_pipeline(StandardScaler(), LeaveOneOutRidge(alphas=grid))
    if name == "svr":
        return make_pipeline(StandardScaler(), ScaleRBFSVR(random_state=random_state))
    if name == "hgb":
        return HistGradientBoostingRegressor(
            max_iter=300, learning_rate=0.05, early_stopping=True, random_state=random_state
        )
    raise ValueError(f"model must be one of {MODELS}; got {name!r}")


def leave_one_out_predictions(model) -> np.ndarray | None:
    """Exact leave-one-out predictions of a fitted ridge pipeline at its chosen penalty.

    RidgeCV computes them in closed form while choosing the penalty; they are out-of-sample
    for the regression (the scaler, which never sees age, was fitted on all training rows).
    ``None`` for models without them.
    """
    ridge = model[-1] if hasattr(model, "steps") else model
    if not isinstance(ridge, (RidgeCV, LeaveOneOutRidge)) or getattr(ridge, "cv_results_", None) is None:
        return None
    index = int(np.argmin(np.abs(np.asarray(ridge.alphas) - ridge.alpha_)))
    return ridge.cv_results_[:, index]
