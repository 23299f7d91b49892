"""Every built page in a real headless browser (Debian chromium-headless-shell), at two widths.

Checks that each page loads, shows no error output or traceback, loads every image (with alt
text), typesets its math with the vendored MathJax and requests nothing from another host.
Screenshots go to ``_build/screenshots``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from .conftest import BUILD, HTML, html_pages

BROWSER = shutil.which("chromium-headless-shell") or "/usr/bin/chromium-headless-shell"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
SHOTS = BUILD / "screenshots"
LANES = 2  # pages loaded side by side per width

PAGE_STATE = """() => {
  const math = document.querySelectorAll('.math, span.math, div.math').length;
  const typeset = document.querySelectorAll('mjx-container').length;
  const imgs = Array.from(document.images).map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0, alt: i.getAttribute('alt')}));
  const errors = Array.from(document.querySelectorAll('.output.error, .output.traceback, div.cell_output .traceback, .output_error'))
      .map(e => e.innerText.slice(0, 200));
  const outText = Array.from(document.querySelectorAll('.cell_output')).map(e => e.innerText).join('\\n');
  return {math, typeset, imgs, errors, traceback: /Traceback \\(most recent call last\\)|Error: /.test(outText)};
}"""


LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


async def _check_width(browser, site: str, width: str, pages: list[str]) -> list[str]:
    """Load every page at one width; returns what is wrong (and writes the screenshots)."""
    failures = []
    for rel in pages:
        page = await browser.new_page(viewport=dict(zip(("width", "height"), WIDTHS[width])))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        response = await page.goto(f"{site}/{rel}", wait_until="networkidle")
        if response is None or response.status != 200:
            failures.append(f"{rel}: HTTP {None if response is None else response.status}")
            await page.close()
            continue
        await page.evaluate("() => window.MathJax && window.MathJax.startup ? window.MathJax.startup.promise : null")
        state = await page.evaluate(PAGE_STATE)
        name = rel.replace("/", "__").removesuffix(".html")
        # JPEG: the full-page PNGs of the long notebook pages took up to 3 s each to encode
        await page.screenshot(path=str(SHOTS / f"{name}-{width}.jpg"), full_page=True, type="jpeg", quality=85)
        foreign = sorted({urlparse(u).netloc for u in requests if urlparse(u).scheme in ("http", "https")}
                         - {urlparse(site).netloc})
        if foreign:
            failures.append(f"{rel}: requests to other hosts {foreign}")
        if state["errors"] or state["traceback"]:
            failures.append(f"{rel}: error output in a cell: {state['errors'][:2]}")
        broken = [i["src"][-80:] for i in state["imgs"] if not i["ok"]]
        if broken:
            failures.append(f"{rel}: images that did not load: {broken}")
        no_alt = [i["src"][-80:] for i in state["imgs"] if not (i["alt"] or "").strip()]
        if no_alt:
            failures.append(f"{rel}: images without alt text: {no_alt}")
        if state["math"] and state["typeset"] == 0:
            failures.append(f"{rel}: {state['math']} math elements but MathJax typeset none")
        await page.close()
    return failures


@pytest.fixture(scope="module")
def browser_check(site) -> dict[str, list[str]]:
    """Every page at every width, in one browser, four pages at a time: two lanes per width (a page
    waits ~0.5 s for the network to fall idle; one width after the other took 67 s, most of it
    waiting; one lane per width 48 s, two 40 s with JPEG screenshots).

    Returns width -> what is wrong.
    """
    if not Path(BROWSER).exists():
        pytest.fail(f"{BROWSER} not found: `make test` installs Debian's chromium-headless-shell", pytrace=False)
    import asyncio

    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    pages = _pages()

    async def run() -> dict[str, list[str]]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=BROWSER, args=LAUNCH_ARGS)
            try:
                lanes = [(width, pages[lane::LANES]) for width in WIDTHS for lane in range(LANES)]
                found = await asyncio.gather(*(_check_width(browser, site, width, part) for width, part in lanes))
            finally:
                await browser.close()
        return {width: sum((f for (w, _), f in zip(lanes, found) if w == width), []) for width in WIDTHS}

    return asyncio.run(run())


def _pages():
    return [p.relative_to(HTML).as_posix() for p in html_pages()]


def test_site_has_pages(book_build):
    assert _pages(), "no built pages to check"


@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_page_in_the_browser(browser_check, width):
    failures = browser_check[width]
    assert not failures, f"site check at {width} width found:\n" + "\n".join(failures)
