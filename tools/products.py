"""The build's shared products, computed before the notebooks that read them, side by side where independent.

Several notebooks need the same expensive intermediate results: the reference cohort's
covariances, the held-out validation of the clock, the fitted clock and the trial's brain ages,
the two alternative clocks of the sensitivity analysis, and the clock page's comparison of
connectivity kinds and models. The package keeps each on disk,
content-addressed (keyed by the data's identity, the parameters and the code that computes it),
so whichever notebook asks first computes it and every later one reads it. Computed inside the
notebooks, they run one after the other, and the parts that use one core (the ridge fits, run
with single-threaded BLAS so their bits do not depend on the core count) leave the other idle.

:func:`warm` computes them in parallel processes, each as soon as the products it reads are done
(each with one core: BLAS and the package's own workers limited to one); ``make book`` runs them
in one schedule with the notebooks (:func:`tools.bookbuild.execute_all`). Every product is the
very call a notebook makes (same function, same arguments, same environment), so the notebook
then finds it in the cache: results cannot differ from a build without this step, which is only
a schedule (the package's results do not depend on the number of workers; its tests check that).
A product that fails is reported and skipped: the notebook that needs it computes it again and
reports the error where the reader sees it.

Command line: ``python -m tools.products [--jobs N]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

SEED = 0  # the seed every notebook uses


def reference_covariances() -> None:
    """The validation reference's covariances (02's holdout study, the clock of 02/03/04/05/07)."""
    from analysis.clock.validation import validation_reference
    from analysis.connectome import shrunk_covariances

    shrunk_covariances(validation_reference(seed=SEED).iter_timeseries())


def holdout() -> None:
    """02: the clock trained on 80 % of the reference cohort, the rest held out."""
    from analysis.clock import clock_from_env
    from analysis.clock.validation import holdout_study, validation_reference

    holdout_study(validation_reference(seed=SEED), saved=clock_from_env(), seed=SEED, cache=True)


def clock_comparison() -> None:
    """02: four connectivity kinds and models compared on a reference subset."""
    from analysis.clock import clock_comparison, clock_from_env
    from analysis.clock.validation import holdout_study, validation_reference

    reference = validation_reference(seed=SEED)
    study = holdout_study(reference, saved=clock_from_env(), seed=SEED, cache=True)  # on disk by now
    clock_comparison(study, reference, seed=SEED, cache=True)


def trial_clock() -> None:
    """02-07: the clock applied to the trial (the primary brain ages)."""
    from analysis.clock import trial_brain_age
    from analysis.trial import load_default_trial

    trial_brain_age(load_default_trial(SEED), seed=SEED)


def _variant(index: int) -> None:
    """03's sensitivity clock ``CLOCK_VARIANTS[index]`` (its arguments come from there)."""
    from analysis._paths import CLOCK_ENV, env_path
    from analysis.clock import apply_clock
    from analysis.trial import load_default_trial
    from analysis.trial_analysis import CLOCK_VARIANTS

    if env_path(CLOCK_ENV) is None:  # a saved clock has no training data to retrain (03 says so)
        apply_clock(load_default_trial(SEED), seed=SEED, **CLOCK_VARIANTS[index][1])


def correlation_clock() -> None:
    """03: the sensitivity clock on correlation connectivity."""
    _variant(0)


def svr_clock() -> None:
    """03: the sensitivity clock with an RBF SVR."""
    _variant(1)


def artifact_audit() -> None:
    """07: the audit of the committed full-pipeline artifact (stored replicates re-run and compared)."""
    from analysis.simstudy import full

    full.audit(full.DEFAULT_ARTIFACT, cache=True)


def artifact_clock_reading() -> None:
    """07: what the artifact's clock reads of each simulated change (paired counterfactual scans)."""
    from analysis.simstudy import full

    full.clock_reading(full.artifact_study(full.DEFAULT_ARTIFACT))


def artifact_fast_path() -> None:
    """07: the fast path beside the artifact's full-pipeline replicates (``FAST_PATH_N`` fast trials per hypothesis)."""
    from analysis.simstudy import full

    full.compare_fast_path(full.load_table(full.DEFAULT_ARTIFACT), full.provenance(full.DEFAULT_ARTIFACT)["measurement"],
                           n_fast=full.FAST_PATH_N, seed=SEED, cache=True)


#: Product -> (the products it reads, typical seconds on one core of a 2-core machine: only to
#: start the longest chain first). A named cohort's raw and standardised covariances are
#: computed together (:func:`analysis.connectome.shrunk_covariances`): the reference's by
#: ``reference_covariances``, the trial's by the trial clock, so the correlation clock (standardised
#: covariances) follows both; the SVR clock reuses the trial clock's tangent features, the
#: comparison the holdout study's covariances.
PRODUCTS: dict[Callable[[], None], tuple[tuple[Callable[[], None], ...], float]] = {
    reference_covariances: ((), 15),
    correlation_clock: ((trial_clock,), 18),
    holdout: ((reference_covariances,), 24),
    trial_clock: ((reference_covariances,), 38),
    svr_clock: ((trial_clock,), 21),
    clock_comparison: ((holdout,), 31),
    artifact_audit: ((), 8),
    artifact_clock_reading: ((), 8),
    artifact_fast_path: ((), 5),
}


