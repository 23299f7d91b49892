"""Reference cohort as data: layout, validation, sessions, QC, round trip, atlas helpers."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from analysis.atlas import dosenbach_atlas, prefrontal_mask
from analysis.trial import TrialDataError, io
from analysis.trial.reference import (
    MIN_ROIS,
    ReferenceCohort,
    atlas_digest,
    atlas_name,
    cohort_summary,
    has_regions,
    load_reference,
    reference_from_env,
    region_mask,
    write_reference,
)
from tests.unit._small_reference import small_reference


@pytest.fixture(scope="module")
def synthetic():
    return small_reference(n=20, n_rois=12, n_volumes=30)


@pytest.fixture(scope="module")
def written(synthetic, tmp_path_factory):
    return write_reference(synthetic, tmp_path_factory.mktemp("ref") / "reference")


@pytest.fixture
def ref_dir(written, tmp_path):
    """A fresh, writable copy of the written synthetic reference."""
    return shutil.copytree(written, tmp_path / "reference")


def edit(path, fn):
    """Rewrite a TSV with ``fn(frame) -> frame`` (all values as text)."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    fn(frame).to_csv(path, sep="\t", index=False)


def first(column, value):
    """An edit setting the first data row of ``column`` to ``value``."""
    def change(frame):
        frame.loc[0, column] = value
        return frame
    return change


def drop(column):
    return lambda frame: frame.drop(columns=column)


# --- round trip ---------------------------------------------------------------------------------
def test_round_trip_of_the_synthetic_reference(synthetic, written):
    cohort = load_reference(written)
    assert isinstance(cohort, ReferenceCohort)
    assert cohort.source == "synthetic"  # written by the simulator: never relabelled as real
    people = cohort.participants
    pd.testing.assert_frame_equal(people[["participant_id", "age", "sex", "mean_fd_mm", "n_volumes"]],
                                  synthetic.participants, check_dtype=False)
    assert set(people["site"]) == {"synthetic"} and set(people["n_scrubbed"]) == {0}
    pd.testing.assert_frame_equal(cohort.atlas, synthetic.atlas)
    for pid in ["R0001", "R0020"]:
        np.testing.assert_array_equal(cohort.timeseries(pid), io.written_values(synthetic.timeseries(pid)))
    assert len(list(cohort.iter_timeseries(people.iloc[:3]))) == 3
    assert cohort.notes == ()


def test_second_round_trip_is_byte_identical(written, tmp_path):
    cohort = load_reference(written)
    again = load_reference(cohort.write(tmp_path / "again"))
    assert again.digest == cohort.digest
    pd.testing.assert_frame_equal(again.participants, cohort.participants)


def test_real_label_summary_and_digest(ref_dir):
    (ref_dir / "dataset_description.json").unlink()
    cohort = load_reference(ref_dir)
    assert cohort.source == "real"
    summary = cohort.summary()
    assert summary["kind"] == "real" and summary["n"] == 20 and summary["sites"] == ["synthetic"]
    assert summary["age_min"] == cohort.participants["age"].min()
    digest = cohort.digest
    assert load_reference(ref_dir, check_timeseries=False).digest == digest  # same bytes, same digest
    edit(ref_dir / "participants.tsv", lambda f: f.assign(site="s2"))
    assert load_reference(ref_dir, check_timeseries=False).digest != digest


def test_summary_of_the_in_memory_synthetic_reference(synthetic):
    summary = cohort_summary(synthetic)
    assert summary["kind"] == "synthetic" and summary["n"] == 20 and len(summary["digest"]) == 64


def test_no_qc_file_is_fine(ref_dir):
    (ref_dir / "qc.tsv").unlink()
    cohort = load_reference(ref_dir)
    assert list(cohort.participants.columns) == ["participant_id", "age", "sex", "site", "dataset"]


