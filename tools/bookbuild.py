"""Build plumbing: fresh execution cache, executing one notebook, the notebook list.

The book is built with ``execute_notebooks: cache``: myst-nb reuses a notebook's outputs when
the notebook's code is unchanged. That cache cannot see changes in the ``analysis`` package, the
lock file or the data, so :func:`prepare` fingerprints those and empties the cache when the
fingerprint moves. :func:`execute_notebook` runs one notebook in a fresh kernel exactly as
myst-nb would and stores the result in the same cache, so the per-notebook check and the book
build share one execution per notebook.

Command line::

    python -m tools.bookbuild prepare
    python -m tools.bookbuild execute notebooks/01_cohort.py [--out FILE.ipynb]
    python -m tools.bookbuild list
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import yaml

from analysis._paths import CLOCK_ENV, OPEN_DATA_ENV, PROJECT_ROOT, REFERENCE_DIR_ENV, TRIAL_DIR_ENV

CACHE_DIR = PROJECT_ROOT / "_build" / ".jupyter_cache"
FINGERPRINT_FILE = PROJECT_ROOT / "_build" / ".execution-fingerprint.json"
#: Environment variables naming data directories that change what notebooks compute.
DATA_ENV_VARS = (TRIAL_DIR_ENV, REFERENCE_DIR_ENV, OPEN_DATA_ENV)
#: Environment variables naming files that change what notebooks compute (hashed in full).
FILE_ENV_VARS = (CLOCK_ENV,)
EXECUTION_TIMEOUT = 1200
#: Folder of committed artifacts read by notebooks (relative to the project root).
RESULTS_DIR = "results"
#: Package files whose change invalidates executed notebooks (code and data shipped with it).
CODE_SUFFIXES = (".py", ".json", ".tsv")


def _hash_files(paths: list[Path], digest: "hashlib._Hash") -> None:
    for path in sorted(paths):
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
        digest.update(path.read_bytes())


def _dir_listing_digest(path: Path) -> str:
    """Cheap digest of a data directory: names, sizes and modification times of its files."""
    digest = hashlib.sha256()
    if not path.is_dir():
        return "missing"
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(path)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _file_digest(path: Path) -> str:
    """sha256 of a file's bytes (a saved clock is small), or ``missing``."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def fingerprint() -> dict[str, str]:
    """What the notebooks' outputs depend on beyond their own code."""
    code = hashlib.sha256()
    _hash_files([p for p in (PROJECT_ROOT / "analysis").rglob("*")
                 if p.suffix in CODE_SUFFIXES and "__pycache__" not in p.parts], code)
    lock = PROJECT_ROOT / "uv.lock"
    # committed artifacts the notebooks read (the full-pipeline simulation study): a regenerated
    # or grown artifact must re-execute the page that reports it
    results = hashlib.sha256()
    _hash_files([p for p in (PROJECT_ROOT / RESULTS_DIR).rglob("*") if p.is_file()], results)
    out = {
        "analysis": code.hexdigest(),
        "results": results.hexdigest(),
        "lock": hashlib.sha256(lock.read_bytes()).hexdigest() if lock.exists() else "missing",
    }
    for var in DATA_ENV_VARS:
        value = os.environ.get(var, "")
        out[var] = f"{value}|{_dir_listing_digest(Path(value))}" if value else ""
    for var in FILE_ENV_VARS:
        value = os.environ.get(var, "")
        out[var] = f"{value}|{_file_digest(Path(value))}" if value else ""
    return out


