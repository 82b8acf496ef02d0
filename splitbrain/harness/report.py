"""Every run gets a ``report.html``, even when the full report renderer breaks.

The real report lives in :mod:`splitbrain.reports.html`. If it is missing or
raises, :func:`minimal_report` writes a plain, self-contained page (summary,
verdicts, the history as a table), everything escaped, so the artefact a
person opens first always exists.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

from splitbrain.results import RunResult

log = logging.getLogger("splitbrain.harness")

MAX_ROWS = 20000


def write_report(run_dir: Path) -> Path:
    try:
        from splitbrain.checkers.memory import MemoryCap
        from splitbrain.reports.html import write_report as full

        with MemoryCap.default().enforced({"phase": "rendering the report"}):  # unknown, not the OOM killer
            return Path(full(run_dir))
    except Exception as e:  # noqa: BLE001 - fall back rather than leave a run without a report
        log.warning("full report failed (%s: %s); writing the minimal one", type(e).__name__, e)
        return minimal_report(run_dir, note=f"{type(e).__name__}: {e}")


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def minimal_report(run_dir: Path, note: str = "") -> Path:
    e = html.escape
    test = _load(run_dir / "test.json") or {}
    verdict = RunResult.read(run_dir)
    results = verdict.to_json() if verdict is not None else {}
    rows: list[str] = []
    try:
        with open(run_dir / "history.jsonl", encoding="utf-8", errors="replace") as fh:
            for i, line in enumerate(fh):
                if i >= MAX_ROWS:
                    rows.append(f"<tr><td colspan=8>... truncated after {MAX_ROWS} rows</td></tr>")
                    break
                try:
                    op = json.loads(line)
                except ValueError:
                    continue
                cells = [op.get("index"), op.get("time", 0) / 1e9, op.get("process"), op.get("type"),
                         op.get("f"), op.get("key"), op.get("value"), op.get("error") or ""]
                cells[1] = f"{cells[1]:.3f}"
                cls = e(str(op.get("type")))
                rows.append(f"<tr class='{cls}'>" + "".join(
                    f"<td>{e(c if isinstance(c, str) else json.dumps(c))}</td>" for c in cells) + "</tr>")
    except OSError:
        rows.append("<tr><td colspan=8>no history recorded</td></tr>")
    verdicts = "".join(
        f"<tr><td>{e(name)}</td><td>{e(json.dumps(r.get('valid')))}</td><td>{e(str(r.get('summary', '')))}</td></tr>"
        for name, r in (results.get("checkers") or {}).items()
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>splitbrain {e(str(test.get('system', '')))} {e(str(test.get('workload', '')))}</title>
<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;font-size:12px}}
tr.fail{{background:#fdd}}tr.info{{background:#ffd}}tr.ok{{background:#dfd}}</style></head><body>
<h1>{e(str(test.get('system', '?')))} / {e(str(test.get('workload', '?')))}: valid = {e(json.dumps(results.get('valid', 'unknown')))}</h1>
<p>seed {e(str(test.get('seed')))}, nemesis {e(', '.join(test.get('nemesis') or []) or 'none')},
{e(str(results.get('ops', 0)))} ops, {e(str(results.get('faults', 0)))} faults, {e(str(results.get('duration_s', 0)))} s</p>
<p>Re-run: <code>{e(str(test.get('command', '')))}</code></p>
{f'<p>(minimal report: {e(note)})</p>' if note else ''}
<h2>Verdicts</h2><table><tr><th>checker</th><th>valid</th><th>summary</th></tr>{verdicts}</table>
<h2>History</h2><table><tr><th>index</th><th>time s</th><th>process</th><th>type</th><th>f</th><th>key</th><th>value</th><th>error</th></tr>
{''.join(rows)}</table></body></html>
"""
    path = run_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
