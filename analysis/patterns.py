"""What the clock looks at, and what changes in the brain: connectivity patterns.

* :func:`haufe_pattern` turns a linear model's weights into an *activation pattern*
  (Haufe et al. 2014): for a model ``y_hat = X w`` the pattern ``a = cov(X) w / var(y_hat)
  = cov(X, y_hat) / var(y_hat)`` says how each feature co-varies with the prediction. Weights
  of a regularised model on correlated edges are not interpretable one by one; patterns are.
  The pattern is computed from ``cov(X, y_hat)`` without ever forming the 12,720 x 12,720
  covariance of the edges.
* :func:`network_matrix` summarises any edge-wise quantity by pairs of Dosenbach networks.
* :func:`network_clock_scores` tests "whole-brain, no single network": clocks trained on one
  network's edges at a time against a clock on all edges, in cross-validation.
* :func:`prefrontal_change` compares the change in prefrontal connectivity between two arms
  from baseline to a visit, edge by edge with Benjamini-Hochberg FDR, and as a network-level
  mean; :func:`prefrontal_study` runs it for every active arm of the trial's design against
  its control at the primary visit. Prefrontal ROIs come from the atlas's optional ``region``
  column (:func:`prefrontal_rois`); without one the analysis is "not available for this atlas".

Networks always come from the atlas's ``network`` column; nothing assumes an atlas size.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from analysis._paths import atomic_write, cache_dir, cache_lock, code_digest
from analysis._threads import parallel_map, single_threaded_blas
from analysis.atlas import prefrontal_mask
from analysis.clock import DEFAULT_ALPHAS, clock_metrics
from analysis.clock.models import LeaveOneOutRidge
from analysis.connectome import (
    NamedSeries,
    connectivity_features,
    named_features,
    shrunk_covariances,
    unvectorize,
    vectorize,
)
from analysis.stats import fdr_bh
from analysis.trial import LISA, reference_from_env, simulate_reference
from analysis.trial.reference import (
    REGION_NOT_AVAILABLE,
    atlas_name,
    cohort_summary,
    has_regions,
    region_mask,
)

__all__ = [
    "reference_features",
    "clock_pattern",
    "haufe_pattern",
    "edge_networks",
    "network_matrix",
    "network_edge_mask",
    "network_clock_scores",
    "scan_connectivity",
    "prefrontal_change",
    "PrefrontalChange",
    "pattern_reference",
    "pattern_summary",
    "network_clock_summary",
    "prefrontal_rois",
    "prefrontal_study",
    "PrefrontalStudy",
]

#: Ridge penalties searched by the network-restricted clocks (standardised features).
ALPHAS = DEFAULT_ALPHAS
#: Package files whose code fixes :func:`network_clock_scores` (the key of its cache).
NETWORK_CLOCK_CODE = ("_threads.py", "clock/estimator.py", "clock/models.py", "patterns.py")


# --------------------------------------------------------------------------------------
# Activation patterns
# --------------------------------------------------------------------------------------
def haufe_pattern(X: np.ndarray, predictions: np.ndarray, *, normalize: bool = True) -> np.ndarray:
    """Haufe activation pattern of a model with one output.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The features the model saw (e.g. tangent edges).
    predictions : ndarray of shape (n_samples,)
        The model's output on ``X``. For a linear model ``X @ w`` this gives ``cov(X) w``.
    normalize : bool, default=True
        Divide by ``var(predictions)`` (Haufe 2014, eq. 6), so the pattern is in feature units
        per unit of prediction (here: per year of predicted age).

    Returns
    -------
    ndarray of shape (n_features,)
    """
    X = np.asarray(X, dtype=float)
    predictions = np.asarray(predictions, dtype=float)
    if X.ndim != 2 or predictions.shape != (X.shape[0],):
        raise ValueError(
            f"X must be 2-D with one prediction per row; got X {X.shape}, predictions {predictions.shape}"
        )
    if X.shape[0] < 3:
        raise ValueError(f"need at least 3 samples, got {X.shape[0]}")
    centred = predictions - predictions.mean()
    pattern = (X - X.mean(axis=0)).T @ centred / (len(centred) - 1)
    if normalize:
        variance = centred @ centred / (len(centred) - 1)
        if variance <= 0:
            raise ValueError("predictions are constant: the pattern is undefined")
        pattern = pattern / variance
    return pattern


def reference_features(n: int = 800, *, seed: int = 0, reference=None) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Tangent-space connectivity features of (a subset of) the reference cohort.

    Parameters
    ----------
    n : int, default=800
        People simulated (ignored when ``reference`` is given).
    seed : int, default=0
        Seed of the simulated reference cohort.
    reference : analysis.trial.Reference, optional
        A reference cohort to use instead.

    Returns
    -------
    features : ndarray of shape (n, n_rois * (n_rois - 1) / 2)
        Tangent features (reference mean fitted on these people).
    age : ndarray of shape (n,)
    atlas : DataFrame
    """
    reference = simulate_reference(n, seed=seed) if reference is None else reference
    series = reference.iter_timeseries()
    identity = getattr(series, "cache_identity", None)

    if identity is None:
        with single_threaded_blas():  # many small matrices: one thread is faster
            features = connectivity_features(shrunk_covariances(series), "tangent")
    else:  # the same embedding the clock is trained on: computed once per build
        features = np.asarray(named_features(identity, "tangent", lambda: shrunk_covariances(series))[1])
    return features, reference.participants["age"].to_numpy(float), reference.atlas


