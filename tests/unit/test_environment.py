"""The conda environment (readers, Binder) and the uv lock (Makefile, CI) pin the same versions."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

import yaml

from analysis._paths import PROJECT_ROOT


def _locked_versions() -> dict[str, set[str]]:
    lock = tomllib.loads((PROJECT_ROOT / "uv.lock").read_text())
    out: dict[str, set[str]] = {}
    for pkg in lock["package"]:
        out.setdefault(pkg["name"], set()).add(pkg["version"])
    return out


def _conda_pins() -> dict[str, str]:
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and "==" in dep:
            name, version = dep.split("==")
            pins[name.strip()] = version.strip()
    return pins


def _direct_dependencies() -> set[str]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs.extend(extra)
    return {re.split(r"[<>=!~\[ ;]", s, maxsplit=1)[0].lower() for s in specs}


def test_every_direct_dependency_is_pinned_in_environment_yml():
    missing = _direct_dependencies() - set(_conda_pins())
    assert not missing, f"environment.yml lacks pins for: {sorted(missing)}"


def test_environment_yml_versions_match_the_lock():
    locked = _locked_versions()
    drift = {
        name: (version, sorted(locked.get(name, ())))
        for name, version in _conda_pins().items()
        if version not in locked.get(name, set())
    }
    assert not drift, f"environment.yml and uv.lock disagree (yml, lock): {drift}"


def test_installed_environment_is_the_locked_one():
    drift = {
        name: (version, metadata.version(name))
        for name, version in _conda_pins().items()
        if metadata.version(name) != version
    }
    assert not drift, f"installed versions differ from the pins (pin, installed): {drift}; run `make setup`"
