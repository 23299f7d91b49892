"""The book's Sphinx extension: prose pages are re-read exactly when what they paste may have changed."""

from __future__ import annotations

import importlib.util
import sqlite3
from types import SimpleNamespace

import pytest

from analysis._paths import PROJECT_ROOT
from tools import bookbuild


@pytest.fixture(scope="module")
def extension():
    spec = importlib.util.spec_from_file_location("brainclock_build_under_test",
                                                  PROJECT_ROOT / "book" / "_ext" / "brainclock_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env():
    paths = {"book/intro": "book/intro.md", "book/software": "book/software.md", "notebooks/01_cohort": "notebooks/01_cohort.py"}
    return SimpleNamespace(found_docs=set(paths), doc2path=lambda d: paths[d])


def test_prose_is_reread_when_a_page_or_an_input_changed_and_only_then(extension, monkeypatch):
    inputs = {"value": "a"}
    monkeypatch.setattr(extension, "_prose_inputs", lambda: inputs["value"])
    env, prose = _env(), ["book/intro", "book/software"]
    assert extension._reread_prose(None, env, set(), set(), set()) == prose  # first build
    assert extension._reread_prose(None, env, set(), set(), set()) == []  # nothing changed
    assert extension._reread_prose(None, env, set(), {"notebooks/01_cohort"}, set()) == prose  # a page changed
    assert extension._reread_prose(None, env, set(), set(), set()) == []
    inputs["value"] = "b"  # a notebook executed again, a new commit, ...
    assert extension._reread_prose(None, env, set(), set(), set()) == prose
    assert extension._reread_prose(None, env, set(), set(), set()) == []


def test_prose_inputs_follow_executions_fingerprint_and_timings_not_cache_reads(extension, monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    for name, path in (("CACHE_DIR", cache), ("FINGERPRINT_FILE", tmp_path / "fp.json"), ("TIMES_FILE", tmp_path / "s.json")):
        monkeypatch.setattr(bookbuild, name, path)
    (tmp_path / "fp.json").write_text('{"analysis": "1"}')
    with sqlite3.connect(cache / "global.db") as db:
        db.execute("CREATE TABLE nbcache (pk INTEGER, hashkey TEXT, uri TEXT, created TEXT, accessed TEXT)")
        db.execute("INSERT INTO nbcache VALUES (1, 'h1', 'a.py', 't1', 't1')")
    first = extension._prose_inputs()
    with sqlite3.connect(cache / "global.db") as db:
        db.execute("UPDATE nbcache SET accessed = 't9'")  # the build read the cached execution
    assert extension._prose_inputs() == first
    with sqlite3.connect(cache / "global.db") as db:
        db.execute("UPDATE nbcache SET hashkey = 'h2', created = 't2'")  # executed again
    second = extension._prose_inputs()
    assert second != first
    (tmp_path / "s.json").write_text('{"01_cohort": 4.1}')
    third = extension._prose_inputs()
    assert third != second
    (tmp_path / "fp.json").write_text('{"analysis": "2"}')
    assert extension._prose_inputs() != third
