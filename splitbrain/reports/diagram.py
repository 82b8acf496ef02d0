"""The data of the report's space-time diagram and node-state bands, packed for the page.

A run can hold a hundred thousand messages; the page must open fast and stay one
file. So the messages travel as columns of small integers, sorted by send time:
send times as deltas in microseconds, delivery as the latency in microseconds (-1:
never delivered), node and type as indices into short tables. That is ~12 bytes
per message, and the page draws only the slice in view (binary search on the send
times), so zooming is as fast at 100k messages as at 100.

Node states become per-node runs ``[t_us, up, role, term, leader]``; kill and pause
faults from the history mark nodes down/paused even when no poll saw it (a system
without a status call still gets bands of up/down).

The default window is the anomaly's: the span of the first localized anomaly,
widened by a margin, so the diagram opens on the messages that explain it.
"""

from __future__ import annotations

from typing import Any

from splitbrain.reports.rundata import RunData

#: messages packed into the page (the file holds up to the recorder's cap; past this, the ones nearest
#: the anomaly window are kept)
MAX_PAGE_MESSAGES = 250_000
MARGIN_BEFORE_S = 1.0
MARGIN_AFTER_S = 0.5
FAULT_CODES = ("partition", "loss", "delay")
ID_PREFERENCE = ("term", "b", "epoch", "slot", "seq", "rid", "msg_id")


def _us(ns: int | None) -> int:
    return -1 if ns is None else round(ns / 1e3)


def default_window(run: RunData, localization: list[dict[str, Any]]) -> list[float] | None:
    """[start_s, end_s] around the first localized anomaly and the first counterexample core
    (both are drawn on the client lanes); None without an anomaly."""
    spans = [e for e in localization if e.get("start_s") is not None and e.get("end_s") is not None]
    if not spans:
        return None
    pick = [spans[0]] + [e for e in spans[1:] if e.get("kind") == "counterexample core"][:1]
    t0, t1 = min(e["start_s"] for e in pick), max(e["end_s"] for e in pick)
    return [max(0.0, t0 - MARGIN_BEFORE_S), min(max(run.end_s, t1), t1 + MARGIN_AFTER_S)]


def pack_messages(run: RunData, window: list[float] | None) -> dict[str, Any] | None:
    msgs = run.messages
    if msgs is None:
        return None
    recs = [m for m in msgs if m.send_ns is not None and m.kind == "node"]
    recs.sort(key=lambda m: m.send_ns or 0)
    note = None
    if len(recs) > MAX_PAGE_MESSAGES:
        mid = ((window[0] + window[1]) / 2 * 1e9) if window else 0.0
        keep = sorted(recs, key=lambda m: abs((m.send_ns or 0) - mid))[:MAX_PAGE_MESSAGES]
        keep.sort(key=lambda m: m.send_ns or 0)
        note = f"the diagram holds the {MAX_PAGE_MESSAGES:,} of {len(recs):,} messages nearest the anomaly"
        recs = keep
    nodes: dict[str, int] = {n: i for i, n in enumerate(run.node_names)}
    types: dict[str, int] = {}
    s, d, dt, lat, ty, fl, idv = [], [], [], [], [], [], []
    id_names: dict[str, int] = {}
    idk: list[int] = []
    prev = 0
    for m in recs:
        t0 = _us(m.send_ns)
        s.append(nodes.setdefault(m.src, len(nodes)))
        d.append(nodes.setdefault(m.dest, len(nodes)))
        dt.append(t0 - prev)
        prev = t0
        lat.append(-1 if m.dropped or m.deliver_ns is None else max(0, _us(m.deliver_ns) - t0))
        ty.append(types.setdefault(m.type, len(types)))
        fl.append(FAULT_CODES.index(m.fault) if m.fault in FAULT_CODES else -1)
        key = next((k for k in ID_PREFERENCE if m.ids and k in m.ids), None)
        if key is None:
            idk.append(-1)
            idv.append(0)
        else:
            idk.append(id_names.setdefault(key, len(id_names)))
            idv.append(int((m.ids or {})[key]))
    return {"nodes": list(nodes), "types": list(types), "faults": list(FAULT_CODES), "id_names": list(id_names),
            "src": s, "dst": d, "dt": dt, "lat": lat, "type": ty, "fault": fl, "idk": idk, "idv": idv,
            "count": len(recs), "note": note}


def pack_states(run: RunData) -> dict[str, Any]:
    """Per node: ``[t_us, up, role index, term, leader index]`` runs, plus kill/pause windows."""
    names = list(run.node_names)
    roles: dict[str, int] = {}
    per: dict[str, list[list[int]]] = {}
    for st in run.states or []:
        if st.node not in names:
            names.append(st.node)
        role = st.role if st.up else "down"
        per.setdefault(st.node, []).append([
            _us(st.t_ns), 1 if st.up else 0, roles.setdefault(str(role), len(roles)) if role is not None else -1,
            st.term if st.term is not None else -1,
            names.index(st.leader) if st.leader in names else -1])
    outages = []
    for k, f in enumerate(run.faults):
        if f.kind not in ("kill", "pause"):
            continue
        targets = f.targets.get("nodes") if isinstance(f.targets, dict) else f.targets
        for n in targets if isinstance(targets, list) else []:
            if isinstance(n, str):
                if n not in names:
                    names.append(n)
                outages.append([names.index(n), f.kind, f.start_s, f.stop_s if f.stop_s is not None else run.end_s, k])
    return {"nodes": names, "roles": list(roles), "runs": {n: per.get(n, []) for n in names}, "outages": outages,
            "polled": run.states is not None}
