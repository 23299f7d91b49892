"""Tests of activation patterns, network summaries, network clocks and prefrontal change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import patterns
from analysis.atlas import dosenbach_atlas, prefrontal_mask


def test_haufe_pattern_recovers_the_generative_pattern(rng):
    """A backward model's weights are distorted by correlated noise; its pattern is not."""
    n, p = 3000, 30
    true_pattern = rng.normal(size=p)
    source = rng.normal(size=n)
    distractor = rng.normal(size=n)[:, None] * rng.normal(size=p)  # strong shared noise
    X = np.outer(source, true_pattern) + 3 * distractor + 0.5 * rng.normal(size=(n, p))
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(X, source)
    pattern = patterns.haufe_pattern(X, model.predict(X))
    assert np.corrcoef(pattern, true_pattern)[0, 1] > 0.98
    assert np.corrcoef(model.coef_, true_pattern)[0, 1] < np.corrcoef(pattern, true_pattern)[0, 1]
    # Haufe eq. 6: cov(X) w / var(y_hat)
    w = model.coef_
    expected = np.cov(X, rowvar=False) @ w / np.var(X @ w, ddof=1)
    np.testing.assert_allclose(pattern, expected, rtol=1e-8)


def test_haufe_pattern_errors(rng):
    with pytest.raises(ValueError, match="one prediction per row"):
        patterns.haufe_pattern(rng.normal(size=(10, 3)), rng.normal(size=9))
    with pytest.raises(ValueError, match="constant"):
        patterns.haufe_pattern(rng.normal(size=(10, 3)), np.ones(10))


def test_network_matrix_and_masks():
    networks = np.array(["a", "a", "a", "b", "b"])
    first, second = patterns.edge_networks(networks)
    values = np.where((first == "a") & (second == "a"), 1.0, np.where(first != second, 2.0, 3.0))
    matrix = patterns.network_matrix(values, networks)
    assert matrix.loc["a", "a"] == 1.0 and matrix.loc["b", "b"] == 3.0
    assert matrix.loc["a", "b"] == matrix.loc["b", "a"] == 2.0
    assert patterns.network_edge_mask(networks, "a", "within").sum() == 3
    assert patterns.network_edge_mask(networks, "b", "touching").sum() == 10 - 3
    with pytest.raises(ValueError, match="scope"):
        patterns.network_edge_mask(networks, "a", "between")
    with pytest.raises(ValueError, match="edge_values"):
        patterns.network_matrix(values[:-1], networks)


def test_network_clocks_find_where_the_age_signal_is(rng):
    networks = np.repeat(["n1", "n2", "n3"], 6)
    first, second = patterns.edge_networks(networks)
    signal = (first == "n2") & (second == "n2")
    n = 300
    age = rng.uniform(20, 80, n)
    X = rng.normal(size=(n, len(first)))
    X[:, signal] += 0.08 * (age[:, None] - 50)
    scores = patterns.network_clock_scores(X, age, networks, scopes=("within",)).set_index("network")
    assert scores.loc["n2", "r"] > 0.8
    assert scores.loc["n1", "r"] < 0.3 and scores.loc["n3", "r"] < 0.3
    assert scores.loc["all", "n_edges"] == len(first)


class _FakeTrial:
    """Minimal trial: HRT gains a shared prefrontal signal at 12 months."""

    def __init__(self, rng, n_per_arm=25, n_volumes=120, boost=0.8):
        self.atlas = dosenbach_atlas()
        self._pfc = prefrontal_mask(self.atlas)
        ids = [f"P{i:03d}" for i in range(2 * n_per_arm)]
        arms = ["HRT"] * n_per_arm + ["CON"] * n_per_arm
        rows = [(pid, arm, m) for pid, arm in zip(ids, arms) for m in (0, 12)]
        self.scans = pd.DataFrame(rows, columns=["participant_id", "arm", "month"])
        self._rng, self._n, self._boost = rng, n_volumes, boost

    def iter_timeseries(self, scans):
        for arm, month in zip(scans["arm"], scans["month"]):
            x = self._rng.normal(size=(self._n, len(self.atlas)))
            if arm == "HRT" and month == 12:
                x[:, self._pfc] += self._boost * self._rng.normal(size=(self._n, 1))
            yield x


