"""Report figures for a long run: render time, report.html size and browser load time.

    python3 bench/report.py [N_EVENTS]   (default 100000 history events)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(_ROOT), str(_ROOT / "tests")]

from report_runs import big_run  # noqa: E402

from splitbrain.reports.html import write_report  # noqa: E402


def main() -> None:
    n_events = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        d = big_run(Path(tmp) / "run", n_events // 2)
        hist = (d / "history.jsonl").stat().st_size
        t = time.monotonic()
        path = write_report(d)
        render_s = time.monotonic() - t
        size = path.stat().st_size
        print(f"history: {n_events} events, {hist / 1e6:.1f} MB jsonl")
        print(f"render: {render_s:.2f} s, report.html {size / 1e6:.2f} MB")
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            return
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = b.new_page(viewport={"width": 1400, "height": 900})
            t = time.monotonic()
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=120_000)
            print(f"browser load to ready: {time.monotonic() - t:.2f} s")
            frames = page.evaluate("""async () => {
                const b = document.getElementById('tl-in');
                const t0 = performance.now();
                for (let i = 0; i < 20; i++) { b.click(); await new Promise(r => requestAnimationFrame(r)); }
                document.getElementById('tl-reset').click();
                await new Promise(r => requestAnimationFrame(r));
                return (performance.now() - t0) / 21; }""")
            print(f"timeline redraw (zoom steps, full view included): {frames:.1f} ms/frame")
            b.close()


if __name__ == "__main__":
    main()
