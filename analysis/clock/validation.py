"""Validation studies of the brain-age clock (private; re-exported by :mod:`analysis.clock`).

One function per study, each returning tidy tables: held-out split, learning curve, comparison of
connectivity kinds and models, young/old discrimination and segregation on ds003871, and the
site-calibrated thickness clock with an external test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import joblib
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from analysis._format import format_number
from analysis._paths import REFERENCE_DIR_ENV, atomic_write, cache_dir
from analysis._threads import parallel_map, single_threaded_blas
from analysis.clock.estimator import BrainAgeClock, _take, clock_metrics, fit_on_features
from analysis.clock.evaluation import (STUDY_CODE, _array_digest, _assemble, _check_evaluation,
                                       _evaluation_plan, _input_arrays, _run_folds, _study_key, cached_study)
from analysis.connectome import (
    ConnectivityFeatures,
    CovarianceStack,
    NamedSeries,
    find_communities,
    shrunk_covariances,
    system_segregation,
    unvectorize,
)
from analysis.stats import bootstrap_ci as stats_bootstrap_ci
from analysis.stats import icc as stats_icc
from analysis.trial import reference_from_env, simulate_reference
from analysis.trial.reference import atlas_digest, cohort_summary
from analysis.trial.simulator import KIND_REFERENCE


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
                   random_state: int = 0, split: tuple | None = None, fitted=None) -> pd.DataFrame:
    """Held-out MAE and r as the training set grows (fixed test set per repeat).

    Parameters
    ----------
    split : (train, test) index arrays, optional
        Use this split (one repeat) instead of drawing ``n_repeats`` random ones: the training
        sets are the first ``size`` people of a seeded permutation of ``train`` (nested), the test
        set is ``test``. With the split of :func:`holdout_predictions`, the largest training set
        is the held-out study's.
    fitted : BrainAgeClock, optional
        The clock already fitted on all of ``train`` (with ``split``): the point at
        ``len(train)`` reuses its predictions instead of fitting again.

    Returns
    -------
    DataFrame
        ``repeat, n_train, mae, rmse, r, r2`` (uncorrected predictions).
    """
    age = np.asarray(age, dtype=float)
    rng = np.random.default_rng(random_state)
    tasks = []
    if split is not None:
        train, test = (np.asarray(part, dtype=int) for part in split)
        pools = [(0, rng.permutation(train), test)]
    else:
        pools = []
        for repeat in range(n_repeats):
            order = rng.permutation(len(age))
            n_test = int(round(test_size * len(age)))
            pools.append((repeat, order[n_test:], order[:n_test]))
    for repeat, pool, test in pools:
        for size in train_sizes:
            if size > len(pool):
                raise ValueError(f"train_sizes contains {size}, more than the {len(pool)} available")
            tasks.append((repeat, size, pool[:size], test))
    reuse = {i for i, (_, size, _, _) in enumerate(tasks)
             if fitted is not None and split is not None and size == len(split[0])}
    # every (repeat, size) fit is independent: largest first, so the two workers finish together
    order = sorted((i for i in range(len(tasks)) if i not in reuse), key=lambda i: -tasks[i][1])
    scores = parallel_map(_learning_point, [(clock, X, age, *tasks[i][2:]) for i in order], threads=True)
    by_task = dict(zip(order, scores))
    for i in reuse:
        test = tasks[i][3]
        by_task[i] = clock_metrics(fitted.predict(_take(X, test)), age[test])
    return pd.DataFrame([{"repeat": repeat, "n_train": size, **by_task[i]}
                         for i, (repeat, size, _, _) in enumerate(tasks)])


def default_train_sizes(n_train: int, *, smallest: int = 150) -> list[int]:
    """Training-set sizes of a learning curve: ``smallest`` doubling up to ``n_train``, then ``n_train``."""
    if n_train < smallest:
        return [n_train]
    sizes = []
    size = smallest
    while size < n_train:
        sizes.append(size)
        size *= 2
    return sizes + [n_train]


def study_learning_curve(study, *, random_state: int = 0) -> pd.DataFrame | None:
    """:func:`learning_curve` on the held-out study's split (None for a saved clock).

    Nested training sets are drawn from the study's training split and scored on its test set;
    the largest is the study's clock itself. Every point uses the tangent features at the
    training split's reference mean (:attr:`HoldoutStudy.features`): the reference mean is
    unsupervised and never sees a test person, and only the ridge regression -- the part that
    learns age -- is refitted on each subset, so the curve needs no new tangent embedding. (A
    clock trained on a small cohort alone would also estimate its reference mean from fewer
    people; the curve shows how accuracy grows with the people the regression learns from.)
    """
    if study.saved or study.features is None:
        return None
    return learning_curve(BrainAgeClock(connectivity=None, random_state=random_state), study.features, study.age,
                          train_sizes=default_train_sizes(len(study.train)), random_state=random_state,
                          split=(study.train, study.test), fitted=study.clock.model_)


def _learning_point(task) -> dict:
    clock, X, age, train, test = task
    fitted = clone(clock).fit(_take(X, train), age[train])
    return clock_metrics(fitted.predict(_take(X, test)), age[test])


def compare_clocks(clocks: dict, inputs: dict, age, *, n_splits: int = 5,
                   random_state: int = 0, cache: bool = False) -> pd.DataFrame:
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

    With ``cache=True`` the table is kept in ``data/cache/studies``, keyed by the inputs'
    content, the ages, the clocks' parameters, the folds' seed and the code (:data:`STUDY_CODE`).
    """
    if cache:
        stacks = [inputs[label].covariances if isinstance(inputs[label], CovarianceStack) else
                  np.asarray(inputs[label]) for label in clocks]
        key = _study_key("compare", [_array_digest(np.asarray(age, float), *stacks), n_splits, random_state,
                                     [(label, sorted(clock.get_params().items())) for label, clock in clocks.items()]])
        path = cache_dir("studies") / f"{key}.pkl"
        if path.exists():
            return pd.read_pickle(path)
        table = compare_clocks(clocks, inputs, age, n_splits=n_splits, random_state=random_state)
        atomic_write(path, table.to_pickle)
        return table
    # = evaluate_clock(clock, inputs[label], age, ...) per clock, with every clock's folds fitted
    # in one parallel pass (the same folds and results as one call per clock). Connectivity
    # features are computed here, once per fold for the tangent kind (its reference is fitted on
    # the fold's training people) and once for the other kinds (they have no fitted reference),
    # and shared by the clocks with the same kind, reference and input (e.g. tangent + ridge and
    # tangent + SVR): exactly the numbers each clock's own fit and predict compute.
    checked, plans = {}, {}
    for label in clocks:
        checked[label] = _check_evaluation(inputs[label], age, n_splits)
        plans[label] = _evaluation_plan(checked[label], n_splits, 1, 0, np.random.default_rng(random_state))
    groups: dict = {}
    for label, clock in clocks.items():
        if clock.connectivity is not None:
            groups.setdefault((clock.connectivity, clock.reference, id(inputs[label])), []).append(label)
    shared = {label: key for key, labels in groups.items() for label in labels}
    folds = {}
    for key in {shared[label] for label in shared}:
        label = groups[key][0]
        splits = plans[label][0][0]
        folds[key] = _fold_features(inputs[label], key[0], key[1], splits)
    jobs, owners = [], []
    for label, clock in clocks.items():
        splits = plans[label][0][0]
        if label in shared:
            plain = clone(clock).set_params(connectivity=None)
            for fold, split in enumerate(splits):
                jobs.append((plain, folds[shared[label]][fold], checked[label], [split], True))
                owners.append(label)
        else:
            jobs.append((clock, inputs[label], checked[label], splits, True))
            owners.append(label)
    results = _run_folds(jobs)
    rows = []
    for label in clocks:
        target = checked[label]
        mine = [result for owner, result in zip(owners, results) if owner == label]
        predicted, corrected, baseline = (np.empty_like(target) for _ in range(3))
        fold_of = []
        for part in mine:
            for fold, test in part[3]:
                predicted[test], corrected[test], baseline[test] = part[0][test], part[1][test], part[2][test]
                fold_of.append((len(fold_of), test))
        summary = _assemble(target, [(predicted, corrected, baseline, fold_of)], []).summary
        rows.append({"clock": label, **summary.loc["uncorrected"].to_dict(),
                     "mae_corrected": summary.loc["corrected", "mae"],
                     "mean_age_mae": summary.loc["mean_age", "mae"]})
    return pd.DataFrame(rows)


