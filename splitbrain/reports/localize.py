"""Fault localization: for each anomaly, the faults, nodes and log lines near it.

An anomaly names history indices. Their time span (first invocation to last
completion) is compared with every fault window: a fault *overlaps* it when
the windows intersect, and *precedes* it when it ended at most ``follow_s``
seconds before the anomaly began (damage often surfaces after the heal, e.g.
a stale leader's writes read after the partition closed). The nodes that served
the ops (their ``node`` field) point at the logs worth reading, and the lines
of those logs within ``margin_s`` of the span are quoted, and
:mod:`.diagnosis` writes one sentence naming the node that answered wrong, its role
and term then, and the fault that touched it.
"""

from __future__ import annotations

import bisect
from typing import Any

from splitbrain.reports.diagnosis import sentence
from splitbrain.reports.rundata import RunData

FOLLOW_S = 5.0
MARGIN_S = 0.5
MAX_LINES = 20
MAX_ANOMALIES = 50
#: anomalies that get a diagnosis sentence (each scans the messages once)
MAX_SENTENCES = 10


def anomalies(run: RunData) -> list[tuple[str, dict[str, Any]]]:
    """(checker, anomaly) pairs from results.json, as stored."""
    out: list[tuple[str, dict[str, Any]]] = []
    for name, res in ((run.results or {}).get("checkers") or {}).items():
        if not isinstance(res, dict):
            continue
        for a in res.get("anomalies") or []:
            if isinstance(a, dict):
                out.append((str(name), a))
    return out


def localize(run: RunData, items: list[tuple[str, dict[str, Any]]] | None = None,
             follow_s: float = FOLLOW_S, margin_s: float = MARGIN_S) -> list[dict[str, Any]]:
    by_index = {op.index: op for op in run.history.ops}
    calls_by_index: dict[int, Any] = {}
    for c in run.calls:
        calls_by_index[c.invoke_index] = c
        if c.complete_index is not None:
            calls_by_index[c.complete_index] = c
    log_times = {n: [t if t is not None else float("-inf") for t, _, _ in lines] for n, lines in run.logs.items()}
    out: list[dict[str, Any]] = []
    for checker, a in (items if items is not None else anomalies(run))[:MAX_ANOMALIES]:
        idxs = [i for i in a.get("ops") or [] if isinstance(i, int)]
        times: list[float] = []
        nodes: set[str] = set()
        for i in idxs:
            op = by_index.get(i)
            if op is not None:
                times.append(op.time / 1e9)
                if op.node:
                    nodes.add(str(op.node))
            call = calls_by_index.get(i)
            if call is not None:
                for j in (call.invoke_index, call.complete_index):
                    o2 = by_index.get(j) if j is not None else None
                    if o2 is not None:
                        times.append(o2.time / 1e9)
                        if o2.node:
                            nodes.add(str(o2.node))
        invokes = sorted({calls_by_index[i].invoke_index for i in idxs if i in calls_by_index})
        entry: dict[str, Any] = {"checker": checker, "kind": str(a.get("kind", "")),
                                 "explanation": str(a.get("explanation", "")), "ops": idxs, "sentence": None,
                                 "invokes": invokes[:200]}
        if len(out) < MAX_SENTENCES:
            prefer = [i for i in a.get("unplaceable") or [] if isinstance(i, int)]
            entry["sentence"] = sentence(run, idxs, prefer, str(a.get("kind", "")))
        if not times:
            entry.update(start_s=None, end_s=None, faults=[], nodes=sorted(nodes), lines=[])
            out.append(entry)
            continue
        t0, t1 = min(times), max(times)
        hits = []
        for k, f in enumerate(run.faults):
            stop = f.stop_s if f.stop_s is not None else run.end_s
            if f.start_s <= t1 and stop >= t0:
                hits.append({"fault": k, "kind": f.kind, "relation": "overlaps", "gap_s": 0.0})
            elif t0 - follow_s <= stop < t0:
                hits.append({"fault": k, "kind": f.kind, "relation": "precedes", "gap_s": round(t0 - stop, 3)})
        lines = []
        for n in sorted(nodes):
            ts = log_times.get(n)
            if not ts:
                continue
            lo = bisect.bisect_left(ts, t0 - margin_s)
            hi = bisect.bisect_right(ts, t1 + margin_s)
            for t, lvl, msg in run.logs[n][lo:min(hi, lo + MAX_LINES)]:
                lines.append([n, t, lvl, msg])
        lines.sort(key=lambda r: r[1] if r[1] is not None else 0.0)
        entry.update(start_s=round(t0, 6), end_s=round(t1, 6), faults=hits, nodes=sorted(nodes), lines=lines)
        out.append(entry)
    return out
