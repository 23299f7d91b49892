"""Validation studies of the brain-age clock (private; re-exported by :mod:`analysis.clock`).

One function per study, each returning tidy tables: held-out split, learning curve, comparison of
connectivity kinds and models, young/old discrimination and segregation on ds003871, and the
site-calibrated thickness clock with an external test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from analysis._threads import parallel_map
from analysis.clock.estimator import _take, clock_metrics
from analysis.clock.evaluation import _check_evaluation, _evaluation_plan, _evaluations
from analysis.connectome import (
    ConnectivityFeatures,
    CovarianceStack,
    find_communities,
    shrunk_covariances,
    system_segregation,
    unvectorize,
)
from analysis.stats import bootstrap_ci as stats_bootstrap_ci


def holdout_predictions(clock, X, age, *, test_size: float = 0.2, random_state: int = 0):
    """Fit ``clock`` on a training split; predictions and every corrected gap on both splits.

    Returns
    -------
    (fitted clock, DataFrame)
        One row per person: ``split`` ("train" rows use out-of-sample predictions,
        leave-one-out or inner-CV, never in-sample fits), ``age``, ``predicted_age``, ``gap_none``, ``gap_beheshti``,
        ``gap_cole``, ``gap_smith``.
    """
    age = np.asarray(age, dtype=float)
    index = np.arange(len(age))
    train, test = train_test_split(index, test_size=test_size, random_state=random_state)
    fitted = clone(clock).fit(_take(X, train), age[train])
    predicted = np.empty_like(age)
    predicted[train] = fitted.oof_predictions_
    predicted[test] = fitted.predict(_take(X, test))
    table = pd.DataFrame({"split": np.where(np.isin(index, test), "test", "train"),
                          "age": age, "predicted_age": predicted})
    for method in ("none", "beheshti", "cole", "smith"):
        table[f"gap_{method}"] = fitted.correct(predicted, age, method)
    return fitted, table


def learning_curve(clock, X, age, *, train_sizes, test_size: float = 0.2, n_repeats: int = 3,
                   random_state: int = 0) -> pd.DataFrame:
    """Held-out MAE and r as the training set grows (fixed test set per repeat).

    Returns
    -------
    DataFrame
        ``repeat, n_train, mae, rmse, r, r2`` (uncorrected predictions).
    """
    age = np.asarray(age, dtype=float)
    rng = np.random.default_rng(random_state)
    tasks = []
    for repeat in range(n_repeats):
        order = rng.permutation(len(age))
        n_test = int(round(test_size * len(age)))
        test, pool = order[:n_test], order[n_test:]
        for size in train_sizes:
            if size > len(pool):
                raise ValueError(f"train_sizes contains {size}, more than the {len(pool)} available")
            tasks.append((repeat, size, pool[:size], test))
    # every (repeat, size) fit is independent: largest first, so the two workers finish together
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i][1])
    scores = parallel_map(_learning_point, [(clock, X, age, *tasks[i][2:]) for i in order])
    by_task = dict(zip(order, scores))
    return pd.DataFrame([{"repeat": repeat, "n_train": size, **by_task[i]}
                         for i, (repeat, size, _, _) in enumerate(tasks)])


def _learning_point(task) -> dict:
    clock, X, age, train, test = task
    fitted = clone(clock).fit(_take(X, train), age[train])
    return clock_metrics(fitted.predict(_take(X, test)), age[test])


def compare_clocks(clocks: dict, inputs: dict, age, *, n_splits: int = 5,
                   random_state: int = 0) -> pd.DataFrame:
    """Cross-validated accuracy of several clocks on the same people and folds.

    Parameters
    ----------
    clocks : dict
        Label -> unfitted clock.
    inputs : dict
        Label -> X for that clock (e.g. covariances standardised or not).

    Returns
    -------
    DataFrame
        One row per clock: ``clock, mae, rmse, r, r2, mae_corrected, mean_age_mae``.
    """
    # = evaluate_clock(clock, inputs[label], age, ...) per clock, with every clock's folds fitted
    # in one parallel pass (the same folds and results as one call per clock)
    items = []
    for label, clock in clocks.items():
        checked = _check_evaluation(inputs[label], age, n_splits)
        plan = _evaluation_plan(checked, n_splits, 1, 0, np.random.default_rng(random_state))
        items.append((clock, inputs[label], checked, plan))
    rows = []
    for label, result in zip(clocks, _evaluations(items)):
        summary = result.summary
        rows.append({"clock": label, **summary.loc["uncorrected"].to_dict(),
                     "mae_corrected": summary.loc["corrected", "mae"],
                     "mean_age_mae": summary.loc["mean_age", "mae"]})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# ds003871: young/old discrimination and segregation
# --------------------------------------------------------------------------------------
def group_discrimination(timeseries, groups, *, connectivity: str = "tangent", n_splits: int = 5,
                         n_repeats: int = 10, n_permutations: int = 100,
                         random_state: int = 0) -> dict:
    """Cross-validated classification of two groups from connectivity (reference fitted per fold).

    Pipeline: :class:`~analysis.connectome.ConnectivityFeatures` -> standardise -> L2 logistic
    regression. Returns accuracy and ROC AUC (mean over repeated stratified folds), the
    majority-class accuracy, and a permutation p-value of the accuracy.
    """
    labels = pd.Series(groups).to_numpy()
    classes = np.unique(labels)
    if len(classes) != 2:
        raise ValueError(f"groups must hold exactly two labels; got {list(classes)}")
    y = (labels == classes[1]).astype(int)
    model = make_pipeline(ConnectivityFeatures(connectivity), StandardScaler(),
                          LogisticRegression(C=0.01, max_iter=2000))
    # the covariances never see a label: estimate them once, not in every fold of every permutation
    if not isinstance(timeseries, CovarianceStack):
        timeseries = shrunk_covariances(timeseries, standardize=connectivity == "correlation")
    folds = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=random_state)
    rng = np.random.default_rng(random_state)
    runs = [(y, list(folds.split(y, y)))]
    for _ in range(n_permutations):
        shuffled = rng.permutation(y)
        split = StratifiedKFold(n_splits, shuffle=True, random_state=int(rng.integers(2**31)))
        runs.append((shuffled, list(split.split(y, shuffled))))
    tasks = [(model, timeseries, labels_, train, test) for labels_, splits in runs for train, test in splits]
    results = iter(parallel_map(_classify_fold, tasks))
    scores = [_pool_folds([next(results) for _ in splits]) for _, splits in runs]
    accuracy, auc = scores[0]
    null = [score[0] for score in scores[1:]]
    # the observed accuracy is averaged over repeats, each null value is one repeat: conservative
    p_value = (1 + np.sum(np.asarray(null) >= accuracy)) / (1 + n_permutations)
    return {"accuracy": accuracy, "auc": auc, "chance": max(y.mean(), 1 - y.mean()),
            "p_value": float(p_value), "n": len(y), "positive_class": classes[1]}


def _classify_fold(task) -> tuple[int, int, float]:
    model, X, y, train, test = task
    fitted = clone(model).fit(_take(X, train), y[train])
    probability = fitted.predict_proba(_take(X, test))[:, 1]
    return int(np.sum((probability > 0.5) == y[test])), len(test), roc_auc_score(y[test], probability)


def _pool_folds(folds: list) -> tuple[float, float]:
    hits = sum(fold[0] for fold in folds)
    counts = sum(fold[1] for fold in folds)
    return float(hits / counts), float(np.mean([fold[2] for fold in folds]))


def _classify(model, X, y, splits) -> tuple[float, float]:
    return _pool_folds([_classify_fold((model, X, y, train, test)) for train, test in splits])


def hedges_g(a, b) -> float:
    """Hedges' g of ``a`` minus ``b`` (pooled SD, small-sample corrected)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    n1, n2 = len(a), len(b)
    pooled = np.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2))
    return float((a.mean() - b.mean()) / pooled * (1 - 3 / (4 * (n1 + n2) - 9)))


