"""Saved clocks: bit-identical round trip, tampering, atlas mismatch, skops allow-list, CLI."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pytest
import skops.io as sio

from analysis.__main__ import main
from analysis.clock import BrainAgeClock
from analysis.clock.persist import (
    ClockFileError,
    SavedClock,
    _write_container,
    allowed_types,
    clock_from_env,
    fit_clock,
    load_clock,
    save_clock,
)
from analysis.trial.reference import atlas_digest, load_reference, write_reference
from tests.unit._small_reference import small_reference

N, N_ROIS = 60, 12


@pytest.fixture(scope="module")
def reference():
    return small_reference(n=N, n_rois=N_ROIS, n_volumes=60)


@pytest.fixture(scope="module")
def fitted(reference):
    return fit_clock(reference, seed=0)


@pytest.fixture(scope="module")
def test_series():
    other = small_reference(n=15, n_rois=N_ROIS, n_volumes=60, seed=7)
    return list(other.iter_timeseries()), other.participants["age"].to_numpy(float)


@pytest.fixture(scope="module")
def saved(fitted, reference, tmp_path_factory):
    return save_clock(fitted, tmp_path_factory.mktemp("clock") / "clock.brainclock.zip",
                      atlas=reference.atlas, training=reference)


def members(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("metadata.json")), archive.read("model.skops")


def test_round_trip_predictions_are_bit_identical(fitted, saved, reference, test_series):
    series, age = test_series
    loaded = load_clock(saved, atlas=reference.atlas)
    assert isinstance(loaded, SavedClock) and isinstance(loaded.clock, BrainAgeClock)
    np.testing.assert_array_equal(loaded.clock.predict(series), fitted.predict(series))
    for method in ("beheshti", "cole", "smith", "none"):
        np.testing.assert_array_equal(loaded.clock.brain_age_gap(series, age, method),
                                      fitted.brain_age_gap(series, age, method))
    assert loaded.clock.correction_ == fitted.correction_


def test_metadata_records_what_is_needed_to_trust_the_clock(fitted, saved, reference):
    meta = load_clock(saved).metadata
    assert meta["connectivity"] == "tangent" and meta["clock"]["params"]["model"] == "ridge"
    assert meta["bias_correction"]["coefficients"] == fitted.correction_
    assert meta["atlas"]["rois"] == reference.atlas["roi"].tolist()
    assert meta["atlas"]["sha256"] == atlas_digest(reference.atlas) and meta["atlas"]["n_rois"] == N_ROIS
    training = meta["training"]
    assert training["kind"] == "synthetic" and training["n"] == N and training["sites"] == ["synthetic"]
    assert training["age_min"] == reference.participants["age"].min()
    assert meta["versions"]["analysis"] and meta["versions"]["skops"]
    assert meta["model_sha256"] == hashlib.sha256(members(saved)[1]).hexdigest()
    assert "synthetic reference adults" in load_clock(saved).describe()


@pytest.mark.parametrize("where", [0.1, 0.3, 0.5, 0.7, 0.9, 0.999])
def test_one_changed_byte_is_refused(saved, tmp_path, where):
    data = bytearray(saved.read_bytes())
    data[int(where * (len(data) - 1))] ^= 0x01
    bad = tmp_path / "bad.brainclock.zip"
    bad.write_bytes(bytes(data))
    with pytest.raises(ClockFileError, match=r"saved clock '.*bad.brainclock.zip'"):
        load_clock(bad)


def test_edited_metadata_is_refused(saved, tmp_path):
    meta, model = members(saved)
    meta["training"]["kind"] = "real"
    bad = tmp_path / "edited.zip"
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(bad, "w") as dst:
        dst.comment = src.comment
        dst.writestr("metadata.json", json.dumps(meta))
        dst.writestr("model.skops", model)
    with pytest.raises(ClockFileError, match="checksum mismatch"):
        load_clock(bad)
    # even with the file checksum recomputed, a model that disagrees with its metadata is refused
    meta["training"]["kind"] = "synthetic"
    meta["bias_correction"]["coefficients"]["cole_slope"] = 1.0
    _write_container(bad, meta, model)
    with pytest.raises(ClockFileError, match="bias correction differ from metadata.json"):
        load_clock(bad)
    meta, _ = members(saved)
    _write_container(bad, meta, model + b" ")
    with pytest.raises(ClockFileError, match="does not match the sha256"):
        load_clock(bad)


def test_mismatched_atlas_names_both(saved, reference, tmp_path):
    atlas = reference.atlas
    with pytest.raises(ClockFileError) as err:
        load_clock(saved, atlas=atlas.iloc[:10])
    message = str(err.value)
    assert f"clock was trained on atlas 'custom12' (12 ROIs, sha256 {atlas_digest(atlas)[:12]}" in message
    assert f"the trial's atlas.tsv has 10 ROIs (sha256 {atlas_digest(atlas.iloc[:10])[:12]}" in message
    renamed = atlas.assign(roi=atlas["roi"].where(atlas.index != 3, "somewhere else"))
    with pytest.raises(ClockFileError, match=r"first ROI that differs: #4 'mid insula 44' vs 'somewhere else'"):
        load_clock(saved, atlas=renamed)
    loaded = load_clock(saved)
    with pytest.raises(ClockFileError, match="the reference's atlas.tsv has 12 ROIs.*different coordinates"):
        loaded.check_atlas(atlas.assign(x=atlas["x"] + 1), source="the reference's atlas.tsv")


class Payload:
    """A type outside the allow-list; loading it would run its __setstate__."""

    loaded = False

    def __setstate__(self, state):
        Payload.loaded = True
        self.__dict__.update(state)


def test_untrusted_type_is_refused_before_loading(fitted, saved, tmp_path):
    meta, _ = members(saved)
    evil = BrainAgeClock(**fitted.get_params())
    evil.__dict__.update(fitted.__dict__)
    evil.payload_ = Payload()
    model = sio.dumps(evil)
    meta["model_sha256"] = hashlib.sha256(model).hexdigest()  # a forger recomputes every checksum
    bad = _write_container(tmp_path / "evil.zip", meta, model)
    with pytest.raises(ClockFileError, match=r"outside the allow-list.*test_clock_io.Payload"):
        load_clock(bad)
    assert not Payload.loaded
    with pytest.raises(ValueError, match="outside the saved-clock allow-list"):
        save_clock(evil, tmp_path / "never.zip", atlas=small_reference(n=1, n_rois=N_ROIS).atlas,
                   training={"kind": "synthetic", "n": N, "age_min": fitted.train_age_.min(),
                             "age_max": fitted.train_age_.max(), "sites": ["x"]})


def test_allow_list_covers_every_model(reference, test_series):
    series, age = test_series
    for model in ("svr", "hgb"):
        clock = BrainAgeClock(model=model, random_state=0).fit(series, age)
        assert set(sio.get_untrusted_types(data=sio.dumps(clock))) <= allowed_types()


def test_not_a_clock_and_missing_file(tmp_path):
    with pytest.raises(ClockFileError, match="file must exist"):
        load_clock(tmp_path / "none.zip")
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("x", "y")
    with pytest.raises(ClockFileError, match="not a saved brain-age clock"):
        load_clock(plain)


def test_training_must_describe_the_fitted_cohort(fitted, reference, tmp_path):
    with pytest.raises(ValueError, match="not its training cohort"):
        save_clock(fitted, tmp_path / "c.zip", atlas=reference.atlas, training=small_reference(n=20, n_rois=N_ROIS))
    with pytest.raises(ValueError, match="atlas has 10 ROIs but the clock was fitted on 12"):
        save_clock(fitted, tmp_path / "c.zip", atlas=reference.atlas.iloc[:10], training=reference)


def test_cli_fit_and_env(reference, tmp_path, monkeypatch, test_series, capsys):
    folder = write_reference(reference, tmp_path / "ref")
    out = tmp_path / "clock.brainclock.zip"
    assert main(["clock", "fit", "--reference", str(folder), "--out", str(out)]) == 0
    assert "trained on 60 synthetic reference adults" in capsys.readouterr().out
    monkeypatch.delenv("BRAINCLOCK_CLOCK", raising=False)
    assert clock_from_env() is None
    monkeypatch.setenv("BRAINCLOCK_CLOCK", str(out))
    saved = clock_from_env(atlas=load_reference(folder, check_timeseries=False).atlas)
    refit = fit_clock(load_reference(folder), seed=0)
    series, _ = test_series
    np.testing.assert_array_equal(saved.clock.predict(series), refit.predict(series))
    assert saved.training["digest"] == load_reference(folder).digest


def test_named_reference_features_are_computed_once_and_fit_the_same_clock(tmp_path, monkeypatch):
    """A named cohort's embedding is shared through the disk cache; the clock is the one clock.fit gives."""
    import analysis._paths as paths
    from analysis.clock import apply as clock_apply
    from analysis.connectome import named_features, shrunk_covariances
    from analysis.trial import simulate_reference

    monkeypatch.setattr(paths, "data_dir", lambda: tmp_path)
    ref = simulate_reference(60, seed=5)
    age = ref.participants["age"].to_numpy(float)
    calls = []

    def stack():
        calls.append(1)
        return shrunk_covariances(ref.iter_timeseries())

    step, first = named_features("cohort-a", "tangent", stack)
    again_step, again = named_features("cohort-a", "tangent", stack)
    assert len(calls) == 1 and np.array_equal(first, again)
    np.testing.assert_array_equal(again_step.whitening_, step.whitening_)
    fitted = clock_apply._fit(ref, "tangent", "ridge", "beheshti", 0)
    direct = BrainAgeClock(connectivity="tangent", random_state=0).fit(shrunk_covariances(ref.iter_timeseries()), age)
    np.testing.assert_array_equal(fitted.oof_predictions_, direct.oof_predictions_)
    new = shrunk_covariances(simulate_reference(8, seed=6).iter_timeseries())
    np.testing.assert_array_equal(fitted.predict(new), direct.predict(new))