#: The book's clock comparison: a random subset of at most this many reference people, K folds.
COMPARE_N, COMPARE_FOLDS = 800, 3


def clock_comparison(study, reference, *, seed: int = 0, n: int = COMPARE_N, n_splits: int = COMPARE_FOLDS,
                     cache: bool = True) -> tuple[pd.DataFrame, int]:
    """The clock page's comparison of connectivity kinds and models on a reference subset.

    Four clocks (tangent, correlation and partial-correlation connectivity with ridge; tangent
    with an RBF SVR) on the same ``min(n, cohort)`` people drawn with ``seed`` from
    ``study``'s cohort, ``n_splits``-fold CV (:func:`compare_clocks`, kept on disk with ``cache``).

    Returns
    -------
    (DataFrame, int)
        :func:`compare_clocks`'s table and the number of people compared.
    """
    size = min(n, len(study.age))
    subset = np.random.default_rng(seed).choice(len(study.age), size, replace=False)
    # a named cohort's subset: raw and standardised covariances from one read of its series, both
    # streamed to the disk cache and mapped (the same arrays as slicing the study's, without a copy)
    named = getattr(reference.iter_timeseries(), "cache_identity", None) is not None
    raw = subset_covariances(reference, subset) if named else study.covariances[subset]
    standardised = subset_covariances(reference, subset, standardize=True)
    clocks = {
        "tangent + ridge": BrainAgeClock("tangent", random_state=seed),
        "correlation + ridge": BrainAgeClock("correlation", random_state=seed),
        "partial correlation + ridge": BrainAgeClock("partial correlation", random_state=seed),
        "tangent + RBF SVR": BrainAgeClock("tangent", model="svr", random_state=seed),
    }
    inputs = {"tangent + ridge": raw, "correlation + ridge": standardised, "partial correlation + ridge": raw,
              "tangent + RBF SVR": raw}
    return compare_clocks(clocks, inputs, study.age[subset], n_splits=n_splits, random_state=seed,
                          cache=cache), size


def subset_covariances(reference, rows, *, standardize: bool = False) -> CovarianceStack:
    """Covariances of the reference people at positions ``rows``.

    When the whole cohort has a cache identity (the synthetic reference), the subset is named
    after it and its rows, so :func:`~analysis.connectome.shrunk_covariances` keeps the result
    in its disk cache and a rebuild does not simulate those scans again.
    """
    rows = np.asarray(rows, dtype=int)
    whole = getattr(reference.iter_timeseries(), "cache_identity", None)  # lazy: simulates nothing
    identity = None
    if whole is not None:
        identity = f"{whole}|rows={hashlib.sha256(rows.tobytes()).hexdigest()}"
    series = reference.iter_timeseries(reference.participants.iloc[rows])
    return shrunk_covariances(NamedSeries(series, identity), standardize=standardize)


def _fold_features(X, kind: str, reference: str, splits) -> list[np.ndarray]:
    """Per fold: connectivity features of every person, reference fitted on the fold's training rows.

    Only the tangent kind has a reference that depends on the training rows; the correlation
    kinds transform each scan on its own, so one transform serves every fold.
    """
    stack = X if isinstance(X, CovarianceStack) else shrunk_covariances(X, standardize=kind == "correlation")
    if kind != "tangent":
        features = ConnectivityFeatures(kind, reference=reference).fit(stack[splits[0][0]]).transform(stack)
        return [features] * len(splits)
    if reference == "log-euclidean":  # every fold's reference mean from the same per-scan logarithms
        stack = stack.with_logs()
    return [ConnectivityFeatures(kind, reference=reference).fit(stack[train]).transform(stack) for train, _ in splits]


