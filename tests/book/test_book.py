"""The book builds with -W, its results match the committed values, and it is self-contained."""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import pytest

from analysis import report
from analysis._paths import PROJECT_ROOT

from .conftest import BUILD, html_pages

EXPECTED = PROJECT_ROOT / "tests" / "expected" / "results.json"


#: ipykernel's notice when a kernel starts on a TCP port (every executed notebook prints it once);
#: a remark about the local kernel transport, not a problem of the book.
KERNEL_TRANSPORT_NOTICE = re.compile(r"^\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption")


def _problems(log: str) -> list[str]:
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in log.splitlines()]
    return [line for line in lines
            if re.search(r"WARNING|ERROR|Traceback|Exception", line) and not KERNEL_TRANSPORT_NOTICE.match(line)]


def test_book_builds_without_warnings(book_build):
    code, log = book_build
    problems = _problems(log)
    assert code == 0 and not problems, (
        f"jupyter-book build -W -n exited {code}; warnings and errors (full log in "
        "_build/book-build.log):\n" + "\n".join(problems[:40])
    )


def test_results_match_expected_values(book_build):
    results_file = BUILD / "results.json"
    assert results_file.exists(), "the build wrote no _build/results.json"
    actual = json.loads(results_file.read_text())
    expected = json.loads(EXPECTED.read_text())
    problems = report.compare_results(actual, expected)
    assert not problems, (
        "results moved (if the change is deliberate, run `make expected` and commit "
        "tests/expected/results.json):\n  " + "\n  ".join(problems)
    )


TAG_ATTR = re.compile(r"<(script|link|img|iframe|source|video|audio|embed)\b[^>]*?\b(src|href)=\"([^\"]+)\"", re.I)
CSS_URL = re.compile(r"url\(['\"]?(https?:)?//", re.I)


def test_site_loads_nothing_from_other_hosts(book_build):
    offenders = []
    for page in BUILD.joinpath("html").rglob("*.html"):
        for tag, attr, url in TAG_ATTR.findall(page.read_text(encoding="utf-8", errors="replace")):
            if tag.lower() == "link" and "stylesheet" not in url and not url.endswith((".css", ".js", ".woff", ".woff2")):
                # <link rel="canonical"/"next"> are navigation, not loaded resources
                continue
            if urlparse(url).netloc:
                offenders.append(f"{page.relative_to(BUILD)}: <{tag} {attr}={url}>")
    for css in BUILD.joinpath("html").rglob("*.css"):
        if CSS_URL.search(css.read_text(encoding="utf-8", errors="replace")):
            offenders.append(f"{css.relative_to(BUILD)}: url() to another host")
    assert not offenders, "resources from other hosts:\n" + "\n".join(offenders[:30])


def test_every_toc_page_was_built(book_build):
    import yaml

    from tools import bookbuild as _bookbuild  # noqa: F401  (import check)

    toc = yaml.safe_load((PROJECT_ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + re.findall(r"file: (\S+)", (PROJECT_ROOT / "_toc.yml").read_text())
    missing = [f for f in files if not (BUILD / "html" / f"{f}.html").exists()]
    assert not missing, f"pages in _toc.yml without built HTML: {missing}"
    assert html_pages(), "no HTML pages"


def test_every_notebook_page_offers_its_ipynb_with_outputs_and_its_py(book_build):
    from tools import bookbuild as _bookbuild

    for source in _bookbuild.toc_notebooks():
        page = BUILD / "html" / "notebooks" / f"{source.stem}.html"
        html = page.read_text(encoding="utf-8")
        links = re.findall(r'<p class="notebook-downloads">.*?</p>', html, flags=re.S)
        assert links, f"{page.name}: no download links under the title"
        targets = re.findall(r'href="([^"]+)"', links[0])
        assert {t.rsplit(".", 1)[-1] for t in targets} == {"ipynb", "py"}, targets
        for target in targets:
            path = (page.parent / target).resolve()
            assert path.is_file(), f"{page.name}: download {target} does not exist"
        ipynb = json.loads((page.parent / targets[0]).resolve().read_text(encoding="utf-8"))
        outputs = [o for c in ipynb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
        assert outputs, f"{targets[0]} has no outputs: the reader would get an unexecuted notebook"
        assert (page.parent / targets[1]).resolve().read_text(encoding="utf-8") == source.read_text(encoding="utf-8")


def test_no_page_shows_a_raw_result_record(book_build):
    """Registered results reach the prose through glue; a bare repr on a page is a leak of plumbing."""
    offenders = [str(p.relative_to(BUILD)) for p in html_pages() if "Result(key=" in p.read_text(encoding="utf-8")]
    assert not offenders, f"pages showing a raw Result(...) repr: {offenders}"


def test_software_page_shows_every_notebooks_execution_time_and_the_total(book_build):
    """The cost of the build on the page: one row per notebook page, seconds that add up to the total."""
    from tools.bookbuild import toc_notebooks

    html = (BUILD / "html" / "book" / "software.html").read_text(encoding="utf-8")
    start = html.index('id="what-the-build-cost"')
    section = html[start:html.index("</table>", start)]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", section, flags=re.S)
    cells = [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, flags=re.S)]
             for r in rows]
    rows = {c[0]: float(c[2]) for c in cells[1:] if c and c[0] != "Total"}
    # the shared products computed before the notebooks (tools.products) count in the total
    pages = {k: v for k, v in rows.items() if not k.startswith("shared products")}
    expected = {f"notebooks/{p.stem}" for p in toc_notebooks()}
    assert set(pages) == expected, f"timing rows {sorted(pages)} != notebook pages {sorted(expected)}"
    assert len(rows) - len(pages) <= 1
    total = next(float(c[2]) for c in cells if c and c[0] == "Total")
    assert total == pytest.approx(sum(rows.values()), abs=0.1 * len(rows)) and total > 0
