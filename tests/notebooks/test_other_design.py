"""The book runs on a trial that is not LISA: its labels, visits and missing measurements follow the data.

The two-arm trial of :mod:`tests.fixtures_design` (arms EX and CTRL, visits 0/6/12 with the
primary comparison at 6 months and follow-up at 12, a 60-ROI atlas, no strength or
self-training data) and its reference cohort are written to disk, and the trial notebooks are
executed one by one with ``BRAINCLOCK_TRIAL_DIR`` and ``BRAINCLOCK_REFERENCE_DIR`` pointing at
them, as a user with such a trial would run them. The results they record must be keyed by the
design's labels and months (``arms.ex_vs_ctrl_6m``, ``followup.ex_vs_ctrl_12m``), never by LISA's
(``hrt``, ``mit``, ``con``, ``24m``), and no participant identifier may reach any output.

Executions are not stored in the book's execution cache (``cache=False``).
"""

from __future__ import annotations

import json
import re

import nbformat
import pandas as pd
import pytest

from analysis import report
from analysis._paths import PROJECT_ROOT
from tests.fixtures_design import TWO_ARM, write_two_arm_trial
from tests.privacy_scan import find_identifiers
from tools import bookbuild as _bookbuild

pytestmark = pytest.mark.slow

#: The notebooks that read the trial, in book order (02: its trial section applies the clock).
TRIAL_NOTEBOOKS = ["01_cohort", "02_clock_validation", "03_arm_comparisons", "04_follow_up", "05_strength",
                   "06_connectivity"]
LISA_TOKENS = {"hrt", "mit", "con", "24m"}


@pytest.fixture(scope="module")
def two_arm_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("two_arm")
    return write_two_arm_trial(root / "trial", root / "reference")


@pytest.fixture(scope="module")
def executed(two_arm_dirs, tmp_path_factory):
    """Execute each notebook; a failure is recorded (not raised) so every notebook is tried."""
    outputs = tmp_path_factory.mktemp("executed")
    trial_dir, reference_dir = two_arm_dirs
    notebooks, failures = [], {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRAINCLOCK_TRIAL_DIR", str(trial_dir))
        mp.setenv("BRAINCLOCK_REFERENCE_DIR", str(reference_dir))
        mp.delenv("BRAINCLOCK_CLOCK", raising=False)
        mp.setenv("PYTHONPATH", str(PROJECT_ROOT))  # the kernel imports this checkout's package
        runs = _bookbuild.execute_each([PROJECT_ROOT / "notebooks" / f"{name}.py" for name in TRIAL_NOTEBOOKS])
    for name, nb, error in runs:
        if error is not None:
            failures[name] = error
            continue
        nbformat.write(nb, outputs / f"{name}.ipynb")
        notebooks.append((f"notebooks/{name}", nb))
    registry = report.collect_notebooks(notebooks)
    (outputs / "results.json").write_text(json.dumps(registry, indent=2))
    return outputs, registry, failures


def _first_error_line(message: str) -> str:
    lines = [line for line in message.splitlines() if re.search(r"(Error|Exception)\b", line)]
    return lines[-1] if lines else message.splitlines()[0]


def test_every_trial_notebook_runs_on_a_two_arm_trial(executed):
    _, _, failures = executed
    assert not failures, "notebooks failing on the two-arm trial:\n" + "\n".join(
        f"{name}: {_first_error_line(message)}" for name, message in failures.items())


def test_result_keys_use_the_designs_labels_and_months(executed):
    _, registry, failures = executed
    if "03_arm_comparisons" in failures or "04_follow_up" in failures:
        pytest.fail("03/04 did not run; see test_every_trial_notebook_runs_on_a_two_arm_trial", pytrace=False)
    keys = set(registry)
    assert TWO_ARM.result_key("EX", "CTRL", 6) in keys
    assert TWO_ARM.result_key("EX", "CTRL", 12) in keys
    lisa = sorted(k for k in keys if LISA_TOKENS & set(re.split(r"[._]", k)))
    assert not lisa, f"result keys with LISA's labels or months: {lisa}"


def test_pages_say_what_the_data_lack_and_which_clock(executed):
    outputs, _, _ = executed
    texts = {p.stem: p.read_text() for p in outputs.glob("*.ipynb")}
    assert texts, "no notebook ran"
    for name, text in texts.items():
        assert "data-real-trial" in text, f"{name} does not show the real-data banner"
    assert any("not available in these data" in text for text in texts.values()), (
        "no page says that strength / self-training are not available in these data")
    assert any("clock-trained-synthetic" in text for text in texts.values()), (
        "no page says which data the clock was trained on")


def test_no_participant_identifier_reaches_the_outputs(two_arm_dirs, executed):
    outputs, _, _ = executed
    ids = pd.read_csv(two_arm_dirs[0] / "participants.tsv", sep="\t", dtype=str)["participant_id"].tolist()
    hits = find_identifiers(outputs, ids)
    assert not hits, "participant identifiers in the outputs:\n" + "\n".join(hits[:20])