# --------------------------------------------------------------------------------------
# ds003871: young/old discrimination and segregation
# --------------------------------------------------------------------------------------
def group_discrimination(timeseries, groups, *, connectivity: str = "tangent", n_splits: int = 5,
                         n_repeats: int = 10, n_permutations: int = 100,
                         random_state: int = 0, cache: bool = False) -> dict:
    """Cross-validated classification of two groups from connectivity (reference fitted per fold).

    Pipeline: :class:`~analysis.connectome.ConnectivityFeatures` -> standardise -> L2 logistic
    regression. Returns accuracy and ROC AUC (mean over repeated stratified folds), the
    majority-class accuracy, and a permutation p-value of the accuracy. With ``cache=True`` the
    result is kept in ``data/cache/studies``, keyed by the scans' and labels' content, the
    arguments and the code (:func:`~analysis.clock.evaluation.cached_study`).
    """
    if cache:
        labels = [str(label) for label in pd.Series(groups)]
        return cached_study("discrimination", [_array_digest(*_input_arrays(timeseries)), labels, connectivity,
                                               n_splits, n_repeats, n_permutations, random_state],
                            lambda: group_discrimination(timeseries, groups, connectivity=connectivity,
                                                         n_splits=n_splits, n_repeats=n_repeats,
                                                         n_permutations=n_permutations, random_state=random_state))
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
    if connectivity == "tangent":  # every fold's reference mean from the same per-scan logarithms
        timeseries = timeseries.with_logs()
    folds = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=random_state)
    rng = np.random.default_rng(random_state)
    runs = [(y, list(folds.split(y, y)))]
    for _ in range(n_permutations):
        shuffled = rng.permutation(y)
        split = StratifiedKFold(n_splits, shuffle=True, random_state=int(rng.integers(2**31)))
        runs.append((shuffled, list(split.split(y, shuffled))))
    tasks = [(model, timeseries, labels_, train, test) for labels_, splits in runs for train, test in splits]
    results = iter(parallel_map(_classify_fold, tasks, threads=True))
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


# --------------------------------------------------------------------------------------
# The reference cohort the clock page trains and validates on
# --------------------------------------------------------------------------------------
def validation_reference(seed: int = 0, *, n: int = 2433):
    """The reference cohort of the clock page.

    The real cohort at ``BRAINCLOCK_REFERENCE_DIR`` when that is set
    (:func:`analysis.trial.reference_from_env`), else the synthetic reference of ``n`` people
    simulated with ``seed``.
    """
    cohort = reference_from_env()
    return cohort if cohort is not None else simulate_reference(n, seed=seed)


def _range_text(low: float, high: float) -> str:
    return f"{low:.0f}\u2013{high:.0f}"


def describe_reference(reference) -> str:
    """One phrase naming the reference cohort: data kind, n, age range, sites (from the data)."""
    s = cohort_summary(reference)
    ages = _range_text(s["age_min"], s["age_max"])
    if s["kind"] == "synthetic":
        return f"the synthetic reference cohort: {s['n']:,} simulated healthy adults aged {ages}"
    sites = len(s["sites"])
    datasets = f" ({', '.join(s['datasets'])})" if s["datasets"] else ""
    return (f"a real reference cohort read from {REFERENCE_DIR_ENV}: {s['n']:,} adults aged {ages} from "
            f"{sites} site{'s' if sites != 1 else ''}{datasets}")


def describe_saved_clock(saved) -> str:
    """What a page says about a saved clock (``BRAINCLOCK_CLOCK``), or that none is used."""
    if saved is None:
        return "no saved clock is used; the clock is trained on the page"
    name = "" if getattr(saved, "path", None) is None else f"{saved.path.name}: "
    return f"the saved clock {name}{saved.describe()}"


# --------------------------------------------------------------------------------------
# The held-out study of the clock page
# --------------------------------------------------------------------------------------
@dataclass
class HoldoutStudy:
    """Result of :func:`holdout_study`.

    Attributes
    ----------
    clock : BrainAgeClock
        The fitted clock (trained here on the training split, or the saved clock).
    table : DataFrame
        One row per reference person (see :func:`holdout_predictions`); ``split`` is
        ``"train"`` (out-of-sample predictions) or ``"test"``.
    covariances : CovarianceStack
        Covariances of every reference person (reused by the learning curve).
    age : ndarray
        Reference ages.
    train, test : ndarray
        Row indices of the two splits (``train`` empty for a saved clock).
    kind : str
        ``"synthetic"`` or ``"real"``: the reference's data kind.
    saved : bool
        Whether the clock is a saved clock validated on the reference.
    features : ndarray of shape (n_people, n_edges) or None
        Tangent features of every person at the training split's reference mean (None for a
        saved clock).
    """

    clock: object
    table: pd.DataFrame
    covariances: CovarianceStack
    age: np.ndarray
    train: np.ndarray
    test: np.ndarray
    kind: str
    saved: bool = False
    features: np.ndarray | None = None

    @property
    def held_out(self) -> pd.DataFrame:
        """The rows of the people the clock never saw."""
        return self.table[self.table["split"] == "test"]


def holdout_study(reference, *, saved=None, seed: int = 0, test_size: float = 0.2,
                  cache: bool = False) -> HoldoutStudy:
    """Train a tangent + ridge clock on 80 % of ``reference`` and predict the other 20 %.

    With ``saved`` (a :class:`~analysis.clock.SavedClock` on the reference's atlas, not trained
    on this very cohort) the saved clock predicts every reference person instead: all are held
    out. A saved clock trained on this cohort cannot be validated on it; the page then trains
    its own clock as without one.
    """
    age = reference.participants["age"].to_numpy(float)
    covariances = shrunk_covariances(reference.iter_timeseries())
    kind = cohort_summary(reference)["kind"]
    if saved is not None and saved_clock_validates(saved, reference):
        clock = saved.clock
        predicted = clock.predict(covariances)
        table = pd.DataFrame({"split": "test", "age": age, "predicted_age": predicted})
        for method in ("none", "beheshti", "cole", "smith"):
            table[f"gap_{method}"] = clock.correct(predicted, age, method)
        return HoldoutStudy(clock, table, covariances, age, np.array([], int), np.arange(len(age)), kind, True)
    identity = getattr(reference.iter_timeseries(), "cache_identity", None)  # lazy: simulates nothing
    if not cache or identity is None:
        return _holdout(covariances, age, kind, seed, test_size)
    key = _study_key("holdout", [identity, seed, test_size])
    folder = cache_dir("studies")
    paths = {"fit": folder / f"{key}.joblib", "features": folder / f"{key}.npy"}
    if all(p.exists() for p in paths.values()):
        clock, table, train, test = joblib.load(paths["fit"])
        features = np.load(paths["features"], mmap_mode="r")
        return HoldoutStudy(clock, table, covariances, age, train, test, kind, features=features)
    study = _holdout(covariances, age, kind, seed, test_size)
    atomic_write(paths["features"], lambda tmp: np.save(tmp, study.features))
    atomic_write(paths["fit"], lambda tmp: joblib.dump((study.clock, study.table, study.train, study.test), tmp))
    return study


