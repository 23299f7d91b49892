"""Sphinx extension of the book: build-time pages, vendored MathJax, the results registry.

* ``{software-environment}`` renders the Python version, key package versions, the git commit
  and the build date, read at build time (the page is re-read on every build).
* ``{data-provenance}`` renders the open-data registry of :mod:`analysis.open_data` and the data
  source of the trial pages.
* After the build, MathJax is copied from ``node_modules`` into ``_build/html/vendor/mathjax`` (no
  CDN), and every result recorded by an executed notebook is written to ``_build/results.json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KEY_PACKAGES = [
    "numpy", "scipy", "pandas", "scikit-learn", "nilearn", "statsmodels", "matplotlib", "seaborn",
    "joblib", "pooch", "tableone", "jupyter-book", "sphinx", "myst-nb", "sphinx-book-theme",
    "jupytext", "jupyter-cache", "sphinxcontrib-bibtex",
]
MATHJAX_PARTS = [
    "tex-chtml.js", "core.js", "startup.js", "loader.js",
    "output", "ui", "a11y", "input", "adaptors", "sre",
]
ALWAYS_REREAD = {"book/software", "book/data"}


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _rst_table(header: list[str], rows: list[list[str]], widths: str = "auto") -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in [header, *rows]:
        cells = [str(c).replace("\n", " ").strip() or "\u2014" for c in row]
        lines.append(f"   * - {cells[0]}")
        lines.extend(f"     - {c}" for c in cells[1:])
    lines.append("")
    return lines


class _TableDirective(SphinxDirective):
    has_content = False

    def lines(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(self.lines(), source="brainclock"), 0, container)
        return container.children


class SoftwareEnvironment(_TableDirective):
    """Versions and provenance of the build, read when the page is built."""

    def lines(self) -> list[str]:
        commit = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        if commit != "unknown" and dirty not in ("", "unknown"):
            commit += " (with uncommitted changes)"
        now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        rows = [
            ["Build date", now],
            ["Git commit", f"``{commit}``"],
            ["Python", f"{platform.python_version()} ({platform.python_implementation()})"],
            ["Platform", f"{platform.system()} {platform.machine()}"],
        ]
        out = _rst_table(["What", "Value"], rows, "30 70")
        pkgs = []
        for name in KEY_PACKAGES:
            try:
                pkgs.append([name, metadata.version(name)])
            except metadata.PackageNotFoundError:
                pkgs.append([name, "not installed"])
        return out + _rst_table(["Package", "Version"], pkgs, "50 50")


class DataProvenance(_TableDirective):
    """The open-data registry as a table."""

    def lines(self) -> list[str]:
        from analysis import open_data

        table = open_data.provenance_table()
        header = [str(c) for c in table.columns]
        rows = [[str(v) for v in row] for row in table.itertuples(index=False)]
        return _rst_table(header, rows)


def _alt_from_png(app, doctree) -> None:
    """Give each image the alt text stored in its PNG (see ``analysis.report.figure``)."""
    from PIL import Image

    for node in doctree.findall(nodes.image):
        uri = node.get("uri", "")
        if node.get("alt") and node["alt"] != uri:
            continue
        path = Path(app.srcdir) / uri.lstrip("/")
        if not path.exists():
            path = Path(uri)
        if path.suffix.lower() != ".png" or not path.exists():
            continue
        with Image.open(path) as img:
            alt = img.info.get("Description")
        if alt:
            node["alt"] = alt


def _always_reread(app, env, added, changed, removed):
    return sorted(d for d in ALWAYS_REREAD if d in env.found_docs)


def _copy_mathjax(outdir: Path) -> None:
    src = ROOT / "node_modules" / "mathjax" / "es5"
    if not (src / "tex-chtml.js").exists():
        raise RuntimeError(
            f"MathJax not found at {src}: run `make node_modules` (npm ci) so the site can typeset "
            "math without a CDN"
        )
    dest = outdir / "vendor" / "mathjax"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for part in MATHJAX_PARTS:
        p = src / part
        if p.is_dir():
            shutil.copytree(p, dest / part)
        else:
            shutil.copy2(p, dest / part)


def _write_results(app) -> None:
    """Collect the result records of every executed notebook page into ``_build/results.json``.

    The outputs are read from the execution cache (``execute_notebooks: cache``), matched by the
    notebook's code exactly as myst-nb matched them for the pages.
    """
    from jupyter_cache import get_cache

    from analysis import _bookbuild, report

    cache = get_cache(str(Path(app.srcdir) / app.config.nb_execution_cache_path))
    executed = []
    for docname in sorted(app.env.found_docs):
        source = Path(app.env.doc2path(docname))
        if source.suffix != ".py":
            continue
        record = cache.match_cache_notebook(_bookbuild.read_notebook(source))
        executed.append((docname, cache.get_cache_bundle(record.pk).nb))
    registry = report.collect_notebooks(executed)
    target = Path(app.outdir).parent / "results.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(target)


def _build_finished(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    _copy_mathjax(Path(app.outdir))
    _write_results(app)


def setup(app):
    app.add_directive("software-environment", SoftwareEnvironment)
    app.add_directive("data-provenance", DataProvenance)
    app.connect("env-get-outdated", _always_reread)
    app.connect("doctree-read", _alt_from_png)
    app.connect("build-finished", _build_finished)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
