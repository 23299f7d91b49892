"""fMRIPrep derivatives -> data contract (``analysis.extract`` and ``python -m analysis extract``).

A tiny fMRIPrep-like tree is written on nilearn's MNI grid at 8 mm: 80 volumes of noise with
independent time courses planted around a few Dosenbach coordinates, and fMRIPrep-style
confounds built orthogonal to the planted signals (so denoising must leave them intact).
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from joblib import parallel_config

from analysis.__main__ import main
from analysis.atlas import dosenbach_atlas
from analysis.extract import (
    QC_COLUMNS,
    ExtractionError,
    extract_fmriprep,
    find_scans,
    resolve_atlas,
)
from analysis.trial import LISA, TrialDataError, load_trial

N_VOL = 80
TR = 2.0
SPACE = "MNI152NLin2009cAsym"
SPIKES = (20, 35, 50, 65)  # volumes with FD above the scrubbing threshold (0.5 mm)
SESSIONS = {"01": "0", "02": "12"}
TREE = {"01": ("01", "02"), "02": ("01", "02"), "03": ("01",)}


@pytest.fixture(scope="module")
def grid():
    from nilearn.datasets import load_mni152_brain_mask

    mask = load_mni152_brain_mask(resolution=8)
    ijk = np.indices(mask.shape).reshape(3, -1).T
    xyz = nib.affines.apply_affine(mask.affine, ijk)
    return mask.affine, mask.shape, xyz


@pytest.fixture(scope="module")
def planted_rois():
    """Five Dosenbach ROIs at least 50 mm apart."""
    atlas = dosenbach_atlas()
    chosen = []
    for i, xyz in enumerate(atlas[["x", "y", "z"]].to_numpy()):
        if all(np.linalg.norm(xyz - atlas.loc[j, ["x", "y", "z"]].to_numpy()) >= 50 for j in chosen):
            chosen.append(i)
        if len(chosen) == 5:
            break
    return atlas.iloc[chosen].reset_index(drop=True)


def _orthogonalise(a: np.ndarray, against: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(against)
    return a - q @ (q.T @ a)


def _cosines(n: int, k: int = 2) -> np.ndarray:
    t = np.arange(n)
    return np.column_stack([np.sqrt(2 / n) * np.cos(np.pi * (2 * t + 1) * (j + 1) / (2 * n)) for j in range(k)])


def _confounds(rng, signals: np.ndarray, n: int) -> tuple[pd.DataFrame, dict]:
    """fMRIPrep-style confounds, orthogonal to the planted signals, and the JSON sidecar."""
    base = np.column_stack([np.ones(n), np.arange(n), signals])
    columns = {}
    for name in ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "csf", "white_matter",
                 "global_signal"):
        for suffix in ("", "_derivative1", "_power2", "_derivative1_power2"):
            columns[name + suffix] = _orthogonalise(rng.normal(size=n), base)
    for i in range(5):
        columns[f"a_comp_cor_{i:02d}"] = _orthogonalise(rng.normal(size=n), base)
    for j, cos in enumerate(_cosines(n).T):
        columns[f"cosine{j:02d}"] = cos
    fd = rng.uniform(0.05, 0.25, n)
    fd[[s for s in SPIKES if s < n]] = 0.8
    columns["framewise_displacement"] = fd
    columns["std_dvars"] = rng.uniform(0.8, 1.2, n)
    columns["dvars"] = rng.uniform(10, 20, n)
    table = pd.DataFrame(columns)
    for name in table.columns:
        if "derivative1" in name or name in ("framewise_displacement", "std_dvars", "dvars"):
            table.loc[0, name] = np.nan  # fMRIPrep writes n/a in the first row
    sidecar = {f"a_comp_cor_{i:02d}": {"CumulativeVarianceExplained": 0.1 * (i + 1), "Mask": "combined",
                                       "Method": "aCompCor", "Retained": True, "SingularValue": 10.0 - i,
                                       "VarianceExplained": 0.1} for i in range(5)}
    return table, sidecar


def write_scan(root: Path, grid, rng, sub: str, ses: str | None, planted: pd.DataFrame | None, *,
               n_vol: int = N_VOL, space: str = SPACE, run: str | None = None, constant: bool = False,
               confounds: bool = True, n_confound_rows: int | None = None) -> np.ndarray:
    """Write one fMRIPrep-like run; return the planted signals (n_vol x n_planted)."""
    affine, shape, xyz = grid
    folder = root / f"sub-{sub}" / (f"ses-{ses}" if ses else "") / "func"
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f"sub-{sub}" + (f"_ses-{ses}" if ses else "") + "_task-rest" + (f"_run-{run}" if run else "")
    k = 0 if planted is None else len(planted)
    drift = np.column_stack([np.ones(n_vol), np.arange(n_vol), _cosines(n_vol)])
    signals = _orthogonalise(rng.normal(size=(n_vol, k)), drift)
    signals /= signals.std(axis=0)
    data = 100 + rng.normal(size=(xyz.shape[0], n_vol)).astype(np.float32)
    if constant:
        data[:] = 100
    for j in range(k):
        near = np.linalg.norm(xyz - planted.loc[j, ["x", "y", "z"]].to_numpy(float), axis=1) <= 12
        data[near] += 4 * signals[:, j]
    img = nib.Nifti1Image(data.reshape(*shape, n_vol), affine)
    img.header.set_zooms((8.0, 8.0, 8.0, TR))
    nib.save(img, folder / f"{prefix}_space-{space}_desc-preproc_bold.nii.gz")
    if confounds:
        table, sidecar = _confounds(rng, signals, n_vol)
        if n_confound_rows is not None:
            table = table.iloc[:n_confound_rows]
        table.to_csv(folder / f"{prefix}_desc-confounds_timeseries.tsv", sep="\t", index=False, na_rep="n/a")
        (folder / f"{prefix}_desc-confounds_timeseries.json").write_text(json.dumps(sidecar))
    return signals


@pytest.fixture(scope="module")
def tree(tmp_path_factory, grid, planted_rois):
    """Three subjects, one or two sessions: {(sub, ses): planted signals}."""
    rng = np.random.default_rng(20261126)
    root = tmp_path_factory.mktemp("fmriprep")
    truth = {(sub, ses): write_scan(root, grid, rng, sub, ses, planted_rois)
             for sub, sessions in TREE.items() for ses in sessions}
    (root / "dataset_description.json").write_text('{"Name": "fMRIPrep - test", "BIDSVersion": "1.4.0"}')
    return root, truth


@pytest.fixture(scope="module")
def simple_run(tree, tmp_path_factory):
    root, _ = tree
    out = tmp_path_factory.mktemp("out") / "extracted"
    qc = extract_fmriprep(root, "dosenbach", "simple", out, sessions=SESSIONS, progress=False)
    return out, qc


def _read_ts(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t")


def _assert_recovered(ts: pd.DataFrame, signals: np.ndarray, planted: pd.DataFrame, keep=None) -> None:
    keep = np.arange(len(signals)) if keep is None else keep
    for j, roi in enumerate(planted["roi"]):
        r = np.corrcoef(ts[roi].to_numpy(), signals[keep, j])[0, 1]
        assert r > 0.9, f"{roi}: r = {r:.3f}"


# --------------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------------
def test_recovers_planted_signals(tree, simple_run, planted_rois):
    _, truth = tree
    out, _ = simple_run
    files = sorted(p.name for p in (out / "timeseries").iterdir())
    assert files == ["sub-01_ses-0_task-rest_timeseries.tsv", "sub-01_ses-12_task-rest_timeseries.tsv",
                     "sub-02_ses-0_task-rest_timeseries.tsv", "sub-02_ses-12_task-rest_timeseries.tsv",
                     "sub-03_ses-0_task-rest_timeseries.tsv"]
    for (sub, ses), signals in truth.items():
        ts = _read_ts(out / "timeseries" / f"sub-{sub}_ses-{SESSIONS[ses]}_task-rest_timeseries.tsv")
        assert ts.shape == (N_VOL, 160)
        _assert_recovered(ts, signals, planted_rois)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_qc_table(tree, simple_run):
    root, _ = tree
    out, qc = simple_run
    assert list(qc.columns) == QC_COLUMNS
    assert list(zip(qc["participant_id"], qc["session"])) == [("01", "0"), ("01", "12"), ("02", "0"),
                                                              ("02", "12"), ("03", "0")]
    for row in qc.itertuples():
        source = root / row.source_file
        assert source.is_file() and source.name.endswith("_desc-preproc_bold.nii.gz")
        fd = pd.read_csv(str(source).replace(f"_space-{SPACE}_desc-preproc_bold.nii.gz",
                                             "_desc-confounds_timeseries.tsv"), sep="\t", na_values="n/a")
        assert row.mean_fd_mm == pytest.approx(fd["framewise_displacement"].mean(), rel=1e-12)
    assert (qc["n_volumes"] == N_VOL).all() and (qc["n_volumes_kept"] == N_VOL).all()
    assert (qc["n_scrubbed"] == 0).all() and (qc["strategy"] == "simple").all()


def test_written_files_round_trip(simple_run):
    out, qc = simple_run
    atlas = pd.read_csv(out / "atlas.tsv", sep="\t")
    pd.testing.assert_frame_equal(atlas, dosenbach_atlas())
    first = (out / "atlas.tsv").read_text().splitlines()[1]
    expected = [repr(float(v)) for v in dosenbach_atlas().loc[0, ["x", "y", "z"]]]
    assert first.split("\t")[1:4] == expected  # floats as the contract writes them (repr)
    back = pd.read_csv(out / "qc.tsv", sep="\t", dtype={"session": str, "participant_id": str})
    pd.testing.assert_frame_equal(back, qc, check_dtype=False)
    text = (out / "timeseries" / "sub-01_ses-0_task-rest_timeseries.tsv").read_text().splitlines()
    assert text[0].split("\t") == atlas["roi"].tolist()
    value = text[1].split("\t")[0]
    assert value == "%.10g" % float(value)


def test_output_loads_as_a_trial(simple_run, tmp_path):
    """With participants.tsv and visits.tsv (qc.tsv merged into visits) the output is a trial."""
    out, qc = simple_run
    trial_dir = tmp_path / "trial"
    shutil.copytree(out, trial_dir)
    people = pd.DataFrame({"participant_id": ["01", "02", "03"], "arm": ["HRT", "MIT", "CON"],
                           "sex": ["F", "M", "F"], "age": [65.0, 66.0, 67.0], "bmi": [25.0, 26.0, 27.0],
                           "chair_stand_30s": [12, 13, 14]})
    people.to_csv(trial_dir / "participants.tsv", sep="\t", index=False)
    visits = []
    for person in people.itertuples():
        for month in (0, 12, 24):
            scan = qc[(qc["participant_id"] == person.participant_id) & (qc["session"] == str(month))]
            usable = len(scan) == 1
            visits.append({"participant_id": person.participant_id, "month": month,
                           "attended": "true" if month == 0 or usable else "false",
                           "age": person.age + month / 12,
                           "knee_extensor_mvc_nm": 150.0 if month == 0 or usable else "n/a",
                           "adherence_sessions_per_week": "n/a", "self_training": "n/a",
                           "mri_usable": "true" if usable else "false",
                           "mean_fd_mm": scan["mean_fd_mm"].iat[0] if usable else "n/a",
                           "n_volumes": scan["n_volumes_kept"].iat[0] if usable else "n/a"})
    LISA.to_json(trial_dir)
    # qc.tsv beside visits.tsv: the values present in both agree, so it merges
    pd.DataFrame(visits).to_csv(trial_dir / "visits.tsv", sep="\t", index=False)
    with_qc = load_trial(trial_dir)
    assert with_qc.timeseries("02", 12).shape == (N_VOL, 160)
    # visits.tsv without motion and volume columns: qc.tsv supplies them
    pd.DataFrame(visits).drop(columns=["mean_fd_mm", "n_volumes"]).to_csv(trial_dir / "visits.tsv", sep="\t",
                                                                        index=False)
    from_qc = load_trial(trial_dir)
    usable = from_qc.visits["mri_usable"]
    pd.testing.assert_frame_equal(from_qc.visits.loc[usable, ["mean_fd_mm", "n_volumes"]],
                                  with_qc.visits.loc[usable, ["mean_fd_mm", "n_volumes"]])
    # a disagreement between the two files is refused, naming both
    bad = pd.DataFrame(visits)
    row = int(np.flatnonzero(bad["mri_usable"] == "true")[0])
    bad.loc[row, "mean_fd_mm"] = float(bad.loc[row, "mean_fd_mm"]) + 0.01
    bad.to_csv(trial_dir / "visits.tsv", sep="\t", index=False)
    with pytest.raises(TrialDataError, match=r"file 'qc.tsv', row \d+, column 'mean_fd_mm': rule 'mean_fd_mm must "
                                             r"agree with visits.tsv'.*visits.tsv row"):
        load_trial(trial_dir)
    # without qc.tsv visits.tsv must carry them
    (trial_dir / "qc.tsv").unlink()
    pd.DataFrame(visits).to_csv(trial_dir / "visits.tsv", sep="\t", index=False)
    trial = load_trial(trial_dir)
    assert trial.timeseries("02", 12).shape == (N_VOL, 160)


def test_scrubbing_counts_and_recovery(tree, planted_rois, tmp_path):
    root, truth = tree
    qc = extract_fmriprep(root, "dosenbach", "scrubbing", tmp_path, sessions=SESSIONS, participants=["sub-01"],
                          progress=False)
    assert len(qc) == 2
    assert (qc["n_volumes_kept"] == N_VOL - len(SPIKES)).all() and (qc["n_scrubbed"] == len(SPIKES)).all()
    keep = np.setdiff1d(np.arange(N_VOL), SPIKES)
    ts = _read_ts(tmp_path / "timeseries" / "sub-01_ses-12_task-rest_timeseries.tsv")
    assert len(ts) == len(keep)
    _assert_recovered(ts, truth[("01", "02")], planted_rois, keep)


def test_compcor_without_sessions_mapping(tree, planted_rois, tmp_path):
    root, truth = tree
    qc = extract_fmriprep(root, "dosenbach", "compcor", tmp_path, participants=["03"], progress=False)
    assert qc["session"].tolist() == ["01"]  # labels kept as given
    ts = _read_ts(tmp_path / "timeseries" / "sub-03_ses-01_task-rest_timeseries.tsv")
    _assert_recovered(ts, truth[("03", "01")], planted_rois)


def test_label_image_atlas(tree, grid, planted_rois, tmp_path):
    """A TSV with a sibling label image: regions of the image, in TSV order (not label order)."""
    root, truth = tree
    affine, shape, xyz = grid
    others = dosenbach_atlas()
    coords = others[["x", "y", "z"]].to_numpy(float)
    far = np.min(np.linalg.norm(coords[:, None] - planted_rois[["x", "y", "z"]].to_numpy(float)[None], axis=2),
                 axis=1) > 35
    table = pd.concat([planted_rois, others[far].iloc[::9].head(7)], ignore_index=True)
    table["label"] = np.arange(len(table), 0, -1) * 3  # descending, gaps
    labels = np.zeros(xyz.shape[0], np.int16)
    for row in table.itertuples():
        labels[np.linalg.norm(xyz - [row.x, row.y, row.z], axis=1) <= 10] = row.label
    nib.save(nib.Nifti1Image(labels.reshape(shape), affine), tmp_path / "myatlas.nii.gz")
    table.to_csv(tmp_path / "myatlas.tsv", sep="\t", index=False)
    atlas = resolve_atlas(tmp_path / "myatlas.tsv")
    assert atlas.attrs["label_img"] == str(tmp_path / "myatlas.nii.gz")
    extract_fmriprep(root, tmp_path / "myatlas.tsv", "simple", tmp_path / "out", participants=["02"],
                     sessions=SESSIONS, progress=False)
    written = pd.read_csv(tmp_path / "out" / "atlas.tsv", sep="\t")
    assert written["roi"].tolist() == table["roi"].tolist() and "label" not in written
    ts = _read_ts(tmp_path / "out" / "timeseries" / "sub-02_ses-0_task-rest_timeseries.tsv")
    assert list(ts.columns) == table["roi"].tolist()
    _assert_recovered(ts, truth[("02", "01")], planted_rois)


def test_coordinate_tsv_atlas_uses_spheres(tmp_path):
    table = dosenbach_atlas().head(12)
    table["region"] = "cortex"
    table.to_csv(tmp_path / "coords.tsv", sep="\t", index=False)
    atlas = resolve_atlas(tmp_path / "coords.tsv")
    assert atlas.attrs["label_img"] is None and list(atlas.columns) == ["roi", "x", "y", "z", "network", "region"]


@pytest.mark.parametrize(("name", "n", "region"), [("dosenbach", 160, True), ("power", 264, False),
                                                   ("seitzman", 300, True)])
def test_builtin_atlases_offline(name, n, region):
    atlas = resolve_atlas(name)
    assert len(atlas) == n and atlas["roi"].is_unique
    assert list(atlas.columns[:5]) == ["roi", "x", "y", "z", "network"] and ("region" in atlas) == region
    assert atlas[["x", "y", "z"]].abs().max().max() < 120 and atlas.attrs["label_img"] is None


def test_existing_outputs_need_overwrite(tree, simple_run, tmp_path):
    root, _ = tree
    out = tmp_path / "copy"
    shutil.copytree(simple_run[0], out)
    before = (out / "timeseries" / "sub-03_ses-0_task-rest_timeseries.tsv").read_text()
    with pytest.raises(ExtractionError, match="sub-03_ses-0_task-rest_timeseries.tsv.*overwrite"):
        extract_fmriprep(root, "dosenbach", "simple", out, sessions=SESSIONS, participants=["03"], progress=False)
    qc = extract_fmriprep(root, "dosenbach", "simple", out, sessions=SESSIONS, participants=["03"],
                          overwrite=True, progress=False)
    assert len(qc) == 1
    assert (out / "timeseries" / "sub-03_ses-0_task-rest_timeseries.tsv").read_text() == before  # deterministic
    assert len(pd.read_csv(out / "qc.tsv", sep="\t")) == 5  # other rows kept, sub-03's replaced
    with pytest.raises(ExtractionError, match="atlas.tsv.*another atlas"):
        extract_fmriprep(root, "power", "simple", out, sessions=SESSIONS, participants=["03"], overwrite=True,
                         progress=False)
    with pytest.raises(ExtractionError, match="qc.tsv.*simple"):
        extract_fmriprep(root, "dosenbach", "scrubbing", out, sessions=SESSIONS, participants=["03"],
                         overwrite=True, progress=False)


# --------------------------------------------------------------------------------------------
# malformed trees: every error names the file
# --------------------------------------------------------------------------------------------
@pytest.fixture
def small(tmp_path, grid):
    """A writer of short runs (no extraction happens before the tree is checked)."""
    rng = np.random.default_rng(1)
    root = tmp_path / "fmriprep"
    root.mkdir()

    def write(sub="01", ses="01", **kwargs):
        kwargs.setdefault("n_vol", 20)
        return write_scan(root, grid, rng, sub, ses, None, **kwargs)

    return root, write


def test_error_missing_confounds(small, tmp_path):
    root, write = small
    write("01")
    write("02", confounds=False)
    with pytest.raises(ExtractionError, match=r"sub-02_ses-01_task-rest_space-\S+_bold.nii.gz: confounds file "
                                              r"missing.*sub-02_ses-01_task-rest_desc-confounds_timeseries"):
        extract_fmriprep(root, "dosenbach", "simple", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_error_volume_mismatch(small, tmp_path):
    root, write = small
    write("01", n_confound_rows=19)
    with pytest.raises(ExtractionError, match=r"sub-01_ses-01_task-rest_desc-confounds_timeseries.tsv: volume "
                                              r"count mismatch: 19 confound rows but 20 volumes"):
        extract_fmriprep(root, "dosenbach", "simple", tmp_path / "out", progress=False)


def test_error_space_not_mni(small, tmp_path):
    root, write = small
    write("01", space="T1w")
    with pytest.raises(ExtractionError, match=r"sub-01_ses-01_task-rest_space-T1w_desc-preproc_bold.nii.gz: "
                                              r"no BOLD file in space 'MNI152NLin2009cAsym'.*T1w"):
        extract_fmriprep(root, "dosenbach", "simple", tmp_path / "out", progress=False)
    with pytest.raises(ExtractionError, match="not an MNI space"):
        extract_fmriprep(root, "dosenbach", "simple", tmp_path / "out", space="T1w", progress=False)


def test_error_no_bold_files(small, tmp_path):
    root, _ = small
    (root / "sub-01" / "func").mkdir(parents=True)
    with pytest.raises(ExtractionError, match=f"{root}: no BOLD files found"):
        extract_fmriprep(root, "dosenbach", "simple", tmp_path / "out", progress=False)
    with pytest.raises(ExtractionError, match="does not exist"):
        extract_fmriprep(tmp_path / "nowhere", "dosenbach", "simple", tmp_path / "out", progress=False)


def test_error_several_runs_and_sessions(small, tmp_path):
    root, write = small
    write("01", run="1")
    write("01", run="2")
    with pytest.raises(ExtractionError, match=r"func: 2 BOLD files for one output.*run-1.*run-2.*--run"):
        find_scans(root)
    assert [s.bold.name for s in find_scans(root, run="2")] == [
        f"sub-01_ses-01_task-rest_run-2_space-{SPACE}_desc-preproc_bold.nii.gz"]
    with pytest.raises(ExtractionError, match=r"run-1_space-\S+: session '01' is not in the sessions mapping"):
        find_scans(root, run="1", sessions={"02": 12})


@pytest.mark.parametrize(("content", "problem"), [
    ("roi\tx\ty\tz\nA\t1\t2\t3\n", r"missing column\(s\) \['network'\]"),
    ("roi\tx\ty\tz\tnetwork\n" + "".join(f"R{i}\t{i}\t0\t0\tnet\n" for i in range(9)), "9 ROIs; at least 10"),
    ("roi\tx\ty\tz\tnetwork\n" + "".join(f"R{i % 10}\t{i}\t0\t0\tnet\n" for i in range(11)), "unique"),
    ("roi\tx\ty\tz\tnetwork\n" + "".join(f"R{i}\t{i}\tn/a\t0\tnet\n" for i in range(11)), "row 1, column 'y'"),
])
def test_error_atlas_tsv(tmp_path, content, problem):
    (tmp_path / "bad.tsv").write_text(content)
    with pytest.raises(ExtractionError, match=f"bad.tsv: .*{problem}"):
        resolve_atlas(tmp_path / "bad.tsv")
    with pytest.raises(ExtractionError, match="unknown atlas"):
        resolve_atlas("aal")


def test_failed_scan_writes_nothing(small, tmp_path):
    root, write = small
    write("01", n_vol=40)
    write("02", n_vol=40, constant=True)
    out = tmp_path / "out"
    with pytest.raises(ExtractionError, match=r"sub-02_ses-01_\S+_bold.nii.gz: 160 ROI signal\(s\) constant"):
        extract_fmriprep(root, "dosenbach", "simple", out, progress=False)
    assert not out.exists()  # sub-01 was extracted but never moved into place
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ExtractionError, match="constant"):
        extract_fmriprep(root, "dosenbach", "simple", out, progress=False)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_error_no_degrees_of_freedom(small, tmp_path):
    root, write = small
    write("01", n_vol=30)  # simple: 24 motion + 2 tissue + 2 cosine regressors
    with pytest.raises(ExtractionError, match=r"sub-01_ses-01_\S+_bold.nii.gz: .*28 confounds .* 30 kept volumes"):
        extract_fmriprep(root, "dosenbach", "simple", tmp_path / "out", progress=False)


def test_error_survives_worker_processes():
    err = pickle.loads(pickle.dumps(ExtractionError("a/b.tsv", "broken")))
    assert isinstance(err, ValueError) and (err.file, err.problem, str(err)) == ("a/b.tsv", "broken",
                                                                                 "a/b.tsv: broken")


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------
def test_cli_extract(tree, simple_run, tmp_path, capsys):
    root, _ = tree
    out = tmp_path / "cli"
    with parallel_config(backend="threading"):  # the parallel path without process start-up time
        code = main(["extract", "--fmriprep", str(root), "--atlas", "dosenbach", "--strategy", "simple", "--out",
                     str(out), "--sessions", "01=0,02=12", "--participants", "01", "sub-02", "--n-jobs",
                     "2", "--no-progress"])
    assert code == 0 and "extracted 4 scans" in capsys.readouterr().out
    for name in ("sub-01_ses-0", "sub-02_ses-12"):
        path = f"timeseries/{name}_task-rest_timeseries.tsv"
        assert (out / path).read_text() == (simple_run[0] / path).read_text()
    code = main(["extract", "--fmriprep", str(root), "--atlas", "dosenbach", "--strategy", "simple", "--out",
                 str(out), "--sessions", "01=0", "--no-progress"])
    assert code == 1
    assert "error: " in (err := capsys.readouterr().err) and "ses-02" in err and "sessions mapping" in err