def _holdout(covariances, age, kind: str, seed: int, test_size: float) -> HoldoutStudy:
    train, test = train_test_split(np.arange(len(age)), test_size=test_size, random_state=seed)
    # the tangent reference is fitted on the training split; every person's features are then
    # computed once (the clock's fit and predict would compute the same numbers) and kept for
    # the learning curve
    # rows taken from the stack chunk by chunk, the training features fitted before the others
    # are computed: no copy of the 80 % subset's covariances or features (~0.6 GB less at peak)
    features = ConnectivityFeatures("tangent").fit_rows(covariances, train)
    Z_train = features.transform_rows(covariances, train)
    clock = fit_on_features(BrainAgeClock(random_state=seed), features, Z_train, age[train])
    Z = np.empty((len(age), Z_train.shape[1]))
    Z[train] = Z_train
    del Z_train
    Z[test] = features.transform_rows(covariances, test)
    predicted = np.empty_like(age)
    predicted[train] = clock.oof_predictions_
    with single_threaded_blas():
        predicted[test] = clock.model_.predict(Z[test])
    table = pd.DataFrame({"split": np.where(np.isin(np.arange(len(age)), test), "test", "train"),
                          "age": age, "predicted_age": predicted})
    for method in ("none", "beheshti", "cole", "smith"):
        table[f"gap_{method}"] = clock.correct(predicted, age, method)
    return HoldoutStudy(clock, table, covariances, age, train, test, kind, features=Z)


def saved_clock_validates(saved, reference) -> bool:
    """Whether ``saved`` can be validated on ``reference``: same atlas, not its training cohort."""
    if saved is None:
        return False
    same_atlas = saved.atlas.get("sha256") == atlas_digest(reference.atlas)
    trained_here = saved.training.get("digest") == cohort_summary(reference)["digest"]
    return bool(same_atlas and not trained_here)


def holdout_results(study: HoldoutStudy, *, random_state: int = 0) -> pd.DataFrame:
    """The held-out accuracy of :func:`holdout_study` as a results frame (``report.record_frame``).

    Keys ``clock.synthetic_mae`` (with a bootstrap CI), ``clock.synthetic_r`` (CI),
    ``clock.synthetic_rmse``, ``clock.synthetic_baseline_mae`` (predicting the training mean
    age) and ``clock.synthetic_n_test``; the descriptions name the reference's data kind.
    """
    test = study.held_out
    predicted, age = test["predicted_age"].to_numpy(float), test["age"].to_numpy(float)
    metrics = clock_metrics(predicted, age)
    train_mean = float(np.mean(study.clock.train_age_)) if study.saved else \
        float(study.table.loc[study.table["split"] == "train", "age"].mean())
    mae_ci = bootstrap_ci(predicted, age, "mae", random_state=random_state)
    r_ci = bootstrap_ci(predicted, age, "r", random_state=random_state)
    cohort = f"{study.kind} reference cohort"
    rows = [
        ("clock.synthetic_mae", metrics["mae"], mae_ci, "y", 1,
         f"Held-out MAE of the tangent + ridge clock, {cohort}."),
        ("clock.synthetic_r", metrics["r"], r_ci, "", 2,
         f"Held-out correlation of predicted and actual age, {cohort}."),
        ("clock.synthetic_rmse", metrics["rmse"], None, "y", 1, f"Held-out RMSE, {cohort}."),
        ("clock.synthetic_baseline_mae", float(np.mean(np.abs(age - train_mean))), None, "y", 1,
         f"Held-out MAE of predicting the training mean age, {cohort}."),
        ("clock.synthetic_n_test", float(len(test)), None, "people", 0, f"People held out of the {cohort}."),
    ]
    return _results_frame(rows)


def _results_frame(rows) -> pd.DataFrame:
    return pd.DataFrame([{"key": key, "value": float(value),
                          "ci_low": np.nan if ci is None else float(ci[0]),
                          "ci_high": np.nan if ci is None else float(ci[1]),
                          "unit": unit, "decimals": decimals, "description": description}
                         for key, value, ci, unit, decimals, description in rows])


def calibration_sentence(metrics: dict, *, target_r: tuple[float, float] = (0.7, 0.85),
                         target_mae: tuple[float, float] = (5.0, 8.0)) -> str:
    """How the held-out accuracy compares with published adult resting-state clocks.

    ``metrics`` holds ``mae`` and ``r`` (:func:`clock_metrics`); the targets are the ranges the
    synthetic world was meant to reproduce (MAE 5-8 y, r 0.7-0.85 over adulthood).
    """
    r, mae = metrics["r"], metrics["mae"]
    if r > target_r[1] or mae < target_mae[0]:
        return ("more accurate than published resting-state clocks (r above "
                f"{target_r[1]:g} or MAE below {target_mae[0]:g} y): every downstream synthetic result "
                "measures brain age more precisely than a real clock would, so effects are recovered "
                "with less noise and less shrinkage than real data allow")
    if r < target_r[0] or mae > target_mae[1]:
        return (f"less accurate than published resting-state clocks (r below {target_r[0]:g} or MAE above "
                f"{target_mae[1]:g} y): downstream results are noisier than with a typical clock")
    return "within the accuracy of published resting-state clocks"


