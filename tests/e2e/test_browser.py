"""Every demo report opened in headless Chromium from file://, offline.

For each page (the top-level runs index, the run's index and the four reports): no console
error or uncaught exception, no request leaves the page, every image has loaded
(``naturalWidth > 0``), and no script planted in the demo's hostile user text ran (it would set
``document.title`` to ``pwned-*``) nor became an element (``<script>``, ``onerror=``,
``javascript:`` links); the hostile strings are visible as text instead.

A full-page screenshot of each page is saved under ``$WORKBENCH_TEST_ARTEFACTS`` (default
``reports/_artefacts/browser/`` in the project) for a human to look at.

Needs Debian's ``chromium`` (``make setup-browser``); skipped with a clear reason without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from analysis import config

from .cdp import CHROMIUM, Chromium
from .conftest import STUDIES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTEFACTS = Path(
    os.environ.get("WORKBENCH_TEST_ARTEFACTS") or config.PROJ_ROOT / "reports" / "_artefacts"
)

#: Evaluated in each page: planted script effects and elements that should not exist.
PROBE = """({
  pwned: document.title.includes('pwned') || window.__pwned !== undefined,
  scripts: Array.from(document.scripts).filter(s => s.textContent.includes('pwned')).length,
  handlers: document.querySelectorAll('[onerror],[onload],[onclick]').length,
  jsLinks: document.querySelectorAll('a[href^="javascript:" i]').length,
  iframes: document.querySelectorAll('iframe, object, embed').length,
  text: document.body.innerText.includes('<script>document.title="pwned-'),
  width: document.documentElement.scrollWidth,
})"""


def _pages(home: Path) -> list[Path]:
    run_dir = home / "reports" / "demo"
    return [
        home / "reports" / "index.html",
        run_dir / "index.html",
        *(run_dir / f"{s}.html" for s in STUDIES),
    ]


@pytest.fixture(scope="module")
def opened(demo):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: run `make setup-browser` (apt-get install chromium)")
    pytest.importorskip("websocket", reason="websocket-client (dev dependency) missing")
    out_dir = ARTEFACTS / "browser"
    results = {}
    with Chromium() as browser:
        for page in _pages(demo.home):
            results[page.name] = browser.open(page, probe=PROBE)
            browser.screenshot(out_dir / f"{page.parent.name}-{page.stem}.png")
    return results, out_dir


@pytest.mark.parametrize("page", ["index", *STUDIES])
def test_report_loads_offline_without_errors(opened, page):
    results, _ = opened
    report = results[f"{page}.html"]
    assert report.console_errors == [], report.console_errors
    assert report.external_requests == [], report.external_requests


@pytest.mark.parametrize("study", STUDIES)
def test_every_image_loads(opened, study):
    report = opened[0][f"{study}.html"]
    assert report.images, "no figure in the report"
    broken = [i for i in report.images if not (i["complete"] and i["naturalWidth"] > 0)]
    assert not broken, broken


@pytest.mark.parametrize("page", ["index", *STUDIES])
def test_hostile_user_text_is_inert(opened, page):
    report = opened[0][f"{page}.html"]
    probe = report.probe
    assert not probe["pwned"] and "pwned" not in report.title
    assert probe["scripts"] == 0 and probe["handlers"] == 0
    assert probe["jsLinks"] == 0 and probe["iframes"] == 0


@pytest.mark.parametrize("study", STUDIES)
def test_hostile_community_name_is_shown_as_text_and_page_fits(opened, study):
    probe = opened[0][f"{study}.html"].probe
    assert probe["text"], "the hostile community name should be visible, as text"
    assert probe["width"] <= 1280, "a long name or table widened the page beyond the window"


def test_screenshots_saved(opened):
    _, out_dir = opened
    shots = sorted(out_dir.glob("*.png"))
    assert len(shots) >= 6
    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5_000


def test_the_checks_can_fail(tmp_path):
    """A deliberately bad page trips every check: script ran, request left, image broke, error."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: run `make setup-browser`")
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        '<script>document.title="pwned-test"; console.error("boom")</script>'
        '<img src="https://example.com/x.png"><img src="missing.png">'
        '<img src=x onerror="window.__pwned=1"></body></html>'
    )
    with Chromium() as browser:
        report = browser.open(page, probe=PROBE)
    assert report.probe["pwned"] and "pwned" in report.title
    assert report.probe["scripts"] == 1 and report.probe["handlers"] == 1
    assert any("example.com" in url for url in report.external_requests)
    assert any("boom" in e for e in report.console_errors)
    assert sum(1 for i in report.images if i["naturalWidth"] == 0) == 3