def segregation_by_group(timeseries, groups, *, n_communities: int = 7, older: str = "Older",
                         younger: str = "Younger", n_boot: int = 2000,
                         random_state: int = 0) -> tuple[pd.DataFrame, dict]:
    """System segregation per person and its older-minus-younger difference.

    Connectivity is the Fisher-z correlation (Ledoit-Wolf) of each person's series;
    communities come from spectral clustering of the mean connectome over **all** people (blind
    to group). Segregation follows :func:`~analysis.connectome.system_segregation`.

    Returns
    -------
    (DataFrame, dict)
        Per person: ``group, segregation``. Summary: ``difference`` (older - younger) with a
        bootstrap 95 % CI, Hedges' ``g`` with a bootstrap CI, Welch's t-test ``p``.
    """
    labels = pd.Series(groups).to_numpy()
    corr = unvectorize(ConnectivityFeatures("correlation").fit_transform(list(timeseries)))
    fisher = np.arctanh(np.clip(corr, -0.999999, 0.999999))
    communities = find_communities(fisher.mean(axis=0), n_communities, random_state=random_state)
    segregation = system_segregation(fisher, communities)
    table = pd.DataFrame({"group": labels, "segregation": segregation})
    old = segregation[labels == older]
    young = segregation[labels == younger]
    if len(old) < 2 or len(young) < 2:
        raise ValueError(f"need at least two people labelled {older!r} and {younger!r}")
    rng = np.random.default_rng(random_state)
    boot = np.array([(lambda o, y: (o.mean() - y.mean(), hedges_g(o, y)))(
        rng.choice(old, len(old)), rng.choice(young, len(young))) for _ in range(n_boot)])
    summary = {
        "difference": float(old.mean() - young.mean()),
        "difference_ci": tuple(np.percentile(boot[:, 0], [2.5, 97.5])),
        "g": hedges_g(old, young), "g_ci": tuple(np.percentile(boot[:, 1], [2.5, 97.5])),
        "p": float(stats.ttest_ind(old, young, equal_var=False).pvalue),
        "n_older": len(old), "n_younger": len(young), "n_communities": n_communities,
        "community_sizes": np.bincount(communities).tolist(),
    }
    return table, summary