# --------------------------------------------------------------------------------------
# What the clock can resolve in the trial: reliability and accuracy in the trial's age range
# --------------------------------------------------------------------------------------
def retest_reliability(first, second, *, confidence: float = 0.95) -> dict:
    """Test-retest reliability of one measure taken twice on the same people.

    Returns
    -------
    dict
        ``n``, ``icc`` with ``ci_low``/``ci_high`` (ICC(2,1): two-way random, absolute agreement,
        the usual test-retest form), ``sd`` (of all measurements), ``sem`` = ``sd * sqrt(1 - icc)``
        (standard error of measurement) and ``sdc`` = ``1.96 * sqrt(2) * sem``, the smallest
        change in one person's value that exceeds measurement error with 95 % confidence.
    """
    first, second = np.asarray(first, float), np.asarray(second, float)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"first and second must be 1-D of equal length; got {first.shape}, {second.shape}")
    if not (np.all(np.isfinite(first)) and np.all(np.isfinite(second))):
        raise ValueError("first and second contain NaN or infinite values")
    if len(first) < 3:
        raise ValueError(f"test-retest needs at least 3 people; got {len(first)}")
    long = pd.DataFrame({"person": np.tile(np.arange(len(first)), 2), "session": np.repeat([0, 1], len(first)),
                         "value": np.concatenate([first, second])})
    table = stats_icc(long, "person", "session", "value", confidence=confidence).loc["ICC2"]
    sd = float(np.std(np.concatenate([first, second]), ddof=1))
    sem = sd * np.sqrt(max(0.0, 1 - table["estimate"]))
    return {"n": len(first), "icc": float(table["estimate"]), "ci_low": float(table["ci_low"]),
            "ci_high": float(table["ci_high"]), "sd": sd, "sem": float(sem),
            "sdc": float(stats.norm.ppf(0.975) * np.sqrt(2) * sem)}


def control_retest(brain_age: pd.DataFrame, design, *, column: str = "brain_age_gap",
                   participants: pd.DataFrame | None = None) -> dict:
    """Test-retest reliability of the gap from the control arm's baseline and primary-visit scans.

    The control arm gets no intervention, so its gap should not change between the baseline
    and the primary visit beyond measurement error (and true change over that interval, which
    this estimate therefore counts as error: a conservative reliability).

    Parameters
    ----------
    brain_age : DataFrame
        :func:`analysis.clock.trial_brain_age`'s table (``participant_id, month`` and ``column``);
        an ``arm`` column, or ``participants`` with ``participant_id, arm``.
    design : analysis.trial.TrialDesign
        Gives the control arm, the baseline and the primary visit.
    """
    table = brain_age
    if "arm" not in table:
        if participants is None:
            raise ValueError("brain_age has no 'arm' column: pass participants (participant_id, arm)")
        table = table.merge(participants[["participant_id", "arm"]], on="participant_id", how="left")
    control = table[table["arm"] == design.control]
    wide = control.pivot_table(index="participant_id", columns="month", values=column)
    visits = [design.baseline, design.primary_visit]
    missing = [v for v in visits if v not in wide.columns]
    if missing:
        raise ValueError(f"no control-arm scans at visit(s) {missing}")
    wide = wide[visits].dropna()
    if len(wide) < 3:
        raise ValueError(f"too few control-arm people with both scans: {len(wide)}")
    return retest_reliability(wide[visits[0]], wide[visits[1]])


def trial_age_range(design, ages=None) -> tuple[float, float]:
    """Ages the trial's scans span: inclusion ages to inclusion ages + the last visit.

    From ``design.inclusion_age`` when the design has one (e.g. 62-71 at inclusion and visits up
    to 24 months: 62-73), else the observed range of ``ages``.
    """
    if design.inclusion_age is not None:
        low, high = design.inclusion_age
        return float(low), float(high) + max(design.visits) / 12
    if ages is None or len(ages) == 0:
        raise ValueError("the design has no inclusion_age: pass the trial's scan ages")
    ages = np.asarray(ages, float)
    return float(np.min(ages)), float(np.max(ages))


#: Fewest held-out reference people in the trial's age range for the accuracy there to be estimated.
MIN_RANGE_N = 10


def range_accuracy(table: pd.DataFrame, age_range: tuple[float, float], *, gap: str = "gap_beheshti",
                   n_boot: int = 2000, random_state: int = 0) -> dict:
    """Accuracy of held-out predictions within an age range, with bootstrap CIs over people.

    Returns ``n``, ``mae`` (uncorrected predictions) with ``mae_ci``, and ``gap_age_r`` (the
    correlation of the ``gap`` column with age inside the range) with ``gap_age_r_ci``.
    """
    low, high = age_range
    rows = table[(table["age"] >= low) & (table["age"] <= high)]
    if len(rows) < MIN_RANGE_N:
        raise ValueError(f"only {len(rows)} held-out people aged {low:g}-{high:g}; need at least {MIN_RANGE_N}")
    predicted, age, gaps = (rows[c].to_numpy(float) for c in ("predicted_age", "age", gap))
    mae = stats_bootstrap_ci((predicted, age), lambda p, a: float(np.mean(np.abs(p - a))), n_boot=n_boot,
                             random_state=random_state)
    r = stats_bootstrap_ci((gaps, age), _pearson, n_boot=n_boot, random_state=random_state)
    return {"n": len(rows), "range": (float(low), float(high)), "mae": mae.estimate,
            "mae_ci": (mae.ci_low, mae.ci_high), "gap_age_r": r.estimate, "gap_age_r_ci": (r.ci_low, r.ci_high)}


def _pearson(x, y) -> float:
    return float(np.corrcoef(x, y)[0, 1]) if np.std(x) > 0 and np.std(y) > 0 else 0.0


