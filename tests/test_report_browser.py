"""Real reports opened in headless Chromium: sections, drawing, isolation, inertness."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from report_runs import HOSTILE, big_run, cycle_run, lost_run, stale_read_run

from splitbrain.reports.html import write_report

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SECTIONS = ["summary", "timeline", "latency", "rate", "faults", "counterexample", "localization", "logs"]




class Page:
    """A page that records console errors, dialogs and every request it tries to make."""

    def __init__(self, browser) -> None:
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))

        def route(r):
            self.requests.append(r.request.url)
            if r.request.url.startswith(("file:", "data:")):
                r.continue_()
            else:
                r.abort()

        self.page.route("**/*", route)

    def open(self, path: Path) -> None:
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-ready='1']", timeout=60_000)

    def assert_isolated(self) -> None:
        outside = [u for u in self.requests if not u.startswith(("file:", "data:"))]
        assert outside == [], f"requests left the page: {outside}"
        assert self.errors == [], f"JS errors: {self.errors}"
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"


def _canvas_ink(page) -> int:
    return page.evaluate("""() => { const c = document.getElementById('tl-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")


def test_invalid_run_report_has_every_section_drawn(browser, tmp_path):
    run = stale_read_run(tmp_path / "run")
    write_report(run)
    pg = Page(browser)
    pg.open(run / "report.html")
    page = pg.page
    for s in SECTIONS:
        loc = page.locator(f"[data-section='{s}']")
        assert loc.count() == 1, s
        assert loc.is_visible(), s
    assert "INVALID" in page.locator("#verdict").inner_text()
    assert "splitbrain run memkv --workload register" in page.locator("#command").inner_text()
    assert _canvas_ink(page) > 500, "timeline canvas is blank"
    assert page.locator("#latency-plot svg path").count() >= 1
    assert page.locator("#rate-plot svg polyline").count() == 3
    assert page.locator("#fault-table tbody tr").count() == 1
    assert "partition" in page.locator("#fault-table").inner_text()
    cx = page.locator("[data-section='counterexample']").inner_text()
    assert "cannot be linearized together" in cx and "one of 2" in cx
    loc = page.locator("[data-section='localization']").inner_text()
    assert "partition #0 (overlaps)" in loc and "n3" in loc
    # the tooltip shows an op's details on hover
    box = page.locator("#tl-canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.03, box["y"] + 18 + 5)
    page.mouse.move(box["x"] + box["width"] * 0.035, box["y"] + 18 + 6)
    assert page.locator("#tooltip").is_visible()
    assert "op #" in page.locator("#tooltip").inner_text()
    # logs: searchable, aligned to the test clock (line k of a node at k * 0.05 s)
    page.fill("#log-search", "applied entry 20")
    text = page.locator("#log-view").inner_text()
    assert "1.000s n1" in text and "applied entry 21" not in text
    page.locator("#tl-in").click()
    page.mouse.wheel(0, 200)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-invalid.png"), full_page=True)
    pg.assert_isolated()
    page.close()


def test_hostile_strings_are_inert(browser, tmp_path):
    run = stale_read_run(tmp_path / "run", hostile=True)
    write_report(run)
    pg = Page(browser)
    pg.open(run / "report.html")
    page = pg.page
    assert page.locator("script").count() == 2  # the data block and the page's own code
    assert page.locator("img").count() == 0
    assert page.locator("[onerror]").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    body = page.locator("body").inner_text()
    assert HOSTILE[0] in body  # shown as text
    assert "onerror=alert(3)" in page.locator("[data-section='faults']").inner_text()
    page.fill("#log-search", "onerror")
    assert '" onerror="alert(1)' in page.locator("#log-view").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-hostile.png"), full_page=True)
    pg.assert_isolated()
    page.close()


def test_run_cut_short_says_so(browser, tmp_path):
    run = stale_read_run(tmp_path / "run", results=False, torn=True)
    write_report(run)
    pg = Page(browser)
    pg.open(run / "report.html")
    notes = pg.page.locator("#notes").inner_text()
    assert "torn" in notes and "no verdict" in notes
    assert pg.page.locator("#verdict").inner_text() == "not checked"
    assert _canvas_ink(pg.page) > 100
    pg.assert_isolated()
    pg.page.close()


def test_100k_event_report_loads_and_zooms(browser, tmp_path):
    run = big_run(tmp_path / "big", 50_000)
    write_report(run)
    pg = Page(browser)
    t = time.monotonic()
    pg.open(run / "report.html")
    assert time.monotonic() - t < 30
    page = pg.page
    assert _canvas_ink(page) > 10_000
    for _ in range(5):
        page.locator("#tl-in").click()
    page.locator("#tl-scroll").fill("500")
    page.wait_for_timeout(100)
    assert _canvas_ink(page) > 1000
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-100k.png"))
    pg.assert_isolated()
    page.close()


def test_dependency_cycle_drawn_as_a_graph(browser, tmp_path):
    run = cycle_run(tmp_path / "run")
    write_report(run)
    pg = Page(browser)
    pg.open(run / "report.html")
    cx = pg.page.locator("[data-section='counterexample']")
    assert "G0" in cx.inner_text()
    graph = cx.locator("svg.cycle").first
    assert graph.is_visible()
    assert graph.locator("circle").count() == 2 and graph.locator("path.edge").count() == 2
    assert "ww" in graph.text_content()
    ARTIFACTS.mkdir(exist_ok=True)
    pg.page.screenshot(path=str(ARTIFACTS / "report-cycle.png"), full_page=True)
    pg.assert_isolated()
    pg.page.close()


def test_lost_set_elements_listed(browser, tmp_path):
    run = lost_run(tmp_path / "run")
    write_report(run)
    pg = Page(browser)
    pg.open(run / "report.html")
    lost = pg.page.locator("[data-section='counterexample'] p.elements[data-kind='lost']")
    assert lost.count() == 1
    assert lost.inner_text().endswith("lost elements (2): 1, 3")
    pg.assert_isolated()
    pg.page.close()
