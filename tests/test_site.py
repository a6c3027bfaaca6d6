"""The companion site (issue 16), built and opened in a real headless Chromium (Debian's chromium and
chromium-driver, driven by selenium; nothing downloads a browser). Every page loads without console
errors, every image has loaded, every internal link resolves, and the ledger lists every paper of the
registry with the verdict of its result.json. Screenshots of the ledger and one paper page go to
build/site/screenshots/.

Skips with the reason where Chromium, its driver or the site's npm assets are missing (a laptop);
.ci/run installs them, so in CI it always runs.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from mlcompanion import site

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
MISSING = [what for what, ok in (("chromium", CHROMIUM), ("chromedriver", DRIVER),
                                 ("tools/site/node_modules (npm ci --prefix tools/site)",
                                  site.MATHJAX_DIR.joinpath("MathJax.js").exists())) if not ok]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"site test needs {', '.join(MISSING)} (make site-deps)")


def test_site_test_runs_in_ci():
    if os.environ.get("COMPANION_CI") == "1":
        assert not MISSING, MISSING


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    html_dir = site.build_site(out)
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield html_dir, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _load(driver, url):
    driver.get(url)
    for _ in range(200):  # MathJax typesets after load; wait until its queue is empty
        if driver.execute_script("return document.readyState === 'complete' && (!window.MathJax || !MathJax.Hub "
                                 "|| MathJax.Hub.queue.pending === 0 && MathJax.Hub.queue.running === 0)"):
            break
        time.sleep(0.05)
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _page_urls(html_dir: Path, base: str) -> list[str]:
    return [urljoin(base, str(p.relative_to(html_dir)).replace("index.html", ""))
            for p in sorted(html_dir.rglob("*.html")) if p.name != "404.html"]


def _resolves(html_dir: Path, url: str) -> bool:
    path = html_dir / urlparse(url).path.lstrip("/")
    return path.is_file() or (path / "index.html").is_file()


def test_every_page_loads_with_its_images_and_links(built, browser):
    html_dir, base = built
    urls = _page_urls(html_dir, base)
    assert len(urls) >= len(site.load_papers()) + 2  # ledger, a page per paper, benchmarks
    problems = []
    for url in urls:
        errors = _load(browser, url)
        problems += [f"{url}: console: {e['message'][:200]}" for e in errors]
        broken = browser.execute_script(
            "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        problems += [f"{url}: image did not load: {src[:120]}" for src in broken]
        hrefs = browser.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        for href in hrefs:
            parsed = urlparse(href)
            if parsed.netloc == urlparse(base).netloc and not _resolves(html_dir, href):
                problems.append(f"{url}: link to a missing page {href}")
    assert not problems, "\n".join(problems[:40])


def test_ledger_lists_every_paper_with_its_verdict_and_filters(built, browser):
    html_dir, base = built
    assert not _load(browser, base)
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#ledger tbody tr')).map(r => [r.dataset.slug, r.dataset.verdict])")
    papers = site.load_papers()
    assert [slug for slug, _ in rows] == [p["slug"] for p in papers] and len(rows) == 32
    for slug, verdict in rows:
        result = REPO / "figures" / slug / "result.json"
        expected = json.loads(result.read_text())["verdict"] if result.exists() else site.PLANNED
        assert verdict == expected, slug
    shots = REPO / "build" / "site" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shots / "ledger.png"))
    planned = sum(v == site.PLANNED for _, v in rows)
    browser.execute_script("var s = document.getElementById('filter-verdict'); s.value = 'planned';"
                           "s.dispatchEvent(new Event('change'));")
    visible = browser.execute_script(
        "return Array.from(document.querySelectorAll('#ledger tbody tr')).filter(r => r.style.display !== 'none').length")
    assert visible == planned
    _load(browser, urljoin(base, "papers/multi_similarity/"))
    header = browser.execute_script("var h = document.querySelector('.paper-header'); return h && h.textContent")
    assert header and "Verdict at ci scale" in header
    assert browser.execute_script("return document.querySelectorAll('.jp-OutputArea-output img').length") > 0
    browser.save_screenshot(str(shots / "multi_similarity.png"))


def test_figures_get_the_page_width_plotting_designs_for(built, browser):
    """plotting.legible_text_px assumes a paper page gives a figure PAGE_WIDTH_PX at a 1280-px window (or
    its natural width, if less) and shows a caption under it; check both on a page with several figures."""
    from mlcompanion.plotting import PAGE_WIDTH_PX

    html_dir, base = built
    browser.set_window_size(1280, 1000)
    try:
        _load(browser, urljoin(base, "papers/anyloss/"))
        sizes = browser.execute_script("return Array.from(document.querySelectorAll('.jp-OutputArea-output img'))"
                                       ".map(i => [i.naturalWidth, i.getBoundingClientRect().width])")
        captions = browser.execute_script("return Array.from(document.querySelectorAll('.jp-OutputArea-output'))"
                                          ".filter(o => o.textContent.trim().startsWith('Figure.')).length")
        browser.execute_script("var i = document.querySelectorAll('.jp-OutputArea-output img')[1];"
                               "i && i.scrollIntoView({block: 'start'}); window.scrollBy(0, -60);")
        time.sleep(0.6)  # the header's title swap on scroll is animated
        shots = REPO / "build" / "site" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(shots / "figure_at_1280px.png"))
    finally:
        browser.set_window_size(1400, 1000)
    assert len(sizes) >= 3 and captions >= len(sizes)
    for natural, shown in sizes:
        assert shown >= min(natural, PAGE_WIDTH_PX) - 0.5, (natural, shown)