def second_session(reference, participant_id: str, session: int = 1) -> np.ndarray:
    """A further scan of a synthetic reference person: same brain, a new session's noise.

    The simulator draws each scan from its own stream keyed by (seed, kind, person, month); the
    reference scans use month 0. Session ``s`` uses month key ``s`` with the person's latent
    brain age, fingerprint and head motion unchanged, so only session noise, ROI noise and the
    time courses differ -- a same-day rescan. Only for the synthetic reference.
    """
    model = getattr(reference, "_model", None)
    if getattr(reference, "source", None) != "synthetic" or model is None:
        raise ValueError("second_session needs the synthetic reference (a real cohort's rescans are data)")
    if session < 1:
        raise ValueError(f"session must be >= 1 (0 is the scan the reference already has); got {session}")
    people = reference.participants
    i = int(np.flatnonzero(people["participant_id"].to_numpy() == participant_id)[0])
    return model.scan(reference.seed, KIND_REFERENCE, i, session, float(reference.truth["brain_age"].iat[i]),
                      float(people["mean_fd_mm"].iat[i]), 0.0, int(people["n_volumes"].iat[i]))


def session_retest(clock, reference, participant_ids, *, first=None, column: str = "beheshti") -> dict:
    """Same-day test-retest reliability of the clock's gap on synthetic reference people.

    Applies ``clock`` to each person's reference scan (``first``: their covariances, if already
    computed) and to a simulated second session (:func:`second_session`) and returns
    :func:`retest_reliability` of the two ``column``-corrected gaps.
    """
    ids = list(participant_ids)
    people = reference.participants.set_index("participant_id")
    age = people.loc[ids, "age"].to_numpy(float)
    if first is None:
        first = shrunk_covariances(reference.timeseries(p) for p in ids)
    second = shrunk_covariances(second_session(reference, p) for p in ids)
    gaps = [clock.correct(clock.predict(stack), age, column) for stack in (first, second)]
    return retest_reliability(*gaps)


def resolution_study(study: HoldoutStudy, brain_age: pd.DataFrame, trial, reference, *,
                     random_state: int = 0) -> dict:
    """What the clock can resolve in the trial: reliability, SDC and accuracy in its age range.

    * control-arm test-retest of the gap (baseline vs primary visit; :func:`control_retest`);
    * with the synthetic reference, same-day test-retest of held-out people in the trial's age
      range (:func:`session_retest`);
    * MAE and gap-age correlation of held-out reference people in the trial's age range
      (:func:`trial_age_range`, :func:`range_accuracy`).

    A reference cohort with fewer than :data:`MIN_RANGE_N` held-out people in the trial's age
    range gives ``accuracy`` (and ``session``) None and ``n_in_range`` says how many there were.
    """
    design = trial.design
    age_range = trial_age_range(design, brain_age["age"])
    held = study.held_out
    in_range = (held["age"] >= age_range[0]) & (held["age"] <= age_range[1])
    n_in_range = int(in_range.sum())
    enough = n_in_range >= MIN_RANGE_N
    accuracy = range_accuracy(held, age_range, random_state=random_state) if enough else None
    control = control_retest(brain_age, design, participants=trial.participants)
    session = None
    if enough and getattr(reference, "source", None) == "synthetic" and hasattr(reference, "_model"):
        rows = held.index[in_range].to_numpy()
        ids = reference.participants["participant_id"].to_numpy()[rows]
        session = session_retest(study.clock, reference, ids, first=study.covariances[rows])
    return {"age_range": age_range, "accuracy": accuracy, "n_in_range": n_in_range, "control": control,
            "session": session, "design": design}


def resolution_results(resolution: dict) -> pd.DataFrame:
    """The four registered numbers of :func:`resolution_study` as a results frame."""
    acc, control = resolution["accuracy"], resolution["control"]
    design = resolution["design"]
    ages = _range_text(*resolution["age_range"])
    rows = [
        ("clock.gap_icc", control["icc"], (control["ci_low"], control["ci_high"]), "", 2,
         f"Test-retest ICC(2,1) of the corrected gap, {design.control} arm, month {design.baseline} vs "
         f"{design.primary_visit} (n={control['n']})."),
        ("clock.smallest_detectable_change", control["sdc"], None, "y", 1,
         "Smallest detectable change of one person's gap, 1.96 x sqrt(2) x SEM, SEM = SD x sqrt(1 - ICC)."),
    ]
    if acc is not None:
        rows += [
            ("clock.trial_range_mae", acc["mae"], acc["mae_ci"], "y", 1,
             f"Held-out MAE of the clock for reference people aged {ages} (n={acc['n']})."),
            ("clock.trial_range_gap_age_r", acc["gap_age_r"], acc["gap_age_r_ci"], "", 2,
             f"Correlation of the corrected gap with age, held-out reference people aged {ages}."),
        ]
    return _results_frame(rows)


def range_accuracy_sentence(resolution: dict) -> str:
    """The clock's accuracy in the trial's age range in words, or why it could not be estimated."""
    acc, ages = resolution["accuracy"], _range_text(*resolution["age_range"])
    if acc is None:
        return (f"Only {resolution['n_in_range']} held-out reference people are aged {ages} years, the "
                f"trial's age range (at least {MIN_RANGE_N} are needed), so the clock's accuracy there is not "
                "estimated; a correction fitted over the reference's whole age range need not remove the age "
                "dependence inside the trial's narrow range, one reason the arm comparisons keep age as a "
                "covariate")
    (mae_low, mae_high), (r_low, r_high) = acc["mae_ci"], acc["gap_age_r_ci"]
    num = format_number  # a true minus sign, as the glued numbers have

    return (f"In the trial's age range ({ages} years) the held-out MAE is {num(acc['mae'], 1)} y "
            f"(95% CI {num(mae_low, 1)} to {num(mae_high, 1)}, n = {acc['n']}), and the corrected gap correlates "
            f"with age at r = {num(acc['gap_age_r'], 2)} (95% CI {num(r_low, 2)} to {num(r_high, 2)}) there: a "
            "correction "
            "fitted over the whole adult range need not remove the age dependence inside a narrow range, "
            "which is one more reason the arm comparisons keep age as a covariate")


