"""Trial data are health data: no participant identifier may reach the site.

A synthetic trial is written to disk in the real-data layout (``python -m analysis simulate``,
with a seed the book does not use) and the trial notebooks are executed with
``BRAINCLOCK_TRIAL_DIR`` pointing at it, exactly as a user with the real data would run them.
Real trial data need a real clock source (the synthetic reference is for the synthetic trial
only), so a clock fitted on a small synthetic reference is saved and named by
``BRAINCLOCK_CLOCK``; the pages then say the clock was trained on synthetic data. Every
output they produce — the HTML of the pages, the embedded CSV downloads, the glued values — and
the results registry built from them are scanned for every participant id of that directory.

The executions are not stored in the book's execution cache (``cache=False``): the book itself
must keep showing the default data.
"""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pandas as pd
import pytest

from analysis import report
from analysis._paths import PROJECT_ROOT
from analysis.clock import fit_clock, save_clock
from analysis.trial import simulate_reference
from tests.privacy_scan import find_identifiers
from tools import bookbuild as _bookbuild

# Every notebook that reads the trial, except 02_clock_validation, whose trial section applies the
# same package function as 03 (trial_brain_age) and shows only aggregate figures; its synthetic
# and open-data sections take minutes and do not depend on the trial directory.
TRIAL_NOTEBOOKS = ["01_cohort", "03_arm_comparisons", "04_follow_up", "05_strength", "06_connectivity"]
SEED_NOT_USED_BY_THE_BOOK = 7
#: Volumes per scan of the written layout: identifiers do not depend on the series' length, and the
#: default 250 volumes made the directory 435 MB of TSV that every notebook parses (60: about 4x less).
VOLUMES = 60


@pytest.fixture(scope="module")
def real_layout_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("trial") / "lisa"
    subprocess.run(
        [sys.executable, "-m", "analysis", "simulate", "--out", str(out),
         "--seed", str(SEED_NOT_USED_BY_THE_BOOK), "--n-volumes", str(VOLUMES)],
        check=True, cwd=PROJECT_ROOT, capture_output=True, text=True,
    )
    return out


@pytest.fixture(scope="module")
def saved_clock(tmp_path_factory):
    reference = simulate_reference(n=300, seed=SEED_NOT_USED_BY_THE_BOOK)
    path = tmp_path_factory.mktemp("clock") / "synthetic-300.brainclock.zip"
    return save_clock(fit_clock(reference, seed=SEED_NOT_USED_BY_THE_BOOK), path, atlas=reference.atlas,
                      training=reference)


@pytest.fixture(scope="module")
def executed_on_real_layout(real_layout_dir, saved_clock, tmp_path_factory):
    outputs = tmp_path_factory.mktemp("executed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRAINCLOCK_TRIAL_DIR", str(real_layout_dir))
        mp.setenv("BRAINCLOCK_CLOCK", str(saved_clock))
        mp.delenv("BRAINCLOCK_REFERENCE_DIR", raising=False)
        runs = _bookbuild.execute_each([PROJECT_ROOT / "notebooks" / f"{name}.py" for name in TRIAL_NOTEBOOKS])
    executed = []
    for name, nb, error in runs:
        if error is not None:
            pytest.fail(f"on a real-layout trial directory: {error}", pytrace=False)
        nbformat.write(nb, outputs / f"{name}.ipynb")
        executed.append((f"notebooks/{name}", nb))
    registry = report.collect_notebooks(executed)
    (outputs / "results.json").write_text(json.dumps(registry, indent=2))
    return outputs


def _participant_ids(directory):
    ids = pd.read_csv(directory / "participants.tsv", sep="\t", dtype=str)["participant_id"]
    assert ids.is_unique and len(ids) == 451
    return list(ids)


def test_the_scan_finds_identifiers_where_they_are(real_layout_dir, tmp_path):
    """Positive control: the scanner sees this directory's ids in a row-level table."""
    ids = _participant_ids(real_layout_dir)
    (tmp_path / "rows.csv").write_text((real_layout_dir / "participants.tsv").read_text())
    hits = find_identifiers(tmp_path, ids)
    assert hits and ids[0] in hits[0]


def test_pages_say_they_ran_on_real_data(executed_on_real_layout):
    for name in TRIAL_NOTEBOOKS:
        text = (executed_on_real_layout / f"{name}.ipynb").read_text()
        assert "data-real-trial" in text, f"{name} does not show the real-data banner"
        assert "data-synthetic" not in text or name == "06_connectivity", (
            f"{name} shows the synthetic-data banner although it ran on a real directory"
        )


def test_no_participant_identifier_reaches_pages_csvs_or_results(real_layout_dir, executed_on_real_layout):
    hits = find_identifiers(executed_on_real_layout, _participant_ids(real_layout_dir))
    assert not hits, "participant identifiers in the outputs:\n" + "\n".join(hits[:20])