# --------------------------------------------------------------------------------------
# Thickness clock with site handling
# --------------------------------------------------------------------------------------
def site_features(table: pd.DataFrame, columns: list[str], sites: list[str] | None = None) -> np.ndarray:
    """Thickness columns plus one-hot site indicators (``sites`` fixes the indicator order)."""
    sites = sorted(table["site"].unique()) if sites is None else sites
    dummies = (table["site"].to_numpy()[:, None] == np.asarray(sites)[None, :]).astype(float)
    return np.column_stack([table[columns].to_numpy(float), dummies])


def site_calibrated_transfer(clock, train: pd.DataFrame, adapt: pd.DataFrame, test: pd.DataFrame,
                             columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on one dataset, calibrate per-site offsets on an adaptation split, test on another.

    The clock is fitted on ``train[columns]``. For each site of ``adapt``, the offset is the
    mean of (predicted - age) there; test predictions of that site are shifted by it. This
    removes a site's additive scanner/processing shift (and the mean shrinkage bias at that
    site's ages) using people who are never tested.

    Returns
    -------
    (DataFrame, DataFrame)
        Test predictions per person (``site, age, predicted_age, predicted_calibrated``) and
        metrics per stage (``uncalibrated``, ``site-calibrated``).
    """
    fitted = clone(clock).fit(train[columns].to_numpy(float), train["age"].to_numpy(float))
    adapt_gap = fitted.predict(adapt[columns].to_numpy(float)) - adapt["age"].to_numpy(float)
    offsets = pd.Series(adapt_gap).groupby(adapt["site"].to_numpy()).mean()
    missing = sorted(set(test["site"]) - set(offsets.index))
    if missing:
        raise ValueError(f"test sites {missing} have no people in the adaptation split")
    predicted = fitted.predict(test[columns].to_numpy(float))
    calibrated = predicted - offsets.reindex(test["site"]).to_numpy()
    out = pd.DataFrame({"site": test["site"].to_numpy(), "age": test["age"].to_numpy(float),
                        "predicted_age": predicted, "predicted_calibrated": calibrated})
    metrics = pd.DataFrame([
        {"stage": "uncalibrated", **clock_metrics(predicted, out["age"])},
        {"stage": "site-calibrated", **clock_metrics(calibrated, out["age"])},
    ])
    return out, metrics


def bootstrap_ci(predicted, age, metric: str = "mae", *, n_boot: int = 2000,
                 random_state: int = 0) -> tuple[float, float]:
    """Percentile 95 % CI of a metric of :func:`analysis.clock.clock_metrics` over people.

    People are resampled with their (prediction, age) pairs by :func:`analysis.stats.bootstrap_ci`.
    """
    predicted, age = np.asarray(predicted, float), np.asarray(age, float)
    ci = stats_bootstrap_ci((predicted, age), lambda p, a: clock_metrics(p, a)[metric], n_boot=n_boot,
                    random_state=random_state)
    return ci.ci_low, ci.ci_high