def resolution_table(resolution: dict) -> pd.DataFrame:
    """The reliability estimates of :func:`resolution_study`, one row per design, for a table."""
    rows = []
    design = resolution["design"]
    for label, result in ((f"{design.control} arm, month {design.baseline} vs {design.primary_visit}",
                           resolution["control"]),
                          ("synthetic same-day rescan, held-out reference people", resolution["session"])):
        if result is not None:
            rows.append({"retest design": label, "n": result["n"], "ICC": result["icc"],
                         "ICC CI low": result["ci_low"], "ICC CI high": result["ci_high"],
                         "SD (y)": result["sd"], "SEM (y)": result["sem"], "SDC (y)": result["sdc"]})
    return pd.DataFrame(rows).set_index("retest design")


def resolution_sentence(resolution: dict, effect: float | None = None) -> str:
    """What the reliability means for individual change, chosen from the numbers.

    ``effect`` (optional, years) is an expected group effect to set against the smallest
    detectable change.
    """
    control = resolution["control"]
    low = control["ci_low"]
    quality = ("excellent" if low >= 0.9 else "good" if low >= 0.75 else "moderate" if low >= 0.5 else "poor")
    text = (f"the lower CI bound of the ICC ({low:.2f}) indicates {quality} reliability "
            f"(Koo & Li 2016 bands); a single person's gap must change by more than "
            f"{control['sdc']:.1f} y before the change exceeds measurement error")
    if effect is not None:
        ratio = control["sdc"] / abs(effect) if effect else np.inf
        text += (f", about {ratio:.0f} times the {abs(effect):g}-year group effect the trial reports: the clock "
                 "can detect such an effect as a group mean, not in individuals")
    return text


# --------------------------------------------------------------------------------------
# Conclusions chosen from estimates and their CIs
# --------------------------------------------------------------------------------------
def transfer_conclusion(predictions: pd.DataFrame, train_age_mean: float, *, n_boot: int = 2000,
                        random_state: int = 0) -> str:
    """The external test's conclusion, from paired bootstrap CIs over the test people.

    ``predictions`` is :func:`site_calibrated_transfer`'s per-person table. Two comparisons:
    calibrated predictions against predicting the training mean age (does the clock carry to new
    sites at all?), and calibrated against uncalibrated (does calibration help?).
    """
    age = predictions["age"].to_numpy(float)
    raw = np.abs(predictions["predicted_age"].to_numpy(float) - age)
    calibrated = np.abs(predictions["predicted_calibrated"].to_numpy(float) - age)
    baseline = np.abs(train_age_mean - age)
    gain = stats_bootstrap_ci((baseline, calibrated), lambda b, c: float(np.mean(b - c)), n_boot=n_boot,
                              random_state=random_state)
    fix = stats_bootstrap_ci((raw, calibrated), lambda r, c: float(np.mean(r - c)), n_boot=n_boot,
                             random_state=random_state)
    if gain.ci_low > 0:
        first = "predicts age at new sites better than the training mean age does"
    elif gain.ci_high < 0:
        first = "predicts age at new sites worse than the training mean age does"
    else:
        first = "is not distinguishable from predicting the training mean age at new sites"
    if fix.ci_low > 0:
        second = f"site calibration lowers the MAE by {fix.estimate:.1f} y (95% CI {fix.ci_low:.1f} to {fix.ci_high:.1f})"
    elif fix.ci_high < 0:
        second = f"site calibration raises the MAE by {-fix.estimate:.1f} y"
    else:
        second = "site calibration makes no clear difference"
    return f"after calibration the clock {first}; {second}"


def segregation_conclusion(summaries: pd.DataFrame, main_k: int = 7) -> str:
    """Whether segregation is lower in older adults, from Hedges' g and its CI (``main_k`` communities).

    ``summaries`` is :func:`segregation_by_k`'s table.
    """
    row = summaries.loc[main_k]
    low, high = row["g CI low"], row["g CI high"]
    signs = np.sign(summaries["Hedges g"].to_numpy())
    across = ("for every number of communities tried" if np.all(signs == signs[0])
              else "but not for every number of communities tried")
    direction = "higher" if row["Hedges g"] > 0 else "lower"
    if high < 0:
        verdict = "supports the simulator's assumption: segregation is lower in the older group"
    elif low > 0:
        verdict = "contradicts the simulator's assumption: segregation is higher in the older group"
    else:
        verdict = (f"does not support the simulator's assumption in this dataset: segregation is {direction} "
                   "in the older group, with a CI that includes no difference")
    return f"{verdict} ({direction} {across})"


def segregation_by_k(timeseries, groups, *, n_communities=(5, 7, 9), random_state: int = 0
                     ) -> tuple[pd.DataFrame, dict]:
    """:func:`segregation_by_group` for several numbers of communities.

    Returns
    -------
    (DataFrame, dict)
        One row per number of communities (``older minus younger``, ``Hedges g`` with its CI,
        ``Welch p``), and ``{k: (per-person table, summary)}``.
    """
    series = list(timeseries)
    results = {k: segregation_by_group(series, groups, n_communities=k, random_state=random_state)
               for k in n_communities}
    table = pd.DataFrame([{"communities": k, "older minus younger": s["difference"], "Hedges g": s["g"],
                           "g CI low": s["g_ci"][0], "g CI high": s["g_ci"][1], "Welch p": s["p"]}
                          for k, (_, s) in results.items()]).set_index("communities")
    return table, results


# --------------------------------------------------------------------------------------
# Results frames of the open-data checks
# --------------------------------------------------------------------------------------
def evaluation_results(evaluation, prefix: str, label: str, *, cv: str, note: str = "") -> pd.DataFrame:
    """MAE, r, mean-age baseline MAE and (with permutations) the p-value of an evaluation.

    Keys ``<prefix>_mae``, ``<prefix>_r``, ``<prefix>_baseline_mae``, ``<prefix>_p``.
    """
    note = f" ({note})" if note else ""
    rows = [
        (f"{prefix}_mae", evaluation.metric("mae"), None, "y", 1, f"{label}: {cv} CV MAE{note}."),
        (f"{prefix}_r", evaluation.metric("r"), None, "", 2, f"{label}: CV correlation of predicted and actual age."),
        (f"{prefix}_baseline_mae", evaluation.metric("mae", "mean_age"), None, "y", 1,
         f"{label}: MAE of predicting the training-fold mean age."),
    ]
    n_perm = len(evaluation.permutation_mae)
    if n_perm:
        rows.append((f"{prefix}_p", evaluation.p_value, None, "", 3,
                     f"{label}: permutation p-value of the MAE ({n_perm} permutations)."))
    return _results_frame(rows)