def prepare(verbose: bool = True) -> bool:
    """Empty the execution cache if code, lock or data changed. Returns True if it was emptied.

    With it go myst-nb's executed notebooks and glue data and Sphinx's parsed pages, so the next
    build re-reads every page: a notebook whose own text did not change still shows new outputs.
    """
    current = fingerprint()
    previous = None
    if FINGERPRINT_FILE.exists():
        try:
            previous = json.loads(FINGERPRINT_FILE.read_text())
        except json.JSONDecodeError:
            previous = None
    stale = previous != current
    if stale:
        changed = sorted(k for k in current if not previous or previous.get(k) != current[k])
        if CACHE_DIR.exists():
            shutil.rmtree(CACHE_DIR)
        # Sphinx keeps the parsed pages (doctrees) of unchanged sources and would render old
        # outputs and old cross-page glue from them; myst-nb keeps executed copies and glue data.
        for derived in (PROJECT_ROOT / "_build" / "jupyter_execute", PROJECT_ROOT / "_build" / ".doctrees"):
            if derived.exists():
                shutil.rmtree(derived)
        if verbose:
            print(f"execution cache emptied (changed: {', '.join(changed)})")
    FINGERPRINT_FILE.parent.mkdir(parents=True, exist_ok=True)
    FINGERPRINT_FILE.write_text(json.dumps(current, indent=2))
    return stale


def toc_notebooks() -> list[Path]:
    """Every executable page of the table of contents (``.py`` files), in reading order."""
    toc = yaml.safe_load((PROJECT_ROOT / "_toc.yml").read_text())
    files: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return [PROJECT_ROOT / f"{f}.py" for f in files if (PROJECT_ROOT / f"{f}.py").exists()]


def read_notebook(path: Path):
    """Read a py:percent notebook exactly as the book build does."""
    import jupytext

    return jupytext.reads(Path(path).read_text(encoding="utf-8"), fmt="py:percent")


class NotebookExecutionError(RuntimeError):
    """A notebook cell raised; the message names the notebook, the cell and the traceback."""


def cached_execution(path: Path):
    """The cached executed notebook of ``path`` if its code and every input are unchanged, else None.

    :func:`prepare` empties the cache whenever the package, the lock file or a data source
    changed, and a record matches only the notebook's exact code, so a hit is an execution of
    exactly these inputs, top to bottom without error, in a fresh kernel (myst-nb and
    :func:`execute_notebook` cache only successful runs).
    """
    from jupyter_cache import get_cache

    if not CACHE_DIR.exists():
        return None
    store = get_cache(str(CACHE_DIR))
    try:
        record = store.match_cache_notebook(read_notebook(Path(path).resolve()))
    except KeyError:
        return None
    return store.get_cache_bundle(record.pk).nb