def test_prefrontal_change_detects_a_known_increase(rng):
    result = patterns.prefrontal_change(_FakeTrial(rng))
    k = int(prefrontal_mask().sum())
    assert len(result.edges) == k * (k - 1) // 2
    assert result.t_matrix.shape == (k, k)
    overall = result.summary.loc["all prefrontal"]
    assert overall["difference"] > 0 and overall["p"] < 1e-6
    assert (result.edges["p_fdr"] < 0.05).mean() > 0.5


def test_prefrontal_change_null_controls_fdr(rng):
    result = patterns.prefrontal_change(_FakeTrial(rng, boost=0.0))
    assert (result.edges["p_fdr"] < 0.05).mean() < 0.05
    assert result.summary.loc["all prefrontal", "p"] > 0.001


def test_prefrontal_rois_from_the_region_column_or_not_available():
    atlas = dosenbach_atlas()
    assert np.array_equal(patterns.prefrontal_rois(atlas.drop(columns=[c for c in atlas if c == "region"])),
                          prefrontal_mask(atlas))
    custom = pd.DataFrame({"roi": [f"r{i}" for i in range(12)], "x": 0.0, "y": np.arange(12.0), "z": 0.0,
                           "network": ["a", "b"] * 6})
    assert patterns.prefrontal_rois(custom) is None
    labelled = custom.assign(region=["prefrontal"] * 4 + ["other"] * 8)
    assert patterns.prefrontal_rois(labelled).sum() == 4


def test_prefrontal_study_says_not_available_for_an_atlas_without_regions(rng):
    trial = _FakeTrial(rng)
    trial.atlas = pd.DataFrame({"roi": [f"r{i}" for i in range(12)], "x": 0.0, "y": 0.0, "z": 0.0,
                                "network": ["a", "b"] * 6})
    study = patterns.prefrontal_study(trial)
    assert not study.available and study.results().empty
    assert "not available for this atlas" in study.sentence()
    assert "not available" in study.network_table().iloc[0, 0]


def test_prefrontal_study_runs_every_active_arm_of_the_design(rng):
    from analysis.trial import TrialDesign
    from analysis.trial.design import Arm

    trial = _FakeTrial(rng)
    trial.design = TrialDesign((Arm("HRT"), Arm("CON")), "CON", (0, 12), 12)
    study = patterns.prefrontal_study(trial)
    results = study.results().set_index("key")
    assert "connectivity.prefrontal_hrt_vs_con_12m" in results.index
    assert results.loc["connectivity.prefrontal_hrt_vs_con_12m", "ci_low"] > 0
    assert "rose more" in study.sentence()


def test_pattern_and_network_sentences():
    frame = pd.DataFrame({"key": ["connectivity.pattern_within", "connectivity.pattern_between"],
                          "value": [-0.002, 0.001]})
    assert "loss of network segregation" in patterns.pattern_sentence(frame)
    scores = pd.DataFrame({"network": ["all", "a", "b"], "scope": ["all", "within", "within"], "r": [0.9, 0.7, 0.05]})
    text = patterns.network_clock_sentence(scores)
    assert text.startswith("1 of 2 networks") and "no single network matches" in text


def test_network_clock_scores_cache_returns_the_same_table(rng, tmp_path, monkeypatch):
    from analysis import _paths

    monkeypatch.setattr(_paths, "data_dir", lambda: tmp_path)
    networks = np.repeat(["n1", "n2"], 5)
    X, age = rng.normal(size=(60, 45)), rng.uniform(20, 80, 60)
    fresh = patterns.network_clock_scores(X, age, networks, scopes=("within",))
    cached = patterns.network_clock_scores(X, age, networks, scopes=("within",), cache=True)
    again = patterns.network_clock_scores(X, age, networks, scopes=("within",), cache=True)
    pd.testing.assert_frame_equal(fresh, cached)
    pd.testing.assert_frame_equal(fresh, again)
    assert len(list((tmp_path / "cache" / "studies").glob("*.pkl"))) == 1
