"""Trial design as data: ``trial.json`` validation, contrasts, result keys, round trip."""

from __future__ import annotations

import copy
import json

import pytest

from analysis.trial import TrialDataError
from analysis.trial.design import LISA, RESULT_KEY_PATTERN, Arm, TrialDesign, TrialDesignError, load_design


def lisa_dict() -> dict:
    return copy.deepcopy(LISA.to_dict())


def test_lisa_is_the_published_design():
    assert LISA.labels == ["HRT", "MIT", "CON"]
    assert LISA.descriptions["CON"] == "Control (usual activity)"
    assert LISA.active_arms == ["HRT", "MIT"]
    assert (LISA.baseline, LISA.post_baseline, LISA.primary_visit) == (0, [12, 24], 12)
    assert LISA.followup_visits == (24,) and LISA.inclusion_age == (62, 71)


def test_contrasts_active_vs_control_then_pairwise():
    assert LISA.contrasts() == [("HRT", "CON"), ("MIT", "CON"), ("HRT", "MIT")]
    four = TrialDesign((Arm("A"), Arm("C"), Arm("B"), Arm("D")), "C", (0, 6), 6)
    assert four.contrasts() == [("A", "C"), ("B", "C"), ("D", "C"), ("A", "B"), ("A", "D"), ("B", "D")]


def test_result_keys():
    assert LISA.result_key("HRT", "CON", 12) == "arms.hrt_vs_con_12m"
    assert LISA.result_key("MIT", "HRT", 24) == "followup.mit_vs_hrt_24m"
    assert LISA.result_key("HRT", "MIT", 12, prefix="ancova") == "arms.ancova_hrt_vs_mit_12m"
    odd = TrialDesign((Arm("High-Load RT"), Arm("Usual care")), "Usual care", (0, 3, 6), 3, (6,))
    key = odd.result_key("High-Load RT", "Usual care", 6)
    assert key == "followup.high_load_rt_vs_usual_care_6m" and RESULT_KEY_PATTERN.match(key)
    for bad in [("HRT", "CON", 0), ("HRT", "CON", 6), ("HRT", "HRT", 12), ("YOGA", "CON", 12)]:
        with pytest.raises(ValueError):
            LISA.result_key(*bad)


def test_json_round_trip(tmp_path):
    path = LISA.to_json(tmp_path)
    assert path == tmp_path / "trial.json"
    assert TrialDesign.from_json(tmp_path) == LISA
    assert load_design(tmp_path) == LISA
    assert json.loads(path.read_text())["arms"][0] == {"label": "HRT", "description": "Heavy resistance training"}


def test_optional_keys_absent_or_empty(tmp_path):
    data = lisa_dict()
    del data["inclusion_age"], data["followup_visits"]
    design = TrialDesign.from_dict(data)
    assert design.followup_visits == () and design.inclusion_age is None
    assert design.result_key("HRT", "CON", 24) == "arms.hrt_vs_con_24m"
    design = TrialDesign.from_dict({**data, "followup_visits": [], "inclusion_age": []})
    assert TrialDesign.from_json(design.to_json(tmp_path / "t.json")) == design


def test_missing_file_uses_default_only_when_given(tmp_path):
    assert load_design(tmp_path, default=LISA) is LISA
    with pytest.raises(TrialDataError, match="file must exist"):
        load_design(tmp_path)


@pytest.mark.parametrize(
    ("change", "key", "rule"),
    [
        ({"control": "NONE"}, "control", "must be one of the arm labels"),
        ({"arms": [{"label": "CON", "description": ""}]}, "arms", "at least two arms"),
        ({"arms": [{"label": "CON"}, {"label": "CON"}]}, "arms[1].label", "unique"),
        ({"arms": [{"label": "H RT"}, {"label": "h-rt"}, {"label": "CON"}]}, "arms", "distinct in result keys"),
        ({"arms": [{"label": ""}, {"label": "CON"}]}, "arms[0].label", "non-empty"),
        ({"arms": [{"label": "CON", "colour": "red"}, {"label": "A"}]}, "arms[0].colour", "unknown key"),
        ({"visits": [0, 24, 12]}, "visits", "strictly increasing"),
        ({"visits": [0, 12, 12, 24]}, "visits", "strictly increasing"),
        ({"visits": [0, 12.5, 24]}, "visits", "whole numbers"),
        ({"visits": [0]}, "visits", "at least one visit after the baseline"),
        ({"primary_visit": 0}, "primary_visit", "post-baseline"),
        ({"primary_visit": 6}, "primary_visit", "post-baseline"),
        ({"primary_visit": 24}, "primary_visit", "must not be a follow-up"),
        ({"followup_visits": [36]}, "followup_visits", "post-baseline"),
        ({"followup_visits": [0]}, "followup_visits", "post-baseline"),
        ({"inclusion_age": [71, 62]}, "inclusion_age", "low < high"),
        ({"inclusion_age": [62]}, "inclusion_age", "low < high"),
        ({"inclusion_age": ["62", 71]}, "inclusion_age", "low < high"),
        ({"primary": 12}, "primary", "unknown key"),
    ],
)
def test_invalid_designs_name_file_key_rule_value(tmp_path, change, key, rule):
    data = {**lisa_dict(), **change}
    (tmp_path / "trial.json").write_text(json.dumps(data))
    with pytest.raises(TrialDesignError) as err:
        TrialDesign.from_json(tmp_path)
    message = str(err.value)
    assert message.startswith(f"file 'trial.json', key {key!r}: rule '")
    assert rule in message and err.value.key == key
    assert isinstance(err.value, TrialDataError) and isinstance(err.value, ValueError)


def test_missing_required_key_and_bad_json(tmp_path):
    data = lisa_dict()
    del data["control"]
    with pytest.raises(TrialDesignError, match="key 'control': rule 'required key missing'"):
        TrialDesign.from_dict(data)
    (tmp_path / "trial.json").write_text("{not json")
    with pytest.raises(TrialDesignError, match="valid UTF-8 JSON"):
        TrialDesign.from_json(tmp_path / "trial.json")


def test_design_is_frozen_and_hashable():
    with pytest.raises(AttributeError):
        LISA.control = "HRT"  # type: ignore[misc]
    assert hash(LISA) == hash(TrialDesign.from_dict(lisa_dict()))