def clock_pattern(features: np.ndarray, age: np.ndarray) -> tuple[np.ndarray, object]:
    """Fit the clock's regression model on precomputed features; return its Haufe pattern.

    The model is the one :class:`analysis.clock.BrainAgeClock` uses by default (standardised
    features + ridge with the penalty chosen by leave-one-out CV). The bias correction is left
    out: it is an affine map of the prediction and does not change the pattern's direction.

    Returns
    -------
    pattern : ndarray of shape (n_features,)
        ``cov(X, y_hat) / var(y_hat)``: change of each edge per year of predicted age.
    model : sklearn Pipeline
        The fitted model.
    """
    model = _ridge().fit(np.asarray(features, float), np.asarray(age, float))
    return haufe_pattern(features, model.predict(features)), model


# --------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------
def edge_networks(networks: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Network of each end of every edge, in :func:`analysis.connectome.vectorize` order."""
    labels = np.asarray(networks)
    rows, cols = np.tril_indices(len(labels), k=-1)
    return labels[rows], labels[cols]


def network_edge_mask(networks: Sequence[str], network: str, scope: str = "within") -> np.ndarray:
    """Edges of one network: ``"within"`` (both ends in it) or ``"touching"`` (at least one)."""
    first, second = edge_networks(networks)
    if network not in set(first) | set(second):
        raise ValueError(f"network {network!r} is not among the labels {sorted(set(networks))}")
    if scope == "within":
        return (first == network) & (second == network)
    if scope == "touching":
        return (first == network) | (second == network)
    raise ValueError(f"scope must be 'within' or 'touching', got {scope!r}")


def network_matrix(edge_values: np.ndarray, networks: Sequence[str], *, statistic: str = "mean") -> pd.DataFrame:
    """Summarise an edge-wise vector by pairs of networks.

    Parameters
    ----------
    edge_values : ndarray of shape (n_edges,)
        One value per edge (lower triangle, :func:`~analysis.connectome.vectorize` order).
    networks : sequence of str
        Network label per ROI.
    statistic : {"mean", "mean_abs", "sum_abs"}, default="mean"
        Mean value, mean absolute value, or summed absolute value (a pair's share of the total).

    Returns
    -------
    DataFrame
        Symmetric networks x networks matrix (sorted labels).
    """
    values = np.asarray(edge_values, dtype=float)
    first, second = edge_networks(networks)
    if values.shape != first.shape:
        raise ValueError(f"edge_values has {values.size} values but the atlas has {first.size} edges")
    funcs = {"mean": np.mean, "mean_abs": lambda v: np.mean(np.abs(v)), "sum_abs": lambda v: np.sum(np.abs(v))}
    if statistic not in funcs:
        raise ValueError(f"statistic must be one of {sorted(funcs)}, got {statistic!r}")
    names = sorted(set(first) | set(second))
    out = pd.DataFrame(np.nan, index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[: i + 1]:
            pick = ((first == a) & (second == b)) | ((first == b) & (second == a))
            if pick.any():
                out.loc[a, b] = out.loc[b, a] = funcs[statistic](values[pick])
    return out


def _ridge():
    return make_pipeline(StandardScaler(), LeaveOneOutRidge(alphas=ALPHAS))


def _cv_scores(X: np.ndarray, age: np.ndarray, folds) -> dict[str, float]:
    metrics = clock_metrics(cross_val_predict(_ridge(), X, age, cv=folds), age)
    return {name: metrics[name] for name in ("mae", "r", "r2")}


def network_clock_scores(
    X: np.ndarray,
    age: np.ndarray,
    networks: Sequence[str],
    *,
    scopes: Sequence[str] = ("within", "touching"),
    n_splits: int = 5,
    random_state: int | None = 0,
    cache: bool = False,
) -> pd.DataFrame:
    """Cross-validated accuracy of ridge clocks restricted to one network's edges, and all edges.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_edges)
        Connectivity features (e.g. tangent), all edges in vectorised order.
    age : ndarray of shape (n_samples,)
        Chronological age.
    networks : sequence of str
        Network label per ROI.
    scopes : sequence of {"within", "touching"}
        Edge sets per network (see :func:`network_edge_mask`).
    n_splits : int, default=5
        K of the shuffled K-fold CV (the same folds for every edge set).
    random_state : int or None, default=0
        Seed of the folds.

    cache : bool, default=False
        Keep the table in ``data/cache/studies``, keyed by the content of ``X``, ``age`` and
        ``networks``, the other arguments and the code (a rebuild reads it).

    Returns
    -------
    DataFrame
        ``network, scope, n_edges, mae, r, r2``; the all-edges clock has network ``"all"``.
    """
    X, age = np.asarray(X, dtype=float), np.asarray(age, dtype=float)
    if cache:
        digest = hashlib.sha256()
        for array in (X, age, np.asarray(networks, dtype=str)):
            digest.update(np.ascontiguousarray(array).tobytes())
        key = hashlib.sha256(f"network-clocks|{digest.hexdigest()}|{list(scopes)}|{n_splits}|{random_state}|"
                             f"{code_digest(NETWORK_CLOCK_CODE)}".encode()).hexdigest()[:32]
        path = cache_dir("studies") / f"{key}.pkl"
        with cache_lock(path):
            if path.exists():
                return pd.read_pickle(path)
            table = network_clock_scores(X, age, networks, scopes=scopes, n_splits=n_splits,
                                         random_state=random_state)
            atomic_write(path, table.to_pickle)
            return table
    if X.ndim != 2 or len(age) != X.shape[0]:
        raise ValueError(f"X must be 2-D with one age per row; got X {X.shape}, age {age.shape}")
    folds = KFold(n_splits, shuffle=True, random_state=random_state)
    edge_sets = [("all", "all", np.ones(X.shape[1], dtype=bool))]
    edge_sets += [(network, scope, network_edge_mask(networks, network, scope))
                  for scope in scopes for network in sorted(set(networks))]
    # one CV per edge set, independent of the others: on the available cores
    with single_threaded_blas():
        scores = parallel_map(_edge_set_scores, [(X, age, mask, folds) for _, _, mask in edge_sets], threads=True)
    return pd.DataFrame([{"network": network, "scope": scope, "n_edges": int(mask.sum()), **score}
                         for (network, scope, mask), score in zip(edge_sets, scores)])


def _edge_set_scores(task) -> dict[str, float]:
    X, age, mask, folds = task
    return _cv_scores(X if mask.all() else X[:, mask], age, folds)


# --------------------------------------------------------------------------------------
# Change in prefrontal connectivity
# --------------------------------------------------------------------------------------
def scan_connectivity(trial, scans: pd.DataFrame, rois: np.ndarray | None = None) -> np.ndarray:
    """Fisher-z correlation matrices of the given scans (Ledoit-Wolf, z-scored series).

    Parameters
    ----------
    trial : analysis.trial.Trial
        Source of the time series.
    scans : DataFrame
        Rows with ``participant_id`` and ``month``.
    rois : boolean ndarray of shape (n_rois,), optional
        Keep only these ROIs (default: all).

    Returns
    -------
    ndarray of shape (n_scans, k, k)
    """
    with single_threaded_blas():  # many small matrices: one thread is faster
        identity = trial.scans_identity(scans) if hasattr(trial, "scans_identity") else None
        stack = shrunk_covariances(NamedSeries(trial.iter_timeseries(scans), identity), standardize=True)
        corr = unvectorize(connectivity_features(stack, "correlation"), diagonal=1.0)
    if rois is not None:
        corr = corr[:, rois][:, :, rois]
    return np.arctanh(np.clip(corr, -0.999999, 0.999999))


class PrefrontalChange:
    """Result of :func:`prefrontal_change`.

    Attributes
    ----------
    edges : DataFrame
        One row per prefrontal edge: ``roi_a, roi_b, network_a, network_b, difference`` (mean
        change in arm A minus arm B, Fisher z), ``t, p, p_fdr``.
    summary : DataFrame
        Network-level results: rows ``all prefrontal`` and one per pair of networks among the
        prefrontal ROIs with ``difference, se, ci_low, ci_high, t, p, n_a, n_b``.
    rois : DataFrame
        The prefrontal ROIs (atlas rows).
    t_matrix : ndarray of shape (k, k)
        Edge t-values as a matrix over the prefrontal ROIs (zero diagonal).
    """

    def __init__(self, edges, summary, rois, t_matrix):
        self.edges, self.summary, self.rois, self.t_matrix = edges, summary, rois, t_matrix


def _welch(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Welch two-sample comparison of means (a - b), with a 95% CI."""
    va, vb = a.var(ddof=1, axis=0) / len(a), b.var(ddof=1, axis=0) / len(b)
    diff = a.mean(axis=0) - b.mean(axis=0)
    se = np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t = diff / se
    q = sps.t.ppf(0.975, df)
    return {"difference": diff, "se": se, "ci_low": diff - q * se, "ci_high": diff + q * se,
            "t": t, "p": 2 * sps.t.sf(np.abs(t), df)}


def _paired_scans(trial, arms: Sequence[str], month: int, *, baseline: int = 0) -> pd.DataFrame:
    scans = trial.scans
    keep = scans[scans["arm"].isin(arms) & scans["month"].isin([baseline, month])]
    both = keep.groupby("participant_id")["month"].transform("nunique") == 2
    return keep[both].sort_values(["participant_id", "month"]).reset_index(drop=True)


def prefrontal_change(
    trial, *, arm: str | None = None, control: str | None = None, month: int | None = None,
    rois: np.ndarray | None = None,
) -> PrefrontalChange:
    """Change in prefrontal connectivity from baseline to ``month``, ``arm`` versus ``control``.

    People with a usable scan at both visits contribute their change in Fisher-z correlation
    per edge; arms are compared with Welch's t-test per edge, with Benjamini-Hochberg FDR over
    all prefrontal edges, and on the person-level mean over all prefrontal edges and over each
    pair of networks (a handful of pre-specified tests, reported without adjustment).

    Parameters
    ----------
    trial : analysis.trial.Trial
    arm, control : str, optional
        Arms compared (difference = arm - control); default the design's first active arm and
        its control (``trial.design``).
    month : int, optional
        Post-baseline visit (default the design's primary visit).
    rois : boolean ndarray, optional
        ROI mask (default :func:`prefrontal_rois` of the trial's atlas).
    """
    design = getattr(trial, "design", LISA)
    arm = design.active_arms[0] if arm is None else arm
    control = design.control if control is None else control
    month = design.primary_visit if month is None else month
    if rois is None:
        rois = prefrontal_rois(trial.atlas)
        if rois is None:
            raise ValueError(f"prefrontal ROIs {REGION_NOT_AVAILABLE} (atlas.tsv has no 'region' column)")
    rois = np.asarray(rois, bool)
    if rois.sum() < 3:
        raise ValueError(f"need at least 3 ROIs, got {int(rois.sum())}")
    return _changes(trial, [arm], control, month, rois, design.baseline)[arm]


def _changes(trial, arms: Sequence[str], control: str, month: int, rois: np.ndarray,
             baseline: int) -> dict[str, PrefrontalChange]:
    """:func:`prefrontal_change` of each of ``arms`` against ``control``, every scan read once."""
    scans = _paired_scans(trial, [*arms, control], month, baseline=baseline)
    z = scan_connectivity(trial, scans, rois)
    change = vectorize(z[1::2] - z[0::2])
    person_arm = scans["arm"].to_numpy()[0::2]
    b = change[person_arm == control]
    atlas = trial.atlas[rois].reset_index(drop=True)
    rows, cols = np.tril_indices(len(atlas), k=-1)
    out = {}
    for arm in arms:
        a = change[person_arm == arm]
        if len(a) < 3 or len(b) < 3:
            raise ValueError(f"too few people with both scans: {arm} {len(a)}, {control} {len(b)}")
        edges = _edge_table(atlas, _welch(a, b))
        summary = _network_summary(a, b, atlas["network"].to_numpy())
        t = np.zeros((len(atlas), len(atlas)))
        t[rows, cols] = t[cols, rows] = edges["t"].to_numpy()
        out[arm] = PrefrontalChange(edges, summary, atlas, t)
    return out


def _edge_table(atlas: pd.DataFrame, test: dict) -> pd.DataFrame:
    rows, cols = np.tril_indices(len(atlas), k=-1)
    edges = pd.DataFrame({
        "roi_a": atlas["roi"].to_numpy()[rows], "roi_b": atlas["roi"].to_numpy()[cols],
        "network_a": atlas["network"].to_numpy()[rows], "network_b": atlas["network"].to_numpy()[cols],
        "difference": test["difference"], "t": test["t"], "p": test["p"],
    })
    edges["p_fdr"] = fdr_bh(edges["p"].to_numpy())
    return edges


def _network_summary(a: np.ndarray, b: np.ndarray, networks: np.ndarray) -> pd.DataFrame:
    first, second = edge_networks(networks)
    groups = {"all prefrontal": np.ones(len(first), bool)}
    names = sorted(set(networks))
    for i, x in enumerate(names):
        for y in names[: i + 1]:
            pick = ((first == x) & (second == y)) | ((first == y) & (second == x))
            if pick.sum() >= 3:
                groups[f"{y} / {x}"] = pick
    rows = {}
    for name, pick in groups.items():
        test = _welch(a[:, pick].mean(axis=1), b[:, pick].mean(axis=1))
        rows[name] = {**{k: float(v) for k, v in test.items()}, "n_edges": int(pick.sum()),
                      "n_a": len(a), "n_b": len(b)}
    return pd.DataFrame.from_dict(rows, orient="index")


# --------------------------------------------------------------------------------------
# What the connectivity page records
# --------------------------------------------------------------------------------------
def _results(rows) -> pd.DataFrame:
    return pd.DataFrame([{"key": key, "value": float(value),
                          "ci_low": np.nan if ci is None else float(ci[0]),
                          "ci_high": np.nan if ci is None else float(ci[1]),
                          "unit": unit, "decimals": decimals, "description": description}
                         for key, value, ci, unit, decimals, description in rows])


def pattern_reference(n: int = 800, *, seed: int = 0):
    """The cohort the connectivity page learns patterns from.

    The real reference cohort at ``BRAINCLOCK_REFERENCE_DIR`` when set (all of it), else ``n``
    simulated reference adults (:func:`analysis.trial.simulate_reference`).
    """
    cohort = reference_from_env()
    return cohort if cohort is not None else simulate_reference(n, seed=seed)


def describe_cohort(reference) -> str:
    """"<n> synthetic reference adults" or "<n> adults of a real reference cohort (<k> sites)"."""
    s = cohort_summary(reference)
    if s["kind"] == "synthetic":
        return f"{s['n']:,} synthetic reference adults"
    return f"{s['n']:,} adults of a real reference cohort ({len(s['sites'])} sites)"


def pattern_summary(pattern: np.ndarray, networks: Sequence[str], *, n_reference: int, kind: str = "synthetic",
                    per: float = 10.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Network-pair means of a Haufe pattern and the page's results frame.

    ``pattern`` is per year of predicted age; it is scaled by ``per`` (a decade). Returns the
    networks x networks table and a results frame with ``connectivity.n_reference``,
    ``connectivity.pattern_within`` and ``connectivity.pattern_between``.
    """
    scaled = per * np.asarray(pattern, float)
    first, second = edge_networks(networks)
    rows = [
        ("connectivity.n_reference", n_reference, None, "people", 0,
         f"{kind.capitalize()} reference adults used for patterns and network clocks"),
        ("connectivity.pattern_within", scaled[first == second].mean(), None, "", 4,
         "Mean Haufe pattern of within-network edges (tangent units per decade)"),
        ("connectivity.pattern_between", scaled[first != second].mean(), None, "", 4,
         "Mean Haufe pattern of between-network edges (tangent units per decade)"),
    ]
    return network_matrix(scaled, networks), _results(rows)


def pattern_sentence(pattern_results: pd.DataFrame) -> str:
    """What the within- and between-network means of the pattern say (their signs)."""
    values = pattern_results.set_index("key")["value"]
    within, between = values["connectivity.pattern_within"], values["connectivity.pattern_between"]
    word = {True: "strengthen", False: "weaken"}
    text = (f"Within-network edges {word[within > 0]} with predicted age (mean pattern {within:.4f} per decade) "
            f"and between-network edges {word[between > 0]} ({between:.4f})")
    if within < 0 < between:
        return text + ": the clock reads a loss of network segregation"
    if within > 0 > between:
        return text + ": the clock reads a gain in network segregation"
    return text + ": the clock does not read a simple change in network segregation"


def network_clock_sentence(scores: pd.DataFrame) -> str:
    """Whether one network matches the whole brain, from the CV correlations."""
    all_r = float(scores.loc[scores["network"] == "all", "r"].iloc[0])
    single = scores[scores["network"] != "all"]
    informative = int((single.groupby("network")["r"].max() > 0.1).sum())
    n_networks = single["network"].nunique()
    best = float(single["r"].max())
    verdict = ("no single network matches the whole brain" if best < all_r
               else "one network matches the whole brain")
    return (f"{informative} of {n_networks} networks carry some age information on their own (CV r above 0.1), "
            f"and {verdict} (best single network r = {best:.2f}, all edges r = {all_r:.2f})")


def network_clock_summary(scores: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Results frame of :func:`network_clock_scores` (all edges vs the best single network) and
    the best network's name with its scope."""
    all_r = float(scores.loc[scores["network"] == "all", "r"].iloc[0])
    single = scores[scores["network"] != "all"]
    best = single.loc[single["r"].idxmax()]
    rows = [
        ("connectivity.r_all_edges", all_r, None, "", 2, "CV correlation of predicted and true age, all edges"),
        ("connectivity.r_best_network", best["r"], None, "", 2,
         "Best CV correlation of a clock restricted to one network's edges"),
    ]
    return _results(rows), f"{best['network']} ({best['scope']} edges)"


def prefrontal_rois(atlas: pd.DataFrame, region: str = "prefrontal") -> np.ndarray | None:
    """Prefrontal ROIs of an atlas, or None when the atlas does not say which they are.

    From the optional ``region`` column (``region == "prefrontal"``); for the bundled Dosenbach
    atlas without that column, its named prefrontal/frontal ROIs anterior to y = 0
    (:func:`analysis.atlas.prefrontal_mask`, the rule its ``region`` column encodes).
    """
    if has_regions(atlas):
        return region_mask(atlas, region)
    if region == "prefrontal" and atlas_name(atlas) == "dosenbach160":
        return prefrontal_mask(atlas)
    return None


class PrefrontalStudy:
    """Result of :func:`prefrontal_study`.

    Attributes
    ----------
    available : bool
        Whether the atlas marks prefrontal ROIs.
    changes : dict
        Active arm -> :class:`PrefrontalChange` against the control (empty when not available).
    arm, control, month : str, str, int
        The first active arm (the one shown in detail), the control arm and the visit.
    """

    def __init__(self, available, changes, arm, control, month, baseline):
        self.available, self.changes = available, changes
        self.arm, self.control, self.month, self.baseline = arm, control, month, baseline

    @property
    def main(self) -> PrefrontalChange | None:
        """The first active arm's comparison (shown in detail)."""
        return self.changes.get(self.arm)

    def results(self) -> pd.DataFrame:
        """The page's results frame (empty when not available)."""
        if not self.available:
            return _results([])
        main = self.main
        rows = [("connectivity.n_prefrontal_rois", len(main.rois), None, "ROIs", 0,
                 "Prefrontal ROIs of the atlas (region column)")]
        for arm, change in self.changes.items():
            overall = change.summary.loc["all prefrontal"]
            key = f"connectivity.prefrontal_{_slug(arm)}_vs_{_slug(self.control)}_{self.month}m"
            rows.append((key, overall["difference"], (overall["ci_low"], overall["ci_high"]), "z", 3,
                         f"{arm} minus {self.control} change in mean prefrontal connectivity (Fisher z), "
                         f"month {self.baseline} to {self.month}"))
        overall = main.summary.loc["all prefrontal"]
        rows += [
            ("connectivity.prefrontal_p", overall["p"], None, "", 4,
             f"p-value of the {self.arm} vs {self.control} difference in mean prefrontal connectivity change"),
            ("connectivity.prefrontal_fdr_edges", int((main.edges["p_fdr"] < 0.05).sum()), None, "edges", 0,
             f"Prefrontal edges with FDR-adjusted p < 0.05 ({self.arm} vs {self.control}, month {self.month})"),
            ("connectivity.prefrontal_n_edges", len(main.edges), None, "edges", 0, "Prefrontal edges tested"),
        ]
        return _results(rows)

    def p_text(self) -> str:
        """``"< 0.0001"`` or ``"= 0.0123"`` for the first arm's mean-change p-value."""
        if not self.available:
            return REGION_NOT_AVAILABLE
        return _p_text(float(self.main.summary.loc["all prefrontal", "p"]))

    def arm_table(self) -> pd.DataFrame:
        """One row per active arm: mean-change difference vs control with CI and p."""
        if not self.available:
            return pd.DataFrame({"result": [f"prefrontal connectivity {REGION_NOT_AVAILABLE}"]})
        return pd.DataFrame({f"{arm} vs {self.control}": change.summary.loc["all prefrontal",
                                                                              ["difference", "ci_low", "ci_high", "p",
                                                                               "n_a", "n_b"]]
                             for arm, change in self.changes.items()}).T

    def network_table(self) -> pd.DataFrame:
        """The first arm's mean change overall and per network pair (or a "not available" row)."""
        if not self.available:
            return pd.DataFrame({"result": [f"prefrontal connectivity {REGION_NOT_AVAILABLE}"]})
        return self.main.summary.drop(columns=["n_a", "n_b"])

    def top_edges(self, n: int = 10) -> pd.DataFrame:
        """The first arm's ``n`` edges with the smallest p-values (or a "not available" row)."""
        if not self.available:
            return pd.DataFrame({"result": [f"prefrontal connectivity {REGION_NOT_AVAILABLE}"]})
        return self.main.edges.nsmallest(n, "p").reset_index(drop=True)

    def sentence(self) -> str:
        """What the page says about the comparisons, chosen from the estimates and their CIs."""
        if not self.available:
            return (f"Prefrontal connectivity is {REGION_NOT_AVAILABLE}: its atlas table has no 'region' "
                    "column marking prefrontal ROIs, so this section has no results.")
        main = self.main
        n_fdr = int((main.edges["p_fdr"] < 0.05).sum())
        parts = []
        for arm, change in self.changes.items():
            row = change.summary.loc["all prefrontal"]
            if row["ci_low"] > 0:
                verdict = "rose more"
            elif row["ci_high"] < 0:
                verdict = "fell more"
            else:
                verdict = "did not change clearly differently"
            parts.append(f"in {arm} mean connectivity {verdict} than in {self.control} "
                         f"({row['difference']:+.3f} z, 95% CI {row['ci_low']:.3f} to {row['ci_high']:.3f}, "
                         f"p {_p_text(row['p'])})")
        return (f"Over all {len(main.edges):,} edges among the {len(main.rois)} prefrontal ROIs, from month "
                f"{self.baseline} to {self.month}, " + "; ".join(parts) + f". In {self.arm} vs {self.control}, "
                f"{n_fdr} edge{'s' if n_fdr != 1 else ''} survive{'s' if n_fdr == 1 else ''} FDR correction on "
                "their own.")


def _p_text(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"= {p:.4f}"


def prefrontal_truth_note(trial) -> str:
    """What the simulator built in, for a synthetic trial (empty text for real data)."""
    a = getattr(trial, "assumptions", None)
    if trial.source != "synthetic" or a is None:
        return ("On real trial data this is a finding; whether the clock reads such a change as \"younger\" "
                "is a separate question.")
    return (f"On the synthetic trial the simulator adds a shared prefrontal signal to HRT scans (loading "
            f"{a.prefrontal_hrt_12m:g} at 12 months, {a.prefrontal_hrt_24m:g} at 24), so this is a recovery "
            "check with a known answer; whether the clock reads that change as \"younger\" is a separate "
            "question, since it was not trained on it.")


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(label).lower())


def prefrontal_study(trial) -> PrefrontalStudy:
    """Every active arm of ``trial.design`` against its control, baseline to the primary visit.

    Not available (``available=False``, no comparisons) when the atlas does not mark prefrontal
    ROIs (:func:`prefrontal_rois`).
    """
    design = getattr(trial, "design", LISA)
    rois = prefrontal_rois(trial.atlas)
    arm, control, month = design.active_arms[0], design.control, design.primary_visit
    if rois is None:
        return PrefrontalStudy(False, {}, arm, control, month, design.baseline)
    if rois.sum() < 3:
        raise ValueError(f"need at least 3 prefrontal ROIs, got {int(rois.sum())}")
    changes = _changes(trial, design.active_arms, control, month, rois, design.baseline)
    return PrefrontalStudy(True, changes, arm, control, month, design.baseline)
