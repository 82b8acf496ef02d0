"""Elle's rw-register checker: transactions of register reads and writes, ``[[w k v] [r k v]]``.

Every value is written to a key at most once, so a read names its writer
(``wr``). Unlike list-append, a read does not reveal the order of earlier
versions, so the version order is only partly known (Elle's ``elle.rw-register``):

* the initial state ``null`` precedes every value a transaction wrote or read;
* with ``wfr_keys`` ("writes follow reads"), a transaction that read ``v`` and
  then wrote ``v'`` to the same key orders ``v < v'``;

each known ``v1 < v2`` then gives ``ww`` edges from the writers of ``v1`` to the
writers of ``v2`` and ``rw`` edges from the readers of ``v1`` to them. A cycle in
the version order itself is ``cyclic-versions`` (and that source is not used).
Only a transaction's *external* reads and writes count: its first read of a key
before writing it, and its last write of a key.

Non-cycle anomalies: ``internal`` (a read that disagrees with the transaction's
own earlier write or read), ``G1a`` (a read of a failed write), ``G1b`` (a read
of a value its writer overwrote in the same transaction), ``lost-update``.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import networkx as nx

from splitbrain.checkers._common import call_ops, client_calls
from splitbrain.checkers.consistency import parse_expectation
from splitbrain.checkers.list_append import Txn, lost_updates, parse_txn
from splitbrain.checkers.result import Result
from splitbrain.checkers.txn_check import Found, TxnView, judge
from splitbrain.checkers.txn_graph import RW, WR, WW, TxnGraph
from splitbrain.checkers.values import freeze, thaw
from splitbrain.errors import BadInputError
from splitbrain.history import History


def _collect(history: History) -> dict[int, Txn]:
    txns: dict[int, Txn] = {}
    for c in client_calls(history):
        if c.f != "txn":
            continue
        mops = parse_txn(history, c, c.value, False, ("w",))
        raw = c.value
        if c.type == "ok":
            out = parse_txn(history, c, c.output, True, ("w",))
            if [(f, k) for f, k, _ in out] != [(f, k) for f, k, _ in mops]:
                raise BadInputError(f"op {c.complete_index}: completion micro-ops do not match the invocation's",
                                    history.source)
            mops, raw = out, c.output
        else:
            mops = [(f, k, None if f == "r" else v) for f, k, v in mops]
        txns[c.id] = Txn(c, [(f, k, freeze(v)) for f, k, v in mops], raw)
    return txns


def ext_reads(t: Txn) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    written: set[Any] = set()
    for f, k, v in t.mops:
        if f == "w":
            written.add(k)
        elif k not in written and k not in out:
            out[k] = v
    return out


def ext_writes(t: Txn) -> dict[Any, Any]:
    return {k: v for f, k, v in t.mops if f == "w"}


def _internal(t: Txn, found: Found) -> None:
    state: dict[Any, Any] = {}
    for i, (f, k, v) in enumerate(t.mops):
        if f == "r" and state.get(k) is not None and state[k] != v:
            found.add("internal", f"txn {t.call.invoke_index} read {thaw(k)!r} = {thaw(v)!r} but its own earlier "
                      f"micro-ops imply {thaw(state[k])!r}", call_ops(t.call), key=k, mop=i, expected=thaw(state[k]))
            return
        state[k] = v


def _dirty_reads(txns: dict[int, Txn], found: Found) -> None:
    failed: dict[tuple[Any, Any], Txn] = {}
    inter: dict[tuple[Any, Any], Txn] = {}
    for t in txns.values():
        last: dict[Any, Any] = {}
        for f, k, v in t.mops:
            if f != "w":
                continue
            if t.status == "fail":
                failed[(k, v)] = t
            if k in last:
                inter[(k, last[k])] = t
            last[k] = v
    for t in txns.values():
        if t.status != "ok":
            continue
        for i, (f, k, v) in enumerate(t.mops):
            if f != "r":
                continue
            w = failed.get((k, v))
            if w is not None:
                found.add("G1a", f"txn {t.call.invoke_index} read {thaw(k)!r} = {thaw(v)!r}, written by txn "
                          f"{w.call.invoke_index} which failed", call_ops(t.call) + call_ops(w.call), key=k, mop=i,
                          writer=w.call.invoke_index)
            w = inter.get((k, v))
            if w is not None and w.id != t.id:
                found.add("G1b", f"txn {t.call.invoke_index} read {thaw(k)!r} = {thaw(v)!r}, an intermediate write "
                          f"of txn {w.call.invoke_index}", call_ops(t.call) + call_ops(w.call), key=k, mop=i,
                          writer=w.call.invoke_index)


NIL: Any = ("__nil__",)  # the initial state in a version graph (networkx nodes cannot be None)


def _version_graphs(txns: dict[int, Txn], wfr_keys: bool, found: Found) -> dict[Any, nx.DiGraph]:
    """Per key, the known ``v1 < v2`` pairs; ``None`` is the initial state."""
    initial: dict[Any, nx.DiGraph] = {}
    for t in txns.values():
        if t.status not in ("ok", "info"):
            continue
        kvs = list(ext_writes(t).items()) + (list(ext_reads(t).items()) if t.status == "ok" else [])
        for k, v in kvs:
            if v is not None:
                initial.setdefault(k, nx.DiGraph()).add_edge(NIL, v)
    if not wfr_keys:
        return initial
    merged = {k: g.copy() for k, g in initial.items()}
    for t in txns.values():
        if t.status == "ok":
            writes = ext_writes(t)
            for k, v in ext_reads(t).items():
                if v is not None and k in writes and writes[k] != v:
                    merged.setdefault(k, nx.DiGraph()).add_edge(v, writes[k])
    cyclic = False
    for k, g in merged.items():
        for scc in nx.strongly_connected_components(g):
            if len(scc) > 1:
                cyclic = True
                found.add("cyclic-versions", f"the version order of {thaw(k)!r} (writes following reads) is cyclic: "
                          f"{sorted(repr(thaw(v)) for v in scc)}", [], key=k, scc=[thaw(v) for v in scc])
    return initial if cyclic else merged


def _graph(txns: dict[int, Txn], versions: dict[Any, nx.DiGraph], history: History) -> TxnGraph:
    g = TxnGraph()
    writers: dict[tuple[Any, Any], list[int]] = {}
    readers: dict[tuple[Any, Any], list[int]] = {}
    for t in txns.values():
        if t.status != "ok":
            continue
        for k, v in ext_writes(t).items():
            writers.setdefault((k, v), []).append(t.id)
        for k, v in ext_reads(t).items():
            readers.setdefault((k, v), []).append(t.id)
    for (k, v), ws in writers.items():
        if len(ws) > 1:
            raise BadInputError(f"key {thaw(k)!r} had value {thaw(v)!r} written by more than one transaction (ops "
                                f"{', '.join(str(txns[w].call.invoke_index) for w in ws)}); rw-register needs "
                                "unique writes per key", history.source)
        for r in readers.get((k, v), ()):
            g.link(ws[0], r, WR, {"key": k, "value": v, "read": txns[r].call.invoke_index})
    for k, vg in versions.items():
        for n1, v2 in vg.edges:
            v1 = None if n1 == NIL else n1
            for w2 in writers.get((k, v2), ()):
                for w1 in writers.get((k, v1), ()):
                    g.link(w1, w2, WW, {"key": k, "value": v1, "value2": v2})
                for r1 in readers.get((k, v1), ()):
                    g.link(r1, w2, RW, {"key": k, "value": v1, "value2": v2, "initial": v1 is None,
                                        "read": txns[r1].call.invoke_index})
    return g


def check_rw_register(history: History, *, consistency_models: Any = None, anomalies: Any = None,
                      wfr_keys: bool = False, timeout_s: float | None = 60.0, cycle_search_timeout_s: float = 1.0,
                      **_opts: Any) -> Result:
    """Elle's rw-register check (see the module docstring)."""
    t0 = time.monotonic()
    expect = parse_expectation(consistency_models, anomalies)
    txns = _collect(history)
    found = Found()
    for t in txns.values():
        if t.status == "ok":
            _internal(t, found)
    _dirty_reads(txns, found)
    lost_updates(txns, "w", found)
    versions = _version_graphs(txns, wfr_keys, found)
    g = _graph(txns, versions, history)
    nodes = {tid for tid, t in txns.items() if t.status in ("ok", "info")}
    status = Counter(t.status for t in txns.values())
    stats: dict[str, Any] = {"txns": len(txns), "ok": status["ok"], "info": status["info"], "fail": status["fail"],
                             "keys": len(versions)}
    views = {tid: TxnView(t.call, t.raw) for tid, t in txns.items()}
    return judge("rw-register", expect, g, nodes, [t.call for t in txns.values()], views, found, stats, t0,
                 timeout_s, cycle_search_timeout_s)
