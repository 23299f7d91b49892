"""Kernels forked from the build's kernel server: the caller's settings, fresh-kernel results, never orphaned."""

from __future__ import annotations

import os
import time

import pytest

from tools import bookbuild as _bookbuild
from tools import kernelserver

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="forked kernels need Linux pidfds")

NOTEBOOK = """# %%
import os, sys
print("seaborn" in sys.modules, os.getcwd(), os.environ.get("BRAINCLOCK_TEST_VALUE"), os.getppid())
# %%
import numpy as np
import pandas as pd
print(pd.Series(np.arange(10) ** 2).describe().to_string())
"""


def _texts(path):
    nb = _bookbuild.execute_notebook(path, cache=False)
    return ["".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells]


@pytest.fixture(scope="module")
def server():
    """One server for the module (its imports take seconds); the tests point the environment at it."""
    with kernelserver.running(enabled=True) as running:
        yield running
    assert running.process.poll() is not None  # stopped with the context


@pytest.fixture
def notebook(tmp_path, monkeypatch):
    monkeypatch.setattr(_bookbuild, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setenv("BRAINCLOCK_TEST_VALUE", "seven")
    (tmp_path / "work").mkdir()
    path = tmp_path / "work" / "check.py"
    path.write_text(NOTEBOOK)
    return path


def test_forked_kernel_runs_with_the_callers_directory_and_environment_and_gives_fresh_results(
        notebook, server, monkeypatch):
    monkeypatch.delenv(kernelserver.SERVER_ENV)
    fresh = _texts(notebook)
    monkeypatch.setenv(kernelserver.SERVER_ENV, server.path)
    forked = _texts(notebook)
    again = _texts(notebook)
    preloaded, cwd, value, parent = fresh[0].split()
    assert (preloaded, cwd, value) == ("False", str(notebook.parent), "seven") and int(parent) != server.process.pid
    for run in (forked, again):  # the stack is already imported: a fork of the server
        assert run[0].split() == ["True", str(notebook.parent), "seven", str(server.process.pid)]
        assert run[1:] == fresh[1:]


def test_a_different_import_time_setting_gets_a_fresh_kernel(notebook, server, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", str(int(os.environ.get("OMP_NUM_THREADS", "1")) + 1))
    assert _texts(notebook)[0].split()[0] == "False"


def test_no_server_at_the_address_means_fresh_kernels(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv(kernelserver.SERVER_ENV, str(tmp_path / "gone.sock"))  # a server that died
    assert _texts(notebook)[0].split()[:3] == ["False", str(notebook.parent), "seven"]


def test_a_kernel_does_not_outlive_its_client(tmp_path, server, monkeypatch):
    """A cell that overruns its timeout: jupyter_client stops the kernel it started (the client)."""
    monkeypatch.setattr(_bookbuild, "CACHE_DIR", tmp_path / "cache")
    pid_file = tmp_path / "pid"
    path = tmp_path / "hang.py"
    path.write_text(f"# %%\nimport os, time\nopen({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{os.getppid()}}')\n"
                    "# %%\ntime.sleep(600)\n")
    with pytest.raises(_bookbuild.NotebookExecutionError, match="Timeout|timed out"):
        _bookbuild.execute_notebook(path, cache=False, timeout=2)
    kernel, parent = map(int, pid_file.read_text().split())
    assert parent == server.process.pid  # a forked kernel
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(kernel, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"kernel {kernel} still runs after its client was stopped")


def test_the_build_runs_its_notebooks_in_forked_kernels(notebook, server):
    """execute_each (and execute_all) start kernels through the server (here: the one running)."""
    (name, nb, error), = _bookbuild.execute_each([notebook], jobs=1)
    assert error is None, error
    assert "".join(o["text"] for o in nb.cells[0].outputs).split() == [
        "True", str(notebook.parent), "seven", str(server.process.pid)]
