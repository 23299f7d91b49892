"""Build plumbing: the execution cache is emptied exactly when code, lock or data change."""

from __future__ import annotations

import pytest

from tools import bookbuild as _bookbuild


@pytest.fixture(autouse=True)
def _fresh_kernels(monkeypatch):
    """These tests check the schedule and the cache on one-line notebooks: a kernel server would
    only add its imports (tests/unit/test_kernelserver.py checks the forked kernels)."""
    monkeypatch.setenv("BRAINCLOCK_FORK_KERNELS", "0")


def test_fingerprint_follows_data_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("BRAINCLOCK_TRIAL_DIR", raising=False)
    base = _bookbuild.fingerprint()
    assert _bookbuild.fingerprint() == base  # deterministic
    monkeypatch.setenv("BRAINCLOCK_TRIAL_DIR", str(tmp_path))
    with_dir = _bookbuild.fingerprint()
    assert with_dir["BRAINCLOCK_TRIAL_DIR"] != base["BRAINCLOCK_TRIAL_DIR"]
    (tmp_path / "participants.tsv").write_text("participant_id\n")
    assert _bookbuild.fingerprint()["BRAINCLOCK_TRIAL_DIR"] != with_dir["BRAINCLOCK_TRIAL_DIR"]


def test_fingerprint_follows_reference_dir_and_clock_file(monkeypatch, tmp_path):
    for var in ("BRAINCLOCK_REFERENCE_DIR", "BRAINCLOCK_CLOCK"):
        monkeypatch.delenv(var, raising=False)
    base = _bookbuild.fingerprint()
    assert base["BRAINCLOCK_REFERENCE_DIR"] == base["BRAINCLOCK_CLOCK"] == ""
    monkeypatch.setenv("BRAINCLOCK_REFERENCE_DIR", str(tmp_path / "ref"))
    (tmp_path / "ref").mkdir()
    with_ref = _bookbuild.fingerprint()["BRAINCLOCK_REFERENCE_DIR"]
    (tmp_path / "ref" / "participants.tsv").write_text("participant_id\n")
    assert _bookbuild.fingerprint()["BRAINCLOCK_REFERENCE_DIR"] != with_ref
    clock = tmp_path / "clock.brainclock.zip"
    clock.write_bytes(b"one")
    monkeypatch.setenv("BRAINCLOCK_CLOCK", str(clock))
    first = _bookbuild.fingerprint()["BRAINCLOCK_CLOCK"]
    clock.write_bytes(b"two")  # same name, other content: a new fingerprint
    assert _bookbuild.fingerprint()["BRAINCLOCK_CLOCK"] != first