#: Environment variable naming the build task a process works for (seen by ``make bench``).
TASK_ENV = "BRAINCLOCK_TASK"


def name_process(task: str) -> None:
    """Name this process after its build task, for the build benchmark's memory report.

    Linux shows the first 15 characters of ``/proc/self/comm``; kernels started from here inherit
    :data:`TASK_ENV`. Nothing else reads either; elsewhere this does nothing.
    """
    import os

    from tools.kernelserver import name_process as show_name

    os.environ[TASK_ENV] = task
    show_name(task)


def _run(function: Callable[[], None], workers: int) -> tuple[str, float, str | None]:
    import os

    from analysis._threads import N_JOBS_ENV, single_threaded_blas

    name_process(function.__name__)
    before = os.environ.get(N_JOBS_ENV)
    os.environ[N_JOBS_ENV] = str(workers)  # products running side by side: one core each
    start = time.perf_counter()
    try:
        with single_threaded_blas():
            function()
    except Exception as err:  # reported; the notebook that needs the product computes it again
        return function.__name__, time.perf_counter() - start, f"{type(err).__name__}: {err}"
    finally:  # the worker may run a notebook next: its kernel must not inherit this setting
        if before is None:
            os.environ.pop(N_JOBS_ENV, None)
        else:
            os.environ[N_JOBS_ENV] = before
    return function.__name__, time.perf_counter() - start, None


def run_graph(pool, tasks: dict, jobs: int, on_done: Callable[[str, object], None]) -> None:
    """Run ``tasks`` on ``pool``, ``jobs`` at a time, each once the tasks it needs are done.

    ``tasks`` maps a name to ``(function, args, needs, seconds)``: ``needs`` names other tasks
    (names not in ``tasks`` count as done), ``seconds`` is a typical duration used only to order
    the start: of the tasks ready to run, the one heading the longest remaining chain goes first.
    ``on_done(name, result)`` is called in this process as each task finishes.
    """
    from concurrent.futures import FIRST_COMPLETED, wait

    def chain(name: str, path: tuple[str, ...] = ()) -> float:
        if name in path:
            raise ValueError(f"tasks waiting on each other: {' -> '.join((*path, name))}")
        after = [chain(other, (*path, name)) for other, task in tasks.items() if name in task[2]]
        return tasks[name][3] + max(after, default=0.0)

    length = {name: chain(name) for name in tasks}
    waiting, running, done = dict(tasks), {}, set()
    while waiting or running:
        ready = sorted((name for name, task in waiting.items() if all(n in done or n not in tasks for n in task[2])),
                       key=lambda name: -length[name])
        for name in ready[:max(0, max(1, jobs) - len(running))]:
            function, args, _, _ = waiting.pop(name)
            running[pool.submit(function, *args)] = name
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            name = running.pop(future)
            done.add(name)
            on_done(name, future.result())


def product_tasks(jobs: int, products=None) -> dict:
    """The products as :func:`run_graph` tasks (each on one core when several run side by side)."""
    products = PRODUCTS if products is None else products
    workers = 1 if jobs > 1 else max(1, jobs)
    return {p.__name__: (_run, (p, workers), tuple(n.__name__ for n in needs), seconds)
            for p, (needs, seconds) in products.items()}


def report(result, verbose: bool = True) -> tuple[str, float]:
    """Print one finished product's line; returns (name, seconds)."""
    name, took, error = result
    if verbose:
        note = f" (skipped: {error}; the notebook computes it)" if error else ""
        print(f"product {name}: {took:.0f} s{note}", flush=True)
    return name, round(took, 1)


def warm(jobs: int = 2, *, verbose: bool = True, products=None) -> dict[str, float]:
    """Compute every product not yet on disk, ``jobs`` at a time, each as soon as what it reads is done.

    A product that fails is reported; the products that read it still run (and compute what
    they need).

    Returns
    -------
    dict
        Product name -> seconds (a product found on disk takes milliseconds).
    """
    seconds: dict[str, float] = {}

    def done(_, result) -> None:
        name, took = report(result, verbose)
        seconds[name] = took

    context = multiprocessing.get_context("spawn")  # a fresh interpreter per worker
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=context) as pool:
        run_graph(pool, product_tasks(jobs, products), jobs, done)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.products", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="products at a time (default 2)")
    args = parser.parse_args(argv)
    warm(args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