def discrimination_results(result: dict, prefix: str, label: str, *, cv: str, n_permutations: int) -> pd.DataFrame:
    """Accuracy, AUC, chance and permutation p of :func:`group_discrimination` as a results frame."""
    rows = [
        (f"{prefix}_accuracy", result["accuracy"], None, "", 2, f"{label}: {cv} CV accuracy telling younger from older adults."),
        (f"{prefix}_auc", result["auc"], None, "", 2, f"{label}: CV ROC AUC, younger vs older."),
        (f"{prefix}_chance", result["chance"], None, "", 2, f"{label}: majority-class accuracy."),
        (f"{prefix}_p", result["p_value"], None, "", 2,
         f"{label}: permutation p-value of the accuracy ({n_permutations} permutations)."),
    ]
    return _results_frame(rows)


def segregation_results(summaries: dict, main_k: int, label: str) -> pd.DataFrame:
    """Hedges' g and the difference of segregation (older - younger) at ``main_k`` communities."""
    s = summaries[main_k][1]
    rows = [
        ("clock.segregation_effect", s["g"], s["g_ci"], "", 2,
         f"{label}: Hedges g of segregation, older minus younger ({main_k} communities)."),
        ("clock.segregation_difference", s["difference"], s["difference_ci"], "", 3,
         f"{label}: segregation difference, older minus younger."),
    ]
    return _results_frame(rows)


def thickness_results(evaluation, transfer_metrics: pd.DataFrame, *, cv: str) -> pd.DataFrame:
    """The fcon1000 thickness clock (CV) and its external test, as a results frame."""
    stages = transfer_metrics.set_index("stage")
    rows = [
        ("clock.fcon1000_mae", evaluation.metric("mae"), None, "y", 1, f"fcon1000 thickness + site: {cv} CV MAE."),
        ("clock.fcon1000_r", evaluation.metric("r"), None, "", 2,
         "fcon1000 thickness + site: CV correlation of predicted and actual age."),
        ("clock.transfer_mae_uncalibrated", stages.loc["uncalibrated", "mae"], None, "y", 1,
         "OpenNeuro te: MAE before site calibration."),
        ("clock.transfer_mae", stages.loc["site-calibrated", "mae"], None, "y", 1,
         "OpenNeuro te: MAE after site calibration on the ad split."),
        ("clock.transfer_r", stages.loc["site-calibrated", "r"], None, "", 2,
         "OpenNeuro te: correlation of calibrated predictions and age."),
    ]
    return _results_frame(rows)


def scans_by_visit(brain_age: pd.DataFrame) -> pd.DataFrame:
    """Trial scans per visit month: count, mean age, mean predicted age, mean gaps, SD of the gap."""
    return brain_age.groupby("month").agg(
        scans=("participant_id", "size"), age=("age", "mean"), predicted_age=("predicted_age", "mean"),
        gap_uncorrected=("brain_age_gap_uncorrected", "mean"), gap_beheshti=("gap_beheshti", "mean"),
        gap_cole=("gap_cole", "mean"), gap_sd=("brain_age_gap", "std"))


def _ages(values, decimals: int = 0) -> str:
    values = np.asarray(values, float)
    return f"{values.min():.{decimals}f}\u2013{values.max():.0f}"


def validation_summary(study: HoldoutStudy, dev: tuple, ds003871: tuple, fcon: tuple, external: tuple
                       ) -> pd.DataFrame:
    """One row per dataset the clock was checked on, with a verdict chosen from the numbers.

    Parameters
    ----------
    study : HoldoutStudy
    dev : (evaluation, table)
        Development fMRI evaluation and its people (``age``).
    ds003871 : (discrimination dict, group table, segregation conclusion str)
    fcon : (evaluation, table)
    external : (per-person predictions, metrics frame, transfer conclusion str)
    """
    test = study.held_out
    held = clock_metrics(test["predicted_age"], test["age"])
    dev_eval, dev_table = dev
    disc, groups, seg_text = ds003871
    fcon_eval, fcon_table = fcon
    ext_predictions, ext_metrics, ext_text = external
    calibrated = ext_metrics.set_index("stage").loc["site-calibrated"]

    def learns(evaluation) -> str:
        better = evaluation.metric("mae") < evaluation.metric("mae", "mean_age")
        p = evaluation.p_value
        tested = "" if np.isnan(p) else f", permutation p = {p:.2g}"
        return ("learns age (MAE below the mean-age baseline" if better else
                "does not beat predicting the mean age (MAE") + tested + ")"

    separated = "groups separated" if disc["p_value"] < 0.05 else "groups not clearly separated"
    rows = [
        (f"{study.kind} reference (held out)", f"rs-fMRI, {study.kind}", len(test), _ages(test["age"]), held["mae"],
         held["r"], float(np.mean(np.abs(test["gap_beheshti"]))), calibration_sentence(held).split(":")[0]),
        ("development fMRI", "movie fMRI, BASC-064", len(dev_table), _ages(dev_table["age"], 1),
         dev_eval.metric("mae"), dev_eval.metric("r"), dev_eval.metric("mae", "corrected"),
         learns(dev_eval) + "; row-to-age mapping inferred"),
        ("ds003871", "rs-fMRI, group ICA", len(groups), "younger / older only", np.nan, np.nan, np.nan,
         f"{separated}; segregation {seg_text.split(':')[0]}"),
        ("fcon1000", "cortical thickness", len(fcon_table), _ages(fcon_table["age"]), fcon_eval.metric("mae"),
         fcon_eval.metric("r"), fcon_eval.metric("mae", "corrected"), learns(fcon_eval)),
        ("OpenNeuro te (external)", "cortical thickness", len(ext_predictions), _ages(ext_predictions["age"]),
         calibrated["mae"], calibrated["r"], np.nan, ext_text),
    ]
    columns = ["dataset", "modality", "n", "age range", "MAE (y)", "r", "MAE corrected (y)", "verdict"]
    return pd.DataFrame(rows, columns=columns)
