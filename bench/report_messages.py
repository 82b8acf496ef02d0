"""Report size and render time of the space-time diagram with many messages, in real Chromium.

usage: python bench/report_messages.py [--messages 100000] [--nodes 5] [--seconds 60]

Writes a run directory (a temporary one) shaped like a 5-node raft run: a leader's
appends and their answers at the rate that gives ``--messages`` over ``--seconds``,
one partition (messages across it dropped), polled node states and a stale read
inside the partition (so the report has an anomaly window to open on). Then renders
``report.html`` and opens it in Chromium (/usr/bin/chromium, through Playwright),
printing: the file's size and the bytes the diagram's data takes, the time to
render the report (Python), the time from navigation until the diagram is drawn,
and the draw time of the anomaly window, of the whole run (every message in view)
and of a zoom step.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splitbrain.history import Op  # noqa: E402
from splitbrain.reports.html import write_report  # noqa: E402


def make_run(d: Path, n_msgs: int, n_nodes: int, seconds: float) -> None:
    rng = random.Random(1)
    nodes = [f"n{i}" for i in range(1, n_nodes + 1)]
    (d / "test.json").write_text(json.dumps({"system": "raft", "workload": "register", "nodes": nodes,
                                             "backend": "local", "concurrency": 5, "seed": 1,
                                             "command": "splitbrain run raft (bench)"}))
    p0, p1 = seconds * 0.4, seconds * 0.6
    grudge = {"n1": nodes[1:], **{n: ["n1"] for n in nodes[1:]}}
    ops: list[Op] = []
    t = 0.0
    i = 0
    step = seconds / 2000
    while t < seconds:  # a client writing and reading at n1 and n2
        node = "n1" if i % 2 else "n2"
        f = "write" if i % 3 else "read"
        ops.append(Op(index=len(ops), process=i % 5, type="invoke", f=f, value=i if f == "write" else None,
                      time=int(t * 1e9), node=node))
        ops.append(Op(index=len(ops), process=i % 5, type="ok", f=f, value=i if f == "write" else i - 3,
                      time=int((t + step / 2) * 1e9), node=node))
        t += step
        i += 1
        if abs(t - p0) < step:
            ops.append(Op(index=len(ops), process="nemesis", type="info", f="start-partition", value={"grudge": grudge},
                          time=int(p0 * 1e9)))
        if abs(t - p1) < step:
            ops.append(Op(index=len(ops), process="nemesis", type="info", f="stop-partition", value={"healed": grudge},
                          time=int(p1 * 1e9)))
    ops.sort(key=lambda o: o.time)
    for k, o in enumerate(ops):
        o.index = k
    (d / "history.jsonl").write_text("".join(o.to_line() + "\n" for o in ops))
    stale = next(k for k, o in enumerate(ops) if o.f == "read" and o.type == "ok" and o.time > (p0 + 1) * 1e9)
    (d / "results.json").write_text(json.dumps({"valid": False, "checkers": {"linearizable": {
        "valid": False, "anomalies": [{"kind": "nonlinearizable", "ops": [stale - 1, stale], "explanation": "stale"}]}},
        "ops": len(ops) // 2, "faults": 1, "seed": 1, "duration_s": seconds,
        "messages": {"captured_by": "link proxies", "total": n_msgs, "recorded": n_msgs, "sampled_away": 0}}))
    gap = seconds / n_msgs
    with open(d / "messages.jsonl", "w", encoding="utf-8") as fh:
        for k in range(n_msgs):
            ts = k * gap
            dst = nodes[1 + k % (n_nodes - 1)]
            src, dest = ("n1", dst) if k % 2 == 0 else (dst, "n1")
            cut = p0 <= ts < p1
            rec = {"src": src, "dest": dest, "type": "append" if k % 2 == 0 else "append_resp", "kind": "node",
                   "send_ns": int(ts * 1e9), "deliver_ns": None if cut else int((ts + rng.uniform(1e-4, 2e-3)) * 1e9),
                   "dropped": cut, "bytes": 90, "fault": "partition" if cut else None, "ids": {"term": 3, "seq": k}}
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
    with open(d / "node-states.jsonl", "w", encoding="utf-8") as fh:
        for n in nodes:
            fh.write(json.dumps({"t_ns": 0, "node": n, "up": True, "role": "leader" if n == "n1" else "follower",
                                 "term": 3, "leader": "n1"}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        make_run(d, args.messages, args.nodes, args.seconds)
        t = time.perf_counter()
        path = write_report(d, shrink_budget_s=2.0)
        build_s = time.perf_counter() - t
        text = path.read_text()
        m = re.search(r'"diagram":(\{.*?"note":[^}]*\})', text)
        diagram_bytes = len(m.group(1)) if m else 0
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = b.new_page(viewport={"width": 1300, "height": 900})
            t = time.perf_counter()
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-diagram='1']", timeout=120_000)
            open_s = time.perf_counter() - t
            c = page.locator("#sd-canvas")
            first_ms = float(c.get_attribute("data-render-ms") or "nan")
            drawn_window = c.get_attribute("data-drawn")

            def timed(js: str) -> float:
                return float(page.evaluate(f"() => {{ const t = performance.now(); {js}; return performance.now() - t; }}"))

            all_ms = timed("document.getElementById('sd-all').click()")
            drawn_all, dropped_all = c.get_attribute("data-drawn"), c.get_attribute("data-dropped")
            zoom_ms = timed("document.getElementById('sd-in').click()")
            b.close()
    print(f"loadavg {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.messages:,} messages, {args.nodes} nodes, "
          f"{args.seconds:.0f} s run")
    print(f"report.html {len(text.encode()) / 1e6:.2f} MB "
          f"(diagram data {diagram_bytes / 1e6:.2f} MB, {diagram_bytes / max(1, args.messages):.1f} B/message); "
          f"rendered by Python in {build_s:.1f} s")
    print(f"Chromium: page open until the diagram is drawn {open_s:.2f} s; first draw (anomaly window, "
          f"{drawn_window} arrows) {first_ms:.0f} ms")
    print(f"draw of the whole run ({drawn_all} arrows + {dropped_all} dropped in view): {all_ms:.0f} ms; "
          f"one zoom step: {zoom_ms:.0f} ms")


if __name__ == "__main__":
    main()
