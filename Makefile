# Two commands on a fresh machine: `make book` (set up + build the site) and `make test`
# (set up + every check). Everything is installed from the lock files; nothing is done by hand.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON  ?= python3
UV_VERSION := 0.13.9
VENV    := .venv
PY      := $(VENV)/bin/python
UV      := $(VENV)/bin/uv
JB      := $(VENV)/bin/jupyter-book
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BROWSER := /usr/bin/chromium-headless-shell
# unit-test processes (pytest-xdist): measured 75 s with 2 vs 123 s with 1 on a 2-core machine
TEST_JOBS ?= $(shell nproc 2>/dev/null | awk '{print ($$1 < 2) ? 1 : 2}')
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
# one BLAS thread per process: the analyses parallelise with joblib; threaded BLAS on 2 cores
# oversubscribes and was measured 10-100x slower on the small matrices used here.
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
# Machines that set PYTHONDONTWRITEBYTECODE make every kernel and test process compile every
# imported module from source again: measured 10.8 s vs 3.2 s to import the notebooks' stack
# with cached bytecode, i.e. about 7 s per notebook and per test process. Let Python cache it.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help browser setup book book-only test test-unit test-notebooks bench simulation expected notebook clean distclean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

# --- set-up ---------------------------------------------------------------------------------
$(VENV)/.installed: pyproject.toml uv.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || { $(PY) -m ensurepip -q 2>/dev/null || true; $(PY) -m pip install -q "uv==$(UV_VERSION)"; }
	$(UV) sync --frozen --all-extras --python $(PY)
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

browser:  ## Debian's headless Chromium and CJK fonts, for the site check and its screenshots
	@if [ ! -x $(BROWSER) ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium-headless-shell fonts-noto-cjk; \
	fi

setup: $(VENV)/.installed node_modules/.installed  ## create .venv and install everything from the locks

# --- the book -------------------------------------------------------------------------------
book: setup book-only  ## set up, then build the site into _build/html

book-only:
	$(PY) -m tools.bookbuild execute-all  # shared products, then every uncached notebook into the build's cache (BRAINCLOCK_BOOK_JOBS tasks at a time)
	$(JB) build . -W -n --keep-going
	@echo "Site: _build/html/index.html   Results: _build/results.json"

notebook: setup  ## execute one notebook alone: make notebook NB=notebooks/01_cohort.py
	@test -n "$(NB)" || { echo "usage: make notebook NB=notebooks/<name>.py"; exit 2; }
	@mkdir -p _build/executed
	$(PY) -m tools.bookbuild execute $(NB) --out _build/executed/$(basename $(notdir $(NB))).ipynb

# --- checks ---------------------------------------------------------------------------------
test: setup browser  ## set up, then run every check (unit, notebooks, book build, results, site)
	$(PY) -m tools.bookbuild execute-all
	$(PY) -m pytest -n $(TEST_JOBS) tests/unit  # independent tests: one process per core
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile tests/notebooks  # the two runs on other data side by side
	$(PY) -m pytest tests/book  # the book build and the site: one process

test-unit: setup  ## unit tests of the package only
	$(PY) -m pytest -n $(TEST_JOBS) tests/unit

simulation: setup  ## full-pipeline simulation study into results/ (resumable; WORKERS=N, default 1)
	OPENBLAS_NUM_THREADS=1 $(PY) -m analysis.simstudy full run --workers $(or $(WORKERS),1)

bench: setup  ## benchmarks (speed and memory goals)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

expected: _build/results.json  ## accept the results of the last build as the expected values
	$(PY) -c "import json,pathlib; r=json.load(open('_build/results.json')); pathlib.Path('tests/expected/results.json').write_text(json.dumps(r, indent=2, sort_keys=True)+'\n'); print(len(r), 'results accepted')"

_build/results.json:
	@echo "no _build/results.json: run 'make book' first"; exit 1

clean:  ## remove the built site and caches (keeps .venv)
	rm -rf _build data/cache

distclean: clean  ## also remove .venv and node_modules
	rm -rf $(VENV) node_modules
