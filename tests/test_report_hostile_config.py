"""Hostile strings in a run's *config and file layout* are inert in its report, in real Chromium.

test_report_browser.py covers hostile values, errors, nemesis notes, log messages and the re-run
command. Here: every other test.json field a report shows (system, workload, seed, nemesis names,
node names, bug), a node directory whose very name is markup, and node log lines that are not in
the log format (no timestamp, markup in the level, bytes that are not UTF-8).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_runs import HOSTILE, stale_read_run
from test_report_browser import Page

from splitbrain.reports.html import write_report

pytestmark = pytest.mark.browser

EVIL_NODE = "<img src=x onerror=alert(7)>"


def _hostile_run(d: Path) -> Path:
    run = stale_read_run(d, hostile=True)
    test = json.loads((run / "test.json").read_text())
    test.update(system=HOSTILE[0], workload=HOSTILE[4], seed=HOSTILE[1], nemesis=[HOSTILE[3], HOSTILE[2]],
                nodes=["n1", "n2", "n3", EVIL_NODE], bug=HOSTILE[4], backend=HOSTILE[0],
                backend_options={HOSTILE[1]: HOSTILE[2]}, run_id=HOSTILE[3])
    (run / "test.json").write_text(json.dumps(test))
    evil = run / "nodes" / EVIL_NODE
    evil.mkdir(parents=True)
    (evil / "node.log").write_bytes(
        b"1700000000.100000 <script>alert(8)</script> level in markup\n"
        b"<svg onload=alert(9)> a line with no timestamp\n"
        b"1700000000.200000 INFO bytes that are not UTF-8: \xff\xfe<b onmouseover=alert(10)>x</b>\n"
        b"1700000000.300000 WARN <a href='javascript:alert(11)'>click</a>\n")
    return run


def test_hostile_config_fields_and_node_names_are_inert(browser, tmp_path):  # noqa: F811
    run = _hostile_run(tmp_path / "run")
    write_report(run)
    pg = Page(browser)
    pg.open(run / "report.html")
    page = pg.page
    assert page.locator("script").count() == 2  # the data block and the page's own code
    assert page.locator("img, svg[onload], [onerror], [onload], [onmouseover]").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    body = page.locator("body").inner_text()
    assert HOSTILE[0] in body  # the system name, shown as text
    page.fill("#log-search", "alert(")
    logs = page.locator("#log-view").inner_text()
    assert "<svg onload=alert(9)>" in logs and "javascript:alert(11)" in logs  # shown, not run
    pg.assert_isolated()
    page.close()
