"""The self-contained ``report.html`` of one run.

Everything the page needs is inside it: CSS, JS, and the run's data as one JSON
document in a ``<script type="application/json">``. The JSON is escaped so no
string from a history or a log can close that script (``<``, ``>``, ``&`` and
U+2028/2029 become ``\\uXXXX``), and the page's JS only ever puts data into the
DOM with ``textContent`` or SVG/canvas drawing, so hostile strings stay text.
Jinja2 renders the shell with autoescape on for the few values it inserts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from splitbrain.reports.diagram import default_window, pack_messages, pack_states
from splitbrain.reports.localize import anomalies, localize
from splitbrain.reports.rundata import RunData, load_run

_HERE = Path(__file__).parent
#: longest rendering of one value in the page (tooltips, tables)
MAX_VALUE_CHARS = 300
OUTCOME = {"ok": 0, "fail": 1, "info": 2}


def _membership_band(f: Any) -> dict[str, Any]:
    """One membership window as the timeline's band draws it: who left, how, and what the cluster said."""
    v = f.targets if isinstance(f.targets, dict) else {}
    changes = v.get("changes") or {}
    removed = [str(n) for n in v.get("removed") or []]
    refused = sorted(str(n) for n, c in changes.items() if isinstance(c, dict) and c.get("outcome") == "refused")
    label = ("-" + ",".join(removed) + (" (wiped)" if v.get("rejoin") == "wiped" else "")) if removed else ""
    if refused:
        label = (label + " " if label else "") + "refused " + ",".join(refused)
    return {"start": f.start_s, "stop": _finite(f.stop_s), "label": label or "no change",
            "removed": removed, "refused": refused}


def _short(v: Any) -> str:
    if v is None:
        return ""
    if type(v) is int:
        return str(v)
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return s if len(s) <= MAX_VALUE_CHARS else s[:MAX_VALUE_CHARS] + "..."


