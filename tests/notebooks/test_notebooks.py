"""Each notebook of the book runs on its own, top to bottom, in a fresh kernel.

The executed outputs go into the book's execution cache, so the book build that follows
(tests/book) reuses them instead of executing every notebook a second time; and a notebook whose
code and inputs did not change since the last build or test run (the cache is emptied whenever
the package, the lock or a data source changes) is not executed again.
"""

from __future__ import annotations

import pytest

from tools import bookbuild as _bookbuild

NOTEBOOKS = _bookbuild.toc_notebooks()


def test_the_book_has_notebooks():
    assert NOTEBOOKS, "no .py notebook found in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_without_error(path):
    try:
        _bookbuild.execute_notebook(path, reuse=True)
    except _bookbuild.NotebookExecutionError as err:
        pytest.fail(str(err), pytrace=False)
