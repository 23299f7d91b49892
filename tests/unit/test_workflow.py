"""The GitHub Actions workflow is valid YAML and a thin wrapper around the Makefile."""

from __future__ import annotations

import re

import yaml

from analysis._paths import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "book.yml"


def _load():
    data = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as True
    data["on"] = data.pop(True, data.get("on"))
    return data


def test_workflow_triggers_push_nightly_and_deploys_pages():
    wf = _load()
    assert "push" in wf["on"] and "pull_request" in wf["on"]
    crons = [s["cron"] for s in wf["on"]["schedule"]]
    assert crons and all(len(c.split()) == 5 for c in crons)
    steps = wf["jobs"]["deploy"]["steps"]
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in steps)
    assert wf["jobs"]["deploy"]["needs"] == "test"


def test_workflow_runs_the_readme_test_command_and_nothing_else():
    wf = _load()
    runs = [s["run"] for s in wf["jobs"]["test"]["steps"] if "run" in s]
    assert runs == ["make test"]
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert re.search(r"^make test\b", readme, re.M), "README must document `make test`"
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_every_action_is_pinned_to_a_major_version():
    wf = _load()
    uses = [s["uses"] for job in wf["jobs"].values() for s in job["steps"] if "uses" in s]
    assert uses and all(re.fullmatch(r"[\w\-]+/[\w\-]+@v\d+", u) for u in uses), uses