def safe_json(obj: Any) -> str:
    """JSON that is inert inside a ``<script>`` element whatever strings it holds."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


#: most operations drawn on the timeline: past it, the ones an anomaly names (and their neighbours)
#: and an even sample of the rest, so a million-op run's report stays small enough to open
MAX_TIMELINE_CALLS = 50_000


def _info_completion_times(run: RunData) -> dict[int, int]:
    """History index -> time of each ``info`` completion (the only ends a Call does not carry)."""
    return {op.index: op.time for op in run.history.ops if op.type == "info" and op.is_client}


def _end_us(c: Any, info_time: dict[int, int]) -> int:
    if c.complete_index is None:
        return -1
    if c.type == "info":
        t = info_time.get(c.complete_index)
        return -1 if t is None else round(t / 1e3)
    return round(c.ret_time / 1e3)


def _timeline_calls(run: RunData, counterexamples: list[dict[str, Any]] | None) -> set[int] | None:
    """Invoke indices of the calls to draw, or None for all of them."""
    n = len(run.calls)
    if n <= MAX_TIMELINE_CALLS:
        return None
    named: set[int] = set()
    for r in ((run.results or {}).get("checkers") or {}).values():
        for a in (r.get("anomalies") or [])[:200] if isinstance(r, dict) else []:
            named.update(i for i in (a.get("ops") or [])[:500] if isinstance(i, int))
    for cx in counterexamples or []:
        named.update(i for i in cx.get("op_indices", []) if isinstance(i, int))
    pos = {c.invoke_index: k for k, c in enumerate(run.calls)}
    keep: set[int] = set()
    for i in sorted(named):
        k = pos.get(i, pos.get(i - 1, -1))
        for j in range(max(0, k - 50), min(n, k + 51)) if k >= 0 else ():
            keep.add(run.calls[j].invoke_index)
    stride = max(1, n // max(1, MAX_TIMELINE_CALLS - len(keep)))
    keep.update(run.calls[j].invoke_index for j in range(0, n, stride))
    run.notes.append(f"the timeline draws {len(keep):,} of {n:,} operations: those near an anomaly and every "
                     f"{stride}th other one (the checkers saw them all)")
    return keep


def build_data(run: RunData, counterexamples: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    test, results = run.test, run.results
    conc = test.get("concurrency")
    conc = conc if isinstance(conc, int) and conc > 0 else None
    info_time = _info_completion_times(run)
    lanes: dict[Any, int] = {}
    calls = []
    counts = {"ok": 0, "fail": 0, "info": 0}
    shown = _timeline_calls(run, counterexamples)
    for c in run.calls:
        counts[c.type] = counts.get(c.type, 0) + 1
        if shown is not None and c.invoke_index not in shown:
            continue
        if isinstance(c.process, int) and conc:
            lane = c.process % conc
        else:
            lane = lanes.setdefault(c.process, len(lanes))
        t1 = _end_us(c, info_time)
        calls.append([c.invoke_index, _short(c.process), lane, round(c.call_time / 1e3), t1,
                      OUTCOME.get(c.type, 2), _short(c.f), _short(c.key), _short(c.value),
                      _short(c.output) if c.type == "ok" else "", _short(c.node), _short(c.error)])
    checkers = {}
    for name, r in ((results or {}).get("checkers") or {}).items():
        if isinstance(r, dict):
            checkers[str(name)] = {"valid": r.get("valid"), "summary": _short(r.get("summary")),
                                   "error": _short(r.get("error")), "seconds": r.get("seconds"),
                                   "anomalies": [_anomaly(a) for a in (r.get("anomalies") or [])[:200]
                                                 if isinstance(a, dict)]}
    faults = [{"kind": f.kind, "start": f.start_s, "stop": _finite(f.stop_s), "start_index": f.start_index,
               "stop_index": f.stop_index, "targets": _short(f.targets)} for f in run.faults]
    membership = [_membership_band(f) for f in run.faults if f.kind == "membership"]
    data: dict[str, Any] = {
        "test": {k: _short(v) for k, v in test.items()},
        "command": str(test.get("command", "")),
        "valid": (results or {}).get("valid", "unknown") if results is not None else None,
        "duration_s": (results or {}).get("duration_s", round(run.end_s, 3)),
        "counts": counts,
        "checkers": checkers,
        "notes": run.notes,
        "end_s": run.end_s,
        "calls": calls,
        "faults": faults,
        "membership": membership,
        "logs": {n: [[t, lvl, msg] for t, lvl, msg in lines] for n, lines in run.logs.items()},
        "localization": localize(run, anomalies(run) + [
            (c["checker"], {"kind": "counterexample core", "ops": c.get("op_indices", []),
                            "unplaceable": c.get("unplaceable", []),
                            "explanation": c.get("expected", "")}) for c in counterexamples or []]),
        "counterexamples": counterexamples or [],
        "schedule": _schedule(run.schedule),
        "keys": _keys(run, checkers),
        "messages": _messages(results),
    }
    data["window"] = default_window(run, data["localization"])
    data["diagram"] = pack_messages(run, data["window"])
    data["states"] = pack_states(run)
    return data


def _messages(results: dict[str, Any] | None) -> dict[str, Any] | None:
    """The message counts of the run (the link proxies' ``messages`` in results.json, or a system
    session's, e.g. Maelstrom's shims), or why none were captured; None for an old run without either."""
    res = results or {}
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []
    if isinstance(res.get("messages"), dict):
        found.append((res["messages"], res))
    found += [(v["messages"], v) for v in res.values() if isinstance(v, dict) and isinstance(v.get("messages"), dict)]
    for m, v in found:
        if m.get("captured_by") is None and m.get("not_captured"):
            return {"not_captured": _short(m["not_captured"])}
        return {"summary": {k: m.get(k) for k in ("total", "recorded", "sampled_away", "dropped")},
                "latency": m.get("node_latency_ms") or {},
                "by_type": sorted((m.get("by_type") or {}).items(), key=lambda kv: -kv[1])[:200],
                "by_link": sorted((m.get("by_link") or {}).items())[:2000],
                "dropped_by_link": m.get("dropped_by_link") or {},
                "by_fault": m.get("by_fault") or {},
                "node_errors": [str(e) for e in (v.get("node_errors") or [])][:50]}
    return None


#: keys listed one by one in the report (the failing ones always are)
MAX_KEYS_LISTED = 2000


def _keys(run: RunData, checkers: dict[str, Any]) -> dict[str, Any]:
    """Per-key summary for independent-key runs: ops and time span per key, and which keys failed."""
    spans: dict[str, list[int]] = {}
    info_time = _info_completion_times(run)
    for c in run.calls:
        if c.key is None:
            continue
        k = _short(c.key)
        t0 = round(c.call_time / 1e3)
        t1 = _end_us(c, info_time)
        t1 = t0 if t1 < 0 else t1
        s = spans.setdefault(k, [0, t0, t1])
        s[0] += 1
        s[1], s[2] = min(s[1], t0), max(s[2], t1)
    failed = sorted({str(a["key"]) for r in checkers.values() for a in r["anomalies"] if a.get("key")})
    ordered = sorted(spans, key=lambda k: (k not in failed, spans[k][1]))[:MAX_KEYS_LISTED]
    counts = sorted(s[0] for s in spans.values())
    return {"count": len(spans), "failed": failed,
            "ops_min": counts[0] if counts else 0, "ops_max": counts[-1] if counts else 0,
            "ops_median": counts[len(counts) // 2] if counts else 0,
            "list": [{"key": k, "ops": spans[k][0], "t0": spans[k][1], "t1": spans[k][2], "failed": k in failed}
                     for k in ordered]}


def _schedule(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """Planned windows (start, stop, params) and where each was applied, for the schedule chart."""
    if raw is None:
        return None
    try:
        from splitbrain.nemesis.plan import Schedule

        sched = Schedule.from_json(raw)
    except Exception as e:  # noqa: BLE001 - a bad schedule file is shown as a note, never breaks the page
        return {"error": _short(str(e)), "windows": [], "origin": {}}
    applied = {a.get("window"): a for a in raw.get("applied") or [] if isinstance(a, dict)}
    windows = []
    for w in sched.windows():
        a = applied.get(w.window) or {}
        raw_details = a.get("details")
        details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
        windows.append({"window": w.window, "fault": _short(w.fault), "start": w.start_s,
                        "stop": _finite(w.stop_s), "params": _short(w.params),
                        "at": a.get("at_s") if isinstance(a.get("at_s"), int | float) else None,
                        "resolved": _short({k: v for k, v in details.items()
                                            if k in ("nodes", "mode", "leader", "grudge", "topology")})})
    origin = sched.origin or {}
    return {"origin": {str(k): _short(v) for k, v in origin.items()}, "windows": windows,
            "shrunk": _short(raw.get("shrunk")) if raw.get("shrunk") else None}


def _anomaly(a: dict[str, Any]) -> dict[str, Any]:
    data = a.get("data") if isinstance(a.get("data"), dict) else {}
    return {"kind": _short(a.get("kind")), "explanation": str(a.get("explanation", ""))[:2000],
            "ops": [i for i in (a.get("ops") or [])[:500] if isinstance(i, int)], "key": _short(a.get("key")),
            "data": json.loads(json.dumps(data, default=str))}


def render(data: dict[str, Any]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True)
    tpl = env.get_template("report.html.j2")
    return tpl.render(
        title=f"splitbrain {data['test'].get('system', '')} {data['test'].get('workload', '')}",
        css=Markup((_HERE / "templates" / "report.css").read_text()),
        js=Markup("\n".join((_HERE / "templates" / name).read_text()
                             for name in ("report.js", "schedule.js", "diagram.js"))),
        data=Markup(safe_json(data)),
        messages=data.get("messages"),
    )


def write_report(run_dir: Path, shrink_budget_s: float = 20.0) -> Path:
    """Render ``run_dir/report.html`` from whatever the run left behind; returns its path."""
    run = load_run(Path(run_dir))
    counterexamples: list[dict[str, Any]] = []
    try:
        from splitbrain.reports.counterexample import counterexamples as find_cx

        counterexamples = find_cx(run, budget_s=shrink_budget_s)
    except ImportError:
        pass
    page = render(build_data(run, counterexamples))
    path = Path(run_dir) / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