def execute_notebook(path: Path, *, cache: bool = True, reuse: bool = False,
                     timeout: int = EXECUTION_TIMEOUT):
    """Execute one notebook in a fresh kernel (cwd = its folder) and cache the outputs.

    With ``reuse=True`` a cached execution of the same code and inputs
    (:func:`cached_execution`) is returned instead of executing again.

    Returns
    -------
    nbformat.NotebookNode
        The executed notebook.

    Raises
    ------
    NotebookExecutionError
        If a cell fails; the message holds the notebook path, the failing cell's source and the
        traceback.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    path = Path(path).resolve()
    if reuse and (cached := cached_execution(path)) is not None:
        return cached
    nb = read_notebook(path)
    from tools.kernelserver import kernel_manager_class

    result = single_nb_execution(  # a kernel forked from the build's kernel server if one runs
        nb, cwd=str(path.parent), allow_errors=False, timeout=timeout, meta_override=True,
        kernel_manager_class=kernel_manager_class(),
    )
    if result.err is not None:
        raise NotebookExecutionError(
            f"{path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path} failed: "
            f"{type(result.err).__name__}\n"
            f"{result.exc_string}"
        )
    if cache:
        store = get_cache(str(CACHE_DIR))
        store.cache_notebook_bundle(
            CacheBundleIn(nb, str(path), data={"execution_seconds": result.time}),
            check_validity=False,
            overwrite=True,
        )
    return nb


#: Environment variable: tasks (notebooks and shared products) run at a time by ``execute-all``
#: (``make book``); default: the usable cores, at most 2. One notebook at a time with the products
#: inside the notebooks took 330-350 s for a cold build on a 2-core machine, the same work as one
#: schedule of products and notebooks two at a time ~230 s (benchmarks/bench_build.py).
BOOK_JOBS_ENV = "BRAINCLOCK_BOOK_JOBS"
#: Where the execution seconds of the last runs are kept (survives :func:`prepare`): the
#: schedule of :func:`execute_all` starts the longest chains first.
TIMES_FILE = PROJECT_ROOT / "_build" / ".notebook-seconds.json"
#: Seconds per notebook when no run was recorded here yet (a cold build on a 2-core machine):
#: only an ordering hint, never a result.
TYPICAL_SECONDS = {"07_simulation_validation": 75, "02_clock_validation": 45, "06_connectivity": 36,
                   "03_arm_comparisons": 20, "00_open_data": 11, "01_cohort": 10, "04_follow_up": 9,
                   "05_strength": 9}


#: Notebook -> the shared products of :mod:`tools.products` it reads (it starts once they are done).
PRODUCT_READS = {
    "02_clock_validation": ("holdout", "trial_clock", "clock_comparison"),
    "03_arm_comparisons": ("trial_clock", "correlation_clock", "svr_clock"),
    "04_follow_up": ("trial_clock",),
    "05_strength": ("trial_clock",),
    "07_simulation_validation": ("trial_clock", "artifact_audit", "artifact_clock_reading", "artifact_fast_path"),
}
#: Key of the products' seconds (their sum) in :data:`TIMES_FILE` (not a notebook).
PRODUCTS_KEY = "shared products"


def _execute_in_child(path: str, timeout: int):
    """Worker process of :func:`execute_all`: execute, do not touch the cache (the parent does)."""
    import time

    from tools.products import name_process

    name_process(Path(path).stem)  # its kernel inherits the name (make bench's memory report)
    start = time.perf_counter()
    try:
        nb = execute_notebook(Path(path), cache=False, timeout=timeout)
    except NotebookExecutionError as err:
        return path, None, str(err), time.perf_counter() - start
    return path, nb, None, time.perf_counter() - start


def execute_each(paths: list[Path], *, jobs: int | None = None, timeout: int = EXECUTION_TIMEOUT
                 ) -> list[tuple[str, object, str | None]]:
    """Execute notebooks in fresh kernels, ``jobs`` at a time, without the execution cache.

    For runs on other data (the tests' two-arm trial, the real-data layout): the environment
    (``BRAINCLOCK_TRIAL_DIR`` ...) is read when the workers start. On small fixtures a notebook is
    mostly single-threaded (imports, model fits, figures), so two at a time use both cores
    (default ``jobs``: the usable cores, at most 2). Returns ``(name, notebook or None, error or
    None)`` per path, in the order given; a failure is returned, not raised.
    """
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    from analysis._threads import n_jobs

    paths = [Path(p).resolve() for p in paths]
    jobs = max(1, min(jobs or n_jobs(), len(paths)))
    from tools.kernelserver import running

    context = multiprocessing.get_context("spawn")
    with running(), ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        done = list(pool.map(_execute_in_child, [str(p) for p in paths], [timeout] * len(paths)))
    return [(Path(path).stem, nb, error) for path, nb, error, _ in done]


def execute_all(jobs: int = 2, paths: list[Path] | None = None, *, timeout: int = EXECUTION_TIMEOUT,
                verbose: bool = True, products: bool = True, product_jobs: int | None = None) -> dict[str, str]:
    """Execute every notebook without a cached execution, ``jobs`` at a time; cache the results.

    The book build (myst-nb) executes notebooks one after the other; running them beforehand
    in ``jobs`` processes (each notebook in its own kernel, as myst-nb would) uses every core,
    and the build then finds all of them in the cache. Notebooks needing the same expensive
    product (the reference covariances, the fitted clock) do not compute it twice: the package's
    disk caches are locked per entry (:func:`analysis._paths.cache_lock`). Each kernel runs BLAS
    with one thread and at most ``BRAINCLOCK_N_JOBS`` workers of its own.

    With ``products=True`` (when a notebook that reads them is to run) the shared products of
    :mod:`tools.products` join the schedule: every notebook starts once the products it reads
    (:data:`PRODUCT_READS`) are on disk, the others at once, ``max(jobs, product_jobs)`` tasks at
    a time, the longest remaining chain first. The products' seconds (their sum) are kept under
    :data:`PRODUCTS_KEY`.

    Returns
    -------
    dict
        Failed notebook -> error message. A failure is reported, not raised: the book build that
        follows executes the notebook again and fails with myst-nb's report, and
        ``tests/notebooks`` names the failing cell.
    """
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing
    import time

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    todo = [p.resolve() for p in (paths if paths is not None else toc_notebooks()) if cached_execution(p) is None]
    failures: dict[str, str] = {}
    if not todo:
        return failures
    try:
        times = json.loads(TIMES_FILE.read_text())
    except (OSError, json.JSONDecodeError):
        times = {}
    from tools import products as _products

    # one graph: the shared products, then each notebook once the products it reads are done;
    # notebooks reading none start at once, beside the products
    use_products = products and any(p.stem in PRODUCT_READS for p in todo)
    workers = max(1, jobs, product_jobs or 0) if use_products else max(1, min(jobs, len(todo)))
    tasks = _products.product_tasks(workers) if use_products else {}
    recorded = {**TYPICAL_SECONDS, **times}
    for path in todo:
        needs = PRODUCT_READS.get(path.stem, ()) if use_products else ()
        tasks[path.stem] = (_execute_in_child, (str(path), timeout), needs, float(recorded.get(path.stem, 0.0)))
    product_seconds = 0.0
    store = get_cache(str(CACHE_DIR))
    notebooks = {p.stem for p in todo}

    def done(name: str, result) -> None:
        nonlocal product_seconds
        if name not in notebooks:
            product_seconds += _products.report(result, verbose)[1]
            return
        path, nb, error, seconds = result
        times[name] = round(seconds, 1)
        if error is not None:
            failures[name] = error
            if verbose:
                print(f"FAILED {name} after {seconds:.0f} s (the book build will report it)", flush=True)
            return
        store.cache_notebook_bundle(CacheBundleIn(nb, path, data={"execution_seconds": seconds}),
                                    check_validity=False, overwrite=True)
        if verbose:
            print(f"executed {name} in {seconds:.0f} s", flush=True)

    from tools.kernelserver import running

    context = multiprocessing.get_context("spawn")  # a fresh interpreter per worker: no inherited state
    with running(), ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        _products.run_graph(pool, tasks, workers, done)
    if use_products:
        times[PRODUCTS_KEY] = round(product_seconds, 1)
    TIMES_FILE.parent.mkdir(parents=True, exist_ok=True)
    TIMES_FILE.write_text(json.dumps(times, indent=2, sort_keys=True))
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bookbuild", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="empty the execution cache if code, lock or data changed")
    run = sub.add_parser("execute", help="execute one notebook in a fresh kernel")
    run.add_argument("notebook", type=Path)
    run.add_argument("--out", type=Path, help="also write the executed notebook here (.ipynb)")
    sub.add_parser("list", help="list the notebooks of the table of contents")
    every = sub.add_parser("execute-all", help="execute every notebook not in the cache, in parallel")
    every.add_argument("--jobs", type=int, default=None,
                       help=f"tasks at a time (default: {BOOK_JOBS_ENV}, else the usable cores, at most 2)")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare()
    elif args.command == "execute-all":
        from analysis._threads import n_jobs

        prepare()
        jobs = args.jobs or int(os.environ.get(BOOK_JOBS_ENV, "0") or 0) or n_jobs()
        execute_all(jobs)
    elif args.command == "list":
        for nb in toc_notebooks():
            print(nb.relative_to(PROJECT_ROOT))
    else:
        prepare()
        try:
            nb = execute_notebook(args.notebook)
        except NotebookExecutionError as err:
            print(err, file=sys.stderr)
            return 1
        if args.out:
            import nbformat

            nbformat.write(nb, str(args.out))
        print(f"executed {args.notebook} without error")
    return 0


if __name__ == "__main__":
    sys.exit(main())
