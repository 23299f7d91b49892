"""The results registry: formatting, validation, collection and comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import report


def test_format_number_uses_true_minus_and_no_negative_zero():
    assert report.format_number(-1.4049, 2) == "\u22121.40"
    assert report.format_number(-0.001, 2) == "0.00"
    assert report.format_number(1234.5, 0) == "1,234"  # banker's rounding of .5 is Python's
    assert report.format_number(float("nan")) == "n/a"


def test_glue_strings_with_and_without_ci():
    res = report.make_result("arms.x", -1.4012, ci=(-2.1, -0.7), unit="y")
    assert report.glue_strings(res) == {
        "arms.x": "\u22121.40",
        "arms.x_ci": "\u22122.10 to \u22120.70",
        "arms.x_full": "\u22121.40 y (95% CI \u22122.10 to \u22120.70)",
    }
    count = report.make_result("cohort.n", 451, decimals=0, unit="people")
    assert report.glue_strings(count)["cohort.n_full"] == "451 people"
    # a simulated rate's interval is named for what it is, not called a confidence interval
    rate = report.make_result("simulation.x", 0.045, ci=(0.032, 0.058), decimals=3, interval="95% Monte Carlo interval")
    assert report.glue_strings(rate)["simulation.x_full"] == "0.045 (95% Monte Carlo interval 0.032 to 0.058)"
    assert rate.to_dict()["interval"] == "95% Monte Carlo interval"
    with pytest.raises(ValueError, match="interval must name"):
        report.make_result("simulation.x", 0.05, interval=" ")


@pytest.mark.parametrize(
    "key, value, ci, match",
    [
        ("NoDot", 1.0, None, "key"),
        ("Upper.Case", 1.0, None, "key"),
        ("a.b", float("nan"), None, "finite"),
        ("a.b", 1.0, (2.0, 1.0), "low <= high"),
        ("a.b", "one", None, "number"),
    ],
)
def test_make_result_rejects_bad_input(key, value, ci, match):
    with pytest.raises((ValueError, TypeError), match=match):
        report.make_result(key, value, ci=ci)


def _nb(*records):
    outputs = [{"output_type": "display_data", "data": {}, "metadata": {report.RESULT_METADATA_KEY: r}}
               for r in records]
    return {"cells": [{"cell_type": "code", "outputs": outputs}]}


def test_collect_notebooks_merges_and_rejects_duplicates():
    a = report.make_result("a.one", 1.0).to_dict()
    b = report.make_result("b.two", 2.0, ci=(1.0, 3.0)).to_dict()
    merged = report.collect_notebooks([("nb1", _nb(a)), ("nb2", _nb(b))])
    assert list(merged) == ["a.one", "b.two"]
    assert merged["b.two"]["notebook"] == "nb2"
    with pytest.raises(ValueError, match="recorded twice.*nb1.*nb2"):
        report.collect_notebooks([("nb1", _nb(a)), ("nb2", _nb(a))])


def test_compare_results_reports_moved_missing_and_new_keys():
    exp = {k: report.make_result(k, v, ci=(v - 1, v + 1)).to_dict() for k, v in
           [("a.same", 1.0), ("a.moved", 2.0), ("a.gone", 3.0)]}
    act = {k: report.make_result(k, v, ci=(v - 1, v + 1)).to_dict() for k, v in
           [("a.same", 1.004), ("a.moved", 2.2), ("a.new", 4.0)]}
    problems = report.compare_results(act, exp)
    text = "\n".join(problems)
    assert "a.same" not in text  # within half a unit of the 2nd decimal
    assert "a.moved.value: expected 2.0, got 2.2" in text
    assert "a.gone: expected 3.0 but the build recorded nothing" in text
    assert "a.new: new result" in text
    assert report.compare_results(act, exp, tolerances={"a.moved": 0.5, "a.gone": 1}) != []
    assert report.compare_results(exp, exp) == []


def test_a_result_ending_a_cell_displays_nothing():
    """A cell whose last line is report.record(...) must not print the record on the page."""
    from IPython.core.interactiveshell import InteractiveShell

    result = report.make_result("demo.value", 1.5, unit="y", description="d")
    data, metadata = InteractiveShell.instance().display_formatter.format(result)
    assert data == {} and metadata == {}, f"a Result would be shown as {data}"


def _download_name(monkeypatch, **kwargs):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append(obj))
    report.table(pd.DataFrame({"a": [1.0]}), "demo-table", **kwargs)
    import re as _re

    return _re.search(r"download='([^']+)'", shown[-1].data).group(1)


def test_csv_downloads_carry_the_kind_of_data(monkeypatch):
    monkeypatch.setattr(report, "_page_data_kind", None)
    assert _download_name(monkeypatch) == "demo-table.csv"
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)
    report.data_banner("synthetic")
    assert _download_name(monkeypatch) == "synthetic-demo-table.csv"
    assert _download_name(monkeypatch, data="open-data") == "open-data-demo-table.csv"
    assert _download_name(monkeypatch, data=["synthetic", "open-data"]) == "synthetic+open-data-demo-table.csv"
    assert _download_name(monkeypatch, data="real") == "real-trial-demo-table.csv"
    with pytest.raises(ValueError, match="data kind"):
        _download_name(monkeypatch, data="made-up")


def test_record_frame_records_each_row_with_its_interval(monkeypatch):
    from analysis import report

    glued = {}
    monkeypatch.setattr(report, "_glue_text", lambda name, text, meta=None: glued.__setitem__(name, text))
    frame = pd.DataFrame({"key": ["a.one", "a.two"], "value": [1.0, 3], "ci_low": [0.5, np.nan],
                          "ci_high": [1.5, np.nan], "unit": ["y", "people"], "decimals": [1, 0],
                          "description": ["first", "second"]})
    results = report.record_frame(frame)
    assert [r.key for r in results] == ["a.one", "a.two"]
    assert results[0].ci_low == 0.5 and results[0].ci_high == 1.5 and results[1].ci_low is None
    assert glued["a.two"] == "3" and glued["a.one"] == "1.0"
    # a frame joined from rows that name their interval and rows that do not: NaN means the default
    mixed = pd.concat([frame.iloc[:1], frame.iloc[:1].assign(key="a.three", interval="95% Monte Carlo interval")])
    report.record_frame(mixed)
    assert glued["a.one_full"] == "1.0 y (95% CI 0.5 to 1.5)"
    assert glued["a.three_full"] == "1.0 y (95% Monte Carlo interval 0.5 to 1.5)"
    with pytest.raises(ValueError, match="unknown columns \\['p'\\]"):
        report.record_frame(frame.assign(p=0.1))


def test_recorded_frame_displays_nothing_on_a_page(monkeypatch):
    """A cell ending in record_frame(...) must not print Result(...) reprs on the page."""
    from analysis import report

    monkeypatch.setattr(report, "_glue_text", lambda *a, **k: None)
    out = report.record_frame(pd.DataFrame({"key": ["a.one"], "value": [1.0]}))
    assert out._ipython_display_() is None and len(out) == 1