# --- sessions -----------------------------------------------------------------------------------
def test_several_sessions_use_the_first_in_natural_order_and_say_so(ref_dir):
    ts = ref_dir / "timeseries"
    for pid in ["R0001", "R0002"]:
        data = (ts / f"sub-{pid}_task-rest_timeseries.tsv").read_text()
        (ts / f"sub-{pid}_task-rest_timeseries.tsv").unlink()
        (ts / f"sub-{pid}_ses-10_task-rest_timeseries.tsv").write_text(data)
        (ts / f"sub-{pid}_ses-2_task-rest_timeseries.tsv").write_text(data)
    edit(ref_dir / "qc.tsv", lambda f: f.assign(session=f["session"].where(
        ~f["participant_id"].isin(["R0001", "R0002"]), "ses-2")))
    cohort = load_reference(ref_dir)
    scans = cohort.scans.set_index("participant_id")
    assert scans.loc["R0001", "session"] == "2" and scans.loc["R0001", "sessions_available"] == "2,10"
    assert scans.loc["R0003", "session"] == "n/a"
    assert cohort.notes and "2 of 20 participants have several sessions" in cohort.notes[0]
    assert "ses-2: 2" in cohort.notes[0]


def test_qc_row_missing_for_the_session_used(ref_dir):
    ts = ref_dir / "timeseries"
    (ts / "sub-R0001_task-rest_timeseries.tsv").rename(ts / "sub-R0001_ses-1_task-rest_timeseries.tsv")
    with pytest.raises(TrialDataError, match=r"file 'qc.tsv'.*every scan used needs its QC row.*R0001 \(session 1\)"):
        load_reference(ref_dir)


# --- validation ---------------------------------------------------------------------------------
def test_missing_and_orphan_files_are_all_listed(ref_dir):
    ts = ref_dir / "timeseries"
    for pid in ["R0003", "R0007"]:
        (ts / f"sub-{pid}_task-rest_timeseries.tsv").unlink()
    with pytest.raises(TrialDataError, match=r"every participant has a time-series file.*2 participant\(s\) without a file: R0003, R0007"):
        load_reference(ref_dir)
    shutil.copy(ts / "sub-R0001_task-rest_timeseries.tsv", ts / "sub-X9_task-rest_timeseries.tsv")
    shutil.copy(ts / "sub-R0001_task-rest_timeseries.tsv", ts / "sub-X8_task-rest_timeseries.tsv")
    with pytest.raises(TrialDataError, match=r"belongs to a participant.*2 file\(s\) without a participant: sub-X8_task"):
        load_reference(ref_dir)


@pytest.mark.parametrize(
    ("file", "change", "match"),
    [
        ("participants.tsv", first("age", "abc"),
         r"file 'participants.tsv', row 1, column 'age': rule 'must be a number' broken \(value 'abc'\)"),
        ("participants.tsv", first("age", "130"), r"row 1, column 'age': rule 'must be <= 120'"),
        ("participants.tsv", first("sex", "X"), r"column 'sex': rule 'must be one of"),
        ("participants.tsv", drop("site"), r"column 'site': rule 'required column missing'"),
        ("participants.tsv", first("site", ""), r"row 1, column 'site': rule 'value required"),
        ("participants.tsv", first("participant_id", "R0002"),
         r"row 2, column 'participant_id': rule 'participant_id must be unique'"),
        ("participants.tsv", first("participant_id", "sub-R0001"),
         r"without the 'sub-' prefix"),
        ("participants.tsv", first("participant_id", "R_1"), r"BIDS label"),
        ("qc.tsv", first("mean_fd_mm", "-1"),
         r"file 'qc.tsv', row 1, column 'mean_fd_mm': rule 'must not be negative'"),
        ("qc.tsv", first("n_volumes_kept", "31"),
         r"row 1, column 'n_volumes_kept': rule 'n_volumes_kept must not exceed n_volumes'"),
        ("qc.tsv", lambda f: first("n_volumes_kept", "29")(first("n_volumes", "40")(f)),
         r"timeseries/sub-R0001_task-rest_timeseries.tsv'.*number of rows must equal n_volumes"),
        ("qc.tsv", first("participant_id", "Z1"),
         r"row 1, column 'participant_id': rule 'QC row for a participant not in participants.tsv'"),
        ("qc.tsv", drop("strategy"), r"column 'strategy': rule 'required column missing'"),
        ("atlas.tsv", lambda f: first("roi", f["roi"][1])(f), r"row 2, column 'roi': rule 'ROI names must be unique'"),
    ],
)
def test_tables_break_rules_with_file_row_column_rule_value(ref_dir, file, change, match):
    edit(ref_dir / file, change)
    with pytest.raises(TrialDataError, match=match):
        load_reference(ref_dir)


