"""Build the book once per test session (reusing the notebook executions cached by tests/notebooks)."""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from analysis._paths import PROJECT_ROOT

BUILD = PROJECT_ROOT / "_build"
HTML = BUILD / "html"


@pytest.fixture(scope="session")
def book_build():
    """Run ``jupyter-book build . -W -n --keep-going``; returns (exit code, log text)."""
    jb = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([sys.executable, "-m", "tools.bookbuild", "prepare"], cwd=PROJECT_ROOT, check=True)
    proc = subprocess.run(
        [str(jb), "build", ".", "-W", "-n", "--keep-going"],
        cwd=PROJECT_ROOT, capture_output=True, text=True,
    )
    log = proc.stdout + proc.stderr
    BUILD.mkdir(exist_ok=True)
    (BUILD / "book-build.log").write_text(log)
    return proc.returncode, log


@pytest.fixture(scope="session")
def site(book_build):
    """The built site served on a loopback port: yields its base URL."""
    code, _ = book_build
    if not (HTML / "index.html").exists():
        pytest.fail("the book build produced no _build/html/index.html", pytrace=False)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def html_pages() -> list[Path]:
    """Every content page of the site (not search, index redirects or generated indices)."""
    skip = {"search.html", "genindex.html", "index.html", "py-modindex.html"}
    return sorted(p for p in HTML.rglob("*.html") if p.name not in skip and "_static" not in p.parts
                  and "vendor" not in p.parts and "_sources" not in p.parts)