def test_prepare_empties_the_cache_only_when_the_fingerprint_moves(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setattr(_bookbuild, "CACHE_DIR", cache)
    monkeypatch.setattr(_bookbuild, "FINGERPRINT_FILE", tmp_path / "fp.json")
    monkeypatch.setattr(_bookbuild, "PROJECT_ROOT", tmp_path)  # no jupyter_execute folder here
    state = {"analysis": "a", "lock": "l"}
    monkeypatch.setattr(_bookbuild, "fingerprint", lambda: dict(state))
    cache.mkdir()
    assert _bookbuild.prepare(verbose=False) is True and not cache.exists()
    cache.mkdir()
    assert _bookbuild.prepare(verbose=False) is False and cache.exists()
    state["analysis"] = "changed"
    assert _bookbuild.prepare(verbose=False) is True and not cache.exists()


def test_prepare_also_drops_parsed_pages_and_executed_copies(monkeypatch, tmp_path):
    """Sphinx would otherwise render a notebook whose text did not change from its old doctree."""
    monkeypatch.setattr(_bookbuild, "CACHE_DIR", tmp_path / "_build" / ".jupyter_cache")
    monkeypatch.setattr(_bookbuild, "FINGERPRINT_FILE", tmp_path / "_build" / "fp.json")
    monkeypatch.setattr(_bookbuild, "PROJECT_ROOT", tmp_path)
    state = {"analysis": "a"}
    monkeypatch.setattr(_bookbuild, "fingerprint", lambda: dict(state))
    _bookbuild.prepare(verbose=False)
    derived = [tmp_path / "_build" / name for name in (".doctrees", "jupyter_execute", ".jupyter_cache")]
    for d in derived:
        d.mkdir(parents=True)
    html = tmp_path / "_build" / "html"
    html.mkdir()
    state["analysis"] = "changed"
    assert _bookbuild.prepare(verbose=False) is True
    assert not any(d.exists() for d in derived) and html.exists()


def test_toc_notebooks_are_py_percent_files_in_reading_order():
    notebooks = _bookbuild.toc_notebooks()
    assert all(p.suffix == ".py" and p.exists() for p in notebooks)
    names = [p.stem for p in notebooks if p.parent.name == "notebooks"]
    assert names == sorted(names)


def test_an_unchanged_notebook_is_not_executed_twice_and_a_changed_one_is(monkeypatch, tmp_path):
    monkeypatch.setattr(_bookbuild, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(_bookbuild, "PROJECT_ROOT", tmp_path)
    source = tmp_path / "nb.py"
    source.write_text("# %%\nx = 6 * 7\nprint(x)\n")
    first = _bookbuild.execute_notebook(source)
    assert first.cells[0].outputs[0]["text"].strip() == "42"
    import jupyter_cache.executors.utils as executors

    calls = []
    original = executors.single_nb_execution
    monkeypatch.setattr(executors, "single_nb_execution", lambda *a, **k: calls.append(1) or original(*a, **k))
    again = _bookbuild.execute_notebook(source, reuse=True)
    assert calls == [] and again.cells[0].outputs[0]["text"].strip() == "42"
    source.write_text("# %%\nx = 6 * 8\nprint(x)\n")  # a changed notebook always runs again
    changed = _bookbuild.execute_notebook(source, reuse=True)
    assert calls == [1] and changed.cells[0].outputs[0]["text"].strip() == "48"


def test_execute_all_runs_uncached_notebooks_in_parallel_caches_them_and_reports_failures(monkeypatch, tmp_path):
    monkeypatch.setattr(_bookbuild, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(_bookbuild, "TIMES_FILE", tmp_path / "seconds.json")
    good, bad, cached = tmp_path / "good.py", tmp_path / "bad.py", tmp_path / "cached.py"
    good.write_text("# %%\nprint(6 * 7)\n")
    bad.write_text("# %%\nraise RuntimeError('broken cell')\n")
    cached.write_text("# %%\nprint('once')\n")
    _bookbuild.execute_notebook(cached)  # already in the cache: not executed again
    failures = _bookbuild.execute_all(2, [good, bad, cached], verbose=False)
    assert list(failures) == ["bad"] and "broken cell" in failures["bad"] and str(bad) in failures["bad"]
    hit = _bookbuild.cached_execution(good)
    assert hit is not None and hit.cells[0].outputs[0]["text"].strip() == "42"
    assert _bookbuild.cached_execution(bad) is None
    import json

    assert set(json.loads((tmp_path / "seconds.json").read_text())) == {"good", "bad"}
    assert _bookbuild.execute_all(2, [good, cached], verbose=False) == {}  # everything cached: nothing runs


def test_execute_each_runs_in_order_reads_the_environment_and_reports_failures(monkeypatch, tmp_path):
    monkeypatch.setattr(_bookbuild, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setenv("BRAINCLOCK_TEST_VALUE", "seven")
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text("# %%\nimport os\nprint(os.environ['BRAINCLOCK_TEST_VALUE'])\n")
    bad.write_text("# %%\nraise RuntimeError('broken cell')\n")
    runs = _bookbuild.execute_each([bad, good], jobs=2)
    assert [name for name, _, _ in runs] == ["bad", "good"]
    assert runs[0][1] is None and "broken cell" in runs[0][2]
    assert runs[1][2] is None and runs[1][1].cells[0].outputs[0]["text"].strip() == "seven"
    assert _bookbuild.cached_execution(good) is None  # never cached: runs on other data


def test_fingerprint_follows_the_committed_results(monkeypatch, tmp_path):
    """A grown or regenerated simulation artifact re-executes the page that reports it."""
    monkeypatch.setattr(_bookbuild, "PROJECT_ROOT", tmp_path)
    (tmp_path / "analysis").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "simulation_full.json").write_text("{}")
    before = _bookbuild.fingerprint()
    assert _bookbuild.fingerprint() == before
    (tmp_path / "results" / "simulation_full.json").write_text('{"rows": 1}')
    after = _bookbuild.fingerprint()
    assert after["results"] != before["results"] and after["analysis"] == before["analysis"]


# the shared products (tools.products): functions at module level, so spawned workers can import them
def _product_first() -> None:
    import os

    path = os.environ["BRAINCLOCK_TEST_PRODUCTS"]
    with open(path, "a") as handle:
        handle.write(f"first {os.environ['BRAINCLOCK_N_JOBS']}\n")


def _product_second() -> None:
    import os

    path = os.environ["BRAINCLOCK_TEST_PRODUCTS"]
    assert open(path).read().startswith("first"), "a later stage ran before an earlier one finished"
    with open(path, "a") as handle:
        handle.write(f"second {os.environ['BRAINCLOCK_N_JOBS']}\n")


class _NamedProduct:
    """A stand-in product that appends its name to the test's log (picklable for spawned workers)."""

    def __init__(self, name: str) -> None:
        self.__name__ = name

    def __call__(self) -> None:
        import os

        with open(os.environ["BRAINCLOCK_TEST_PRODUCTS"], "a") as handle:
            handle.write(f"{self.__name__}\n")


def _product_broken() -> None:
    raise RuntimeError("no reference cohort here")


def test_products_run_after_what_they_read_side_by_side_and_a_failure_is_reported_not_raised(
        monkeypatch, tmp_path, capsys):
    from tools import products

    log = tmp_path / "log.txt"
    monkeypatch.setenv("BRAINCLOCK_TEST_PRODUCTS", str(log))
    graph = {_product_first: ((), 1.0), _product_second: ((_product_first,), 1.0), _product_broken: ((), 1.0)}
    seconds = products.warm(2, products=graph)
    assert set(seconds) == {"_product_first", "_product_second", "_product_broken"}
    # the second waits for the first (it asserts so); side by side, each runs on one core
    assert log.read_text().splitlines() == ["first 1", "second 1"]
    out = capsys.readouterr().out
    assert "product _product_broken" in out and "skipped: RuntimeError: no reference cohort here" in out
    # one worker: one product at a time, in an order that respects the dependencies
    log.unlink()
    products.warm(1, products=graph, verbose=False)
    assert log.read_text().splitlines() == ["first 1", "second 1"]


def test_the_schedule_starts_the_longest_chain_first_and_waits_for_what_a_task_reads():
    from concurrent.futures import ThreadPoolExecutor

    from tools import products

    order = []
    tasks = {name: (order.append, (name,), needs, seconds) for name, needs, seconds in
             [("a", (), 1.0), ("b", ("a",), 10.0), ("c", (), 5.0), ("d", ("absent",), 0.5)]}
    with ThreadPoolExecutor(1) as pool:
        products.run_graph(pool, tasks, 1, lambda name, result: None)
    assert order == ["a", "b", "c", "d"]  # a heads the longest chain (11 s); a name not in the graph is done
    cycle = {"x": (order.append, ("x",), ("y",), 1.0), "y": (order.append, ("y",), ("x",), 1.0)}
    with ThreadPoolExecutor(1) as pool, pytest.raises(ValueError, match="x -> y -> x"):
        products.run_graph(pool, cycle, 1, lambda name, result: None)
    # the book's graph: every product a product or a notebook reads exists
    names = {p.__name__ for p in products.PRODUCTS}
    assert all(n in products.PRODUCTS for needs, _ in products.PRODUCTS.values() for n in needs)
    assert all(set(reads) <= names for reads in _bookbuild.PRODUCT_READS.values())
    # the sensitivity-clock products are 03's variants, named after what they change
    from analysis.trial_analysis import CLOCK_VARIANTS

    assert [kwargs for _, kwargs in CLOCK_VARIANTS] == [{"connectivity": "correlation"}, {"model": "svr"}]


def test_execute_all_computes_the_products_only_for_notebooks_that_read_them(monkeypatch, tmp_path):
    import json

    from tools import products

    monkeypatch.setattr(_bookbuild, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(_bookbuild, "TIMES_FILE", tmp_path / "seconds.json")
    # stand-in products: each writes its name where the notebook (cwd = its folder) reads it
    log = tmp_path / "products.txt"
    fake = {p: ((), 1.0) for p in (_NamedProduct(name) for name in sorted(
        {n for reads in _bookbuild.PRODUCT_READS.values() for n in reads}))}
    monkeypatch.setattr(products, "PRODUCTS", fake)
    monkeypatch.setenv("BRAINCLOCK_TEST_PRODUCTS", str(log))
    plain = tmp_path / "00_open_data.py"
    plain.write_text("# %%\nprint(1)\n")
    assert _bookbuild.execute_all(1, [plain], verbose=False) == {} and not log.exists()
    reader = tmp_path / "03_arm_comparisons.py"
    reader.write_text("# %%\nprint(open('products.txt').read())\n")  # runs after the products
    assert _bookbuild.execute_all(1, [plain, reader], verbose=False, product_jobs=2) == {}
    hit = _bookbuild.cached_execution(reader)
    assert set(_bookbuild.PRODUCT_READS["03_arm_comparisons"]) <= set(hit.cells[0].outputs[0]["text"].split())
    seconds = json.loads((tmp_path / "seconds.json").read_text())
    assert seconds[_bookbuild.PRODUCTS_KEY] == pytest.approx(0.0, abs=0.5) and "03_arm_comparisons" in seconds
    log.unlink()
    _bookbuild.execute_all(1, [plain, reader], verbose=False)  # all cached: no products either
    assert not log.exists()


def _jobs_setting():
    import os

    return os.environ.get("BRAINCLOCK_N_JOBS")


def test_a_product_leaves_no_setting_behind_for_the_notebook_that_runs_next_in_its_worker(monkeypatch, tmp_path):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tools import products

    monkeypatch.delenv("BRAINCLOCK_N_JOBS", raising=False)
    monkeypatch.setenv("BRAINCLOCK_TEST_PRODUCTS", str(tmp_path / "log.txt"))
    tasks = products.product_tasks(2, {_product_first: ((), 1.0)})  # as if side by side: one core
    tasks["next"] = (_jobs_setting, (), ("_product_first",), 0.0)
    seen = {}
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:  # one worker: same process
        products.run_graph(pool, tasks, 1, seen.__setitem__)
    assert (tmp_path / "log.txt").read_text() == "first 1\n" and seen["next"] is None