def test_atlas_needs_ten_rois(ref_dir):
    edit(ref_dir / "atlas.tsv", lambda f: f.iloc[:MIN_ROIS - 1])
    with pytest.raises(TrialDataError, match=r"file 'atlas.tsv', column 'roi': rule 'at least 10 ROIs' broken \(value 9\)"):
        load_reference(ref_dir)


def test_timeseries_header_and_values(ref_dir):
    file = ref_dir / "timeseries" / "sub-R0004_task-rest_timeseries.tsv"
    lines = file.read_text().splitlines()
    original = list(lines)
    header = lines[0].split("\t")
    lines[0] = "\t".join([header[1], header[0]] + header[2:])
    file.write_text("\n".join(lines) + "\n")
    with pytest.raises(TrialDataError, match=r"sub-R0004.*row 0.*ROI names must match atlas.tsv in order"):
        load_reference(ref_dir)
    lines = list(original)
    lines[3] = "\t".join(["nan"] + lines[3].split("\t")[1:])
    file.write_text("\n".join(lines) + "\n")
    with pytest.raises(TrialDataError, match=r"sub-R0004.*row 3.*must be finite"):
        load_reference(ref_dir)
    load_reference(ref_dir, check_timeseries=False)  # values are checked when read ...
    with pytest.raises(TrialDataError, match="must be finite"):
        load_reference(ref_dir, check_timeseries=False).timeseries("R0004")


def test_badly_named_file(ref_dir):
    shutil.copy(ref_dir / "timeseries" / "sub-R0001_task-rest_timeseries.tsv",
                ref_dir / "timeseries" / "sub-R0001_task-motor_timeseries.tsv")
    with pytest.raises(TrialDataError, match=r"sub-R0001_task-motor_timeseries.tsv.*file name must be"):
        load_reference(ref_dir)


def test_missing_directory_and_env(tmp_path, monkeypatch, written):
    with pytest.raises(TrialDataError, match="reference directory must exist"):
        load_reference(tmp_path / "nope")
    monkeypatch.delenv("BRAINCLOCK_REFERENCE_DIR", raising=False)
    assert reference_from_env() is None
    monkeypatch.setenv("BRAINCLOCK_REFERENCE_DIR", str(written))
    assert reference_from_env().summary()["n"] == 20


# --- atlas helpers ------------------------------------------------------------------------------
def test_atlas_digest_name_and_regions():
    atlas = dosenbach_atlas()
    assert atlas_name(atlas) == "dosenbach160"
    assert atlas_digest(atlas) == atlas_digest(atlas.assign(x=atlas["x"] + 1e-9, network="other"))
    assert atlas_digest(atlas) != atlas_digest(atlas.assign(roi=atlas["roi"][::-1].to_numpy()))
    assert atlas_name(atlas.iloc[:60]) == "custom60"
    assert has_regions(atlas)  # the bundled atlas labels its prefrontal ROIs
    np.testing.assert_array_equal(region_mask(atlas), prefrontal_mask(atlas.drop(columns="region")))
    assert region_mask(atlas).sum() > 10 and set(atlas["region"]) == {"prefrontal", "other"}
    unlabelled = atlas.drop(columns="region")
    assert not has_regions(unlabelled)
    with pytest.raises(ValueError, match="'prefrontal' not available for this atlas"):
        region_mask(unlabelled)
    labelled = atlas.assign(region=np.where(atlas["y"] > 30, "prefrontal", "other"))
    assert has_regions(labelled) and region_mask(labelled).sum() == (atlas["y"] > 30).sum()
