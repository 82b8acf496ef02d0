"""The list-append checker: Elle's inference for transactions over append-only lists.

Ops: ``txn`` with value ``[["append", k, v] | ["r", k, null], ...]``; an ``ok``
completion carries the same micro-ops with every read filled in (the list of
values appended to ``k`` so far; ``null`` means empty). The workload appends each
value at most once per key, so a read *names* the version it saw, and the order
of a key's versions can be read straight off the longest read: every other read
of that key must be a prefix of it.

Checked here (each becomes an anomaly pointing at history indices):

* ``incompatible-order``: two reads of a key where neither is a prefix of the other;
* ``duplicate-elements``: a read lists a value twice (an append applied twice);
* ``garbage-read``: a read shows a value no transaction ever appended;
* ``G1a`` (aborted read): a read shows a value appended by a *failed* transaction;
* ``G1b`` (intermediate read): a read ends at a value its writer later overwrote
  in the same transaction;
* ``internal``: a transaction's read disagrees with its own earlier reads/appends;
* ``lost-append`` (with ``realtime``): an acknowledged append that no read ever
  shows, although reads of its key began after it was acknowledged;
* dependency cycles G0, G1c, G-single, G2-item (and their ``-realtime`` forms),
  found by :mod:`splitbrain.checkers._elle` on the ww/wr/rw(/rt) graph, each
  with its transactions and labelled edges so a report can draw it.

``realtime`` (default on: the systems under test promise linearizability, so
transactions should be strictly serializable) adds real-time edges and the
lost-append check. ``timeout_s`` bounds the work; a search cut short with
nothing found ends ``unknown``, never ``valid``.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from splitbrain.checkers import _elle
from splitbrain.checkers._common import (
    MAX_ANOMALIES_PER_KIND,
    Budget,
    bad_shape,
    call_ops,
    client_calls,
    freeze,
    inv_pos,
    ret_pos,
    sort_key,
    thaw,
)
from splitbrain.checkers.result import Anomaly, Result, Valid
from splitbrain.errors import BadInputError
from splitbrain.history import Call, History

Mop = tuple[str, Any, Any]  # (f, frozen key, value: appended value or read list of frozen values)


@dataclass
class Txn:
    call: Call
    mops: list[Mop]
    raw: Any  # the value as recorded (output when ok), for reports

    @property
    def id(self) -> int:
        return self.call.id

    @property
    def status(self) -> str:
        return self.call.type


@dataclass
class _State:
    txns: dict[int, Txn] = field(default_factory=dict)
    writer: dict[tuple[Any, Any], int] = field(default_factory=dict)  # (key, value) -> txn id
    appends: dict[tuple[int, Any], list[Any]] = field(default_factory=dict)  # (txn, key) -> values in order
    reads: dict[Any, list[tuple[int, int, list[Any], bool]]] = field(default_factory=dict)  # key -> (txn, mop, list, external)
    anomalies: list[Anomaly] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def emit(self, kind: str, text: str, ops: list[int], key: Any = None, **data: Any) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= MAX_ANOMALIES_PER_KIND:
            self.anomalies.append(Anomaly(kind=kind, explanation=text, ops=sorted(set(ops)),
                                          key=thaw(key), data=data))


def _show(lst: list[Any], head: int = 4, tail: int = 4) -> str:
    """A list for an explanation: whole when short, else its ends (the data fields keep it whole)."""
    if len(lst) <= head + tail + 1:
        return repr([thaw(x) for x in lst])
    return (f"[{', '.join(repr(thaw(x)) for x in lst[:head])}, ... ({len(lst) - head - tail} more) ..., "
            f"{', '.join(repr(thaw(x)) for x in lst[-tail:])}]")


def _parse_mops(history: History, c: Call, value: Any, filled: bool) -> list[Mop]:
    what = "completion" if filled else "invocation"
    if not isinstance(value, list):
        raise bad_shape(history, c, f"txn {what} value must be a list of micro-ops, got {type(value).__name__}")
    out: list[Mop] = []
    for m in value:
        if not (isinstance(m, list) and len(m) == 3 and m[0] in ("append", "r")):
            raise bad_shape(history, c, f'micro-op must be ["append", k, v] or ["r", k, list], got {m!r}')
        f, k, v = m
        if f == "r" and filled:
            if v is None:
                v = []
            if not isinstance(v, list):
                raise bad_shape(history, c, f"read of {k!r} must return a list (or null), got {v!r}")
            v = [freeze(x) for x in v]
        elif f == "append":
            v = freeze(v)
        out.append((f, freeze(k), v))
    return out


def _collect(history: History) -> _State:
    st = _State()
    for c in client_calls(history):
        if c.f != "txn":
            continue
        mops = _parse_mops(history, c, c.value, filled=False)
        raw = c.value
        if c.type == "ok":
            out = _parse_mops(history, c, c.output, filled=True)
            if [(f, k) for f, k, _ in out] != [(f, k) for f, k, _ in mops]:
                raise bad_shape(history, c, "completion micro-ops do not match the invocation's")
            mops, raw = out, c.output
        t = Txn(c, mops, raw)
        st.txns[t.id] = t
        for f, k, v in mops:
            if f != "append":
                continue
            if (k, v) in st.writer:
                other = st.txns[st.writer[(k, v)]].call.invoke_index
                raise BadInputError(
                    f"value {thaw(v)!r} is appended to key {thaw(k)!r} twice (ops {other} and {c.invoke_index}); "
                    "list-append needs unique values per key", history.source)
            st.writer[(k, v)] = t.id
            st.appends.setdefault((t.id, k), []).append(v)
    return st


def _internal(st: _State, t: Txn) -> None:
    """Reads inside one txn must agree with its own earlier reads and appends; record external reads."""
    known: dict[Any, list[Any] | None] = {}
    suffix: dict[Any, list[Any]] = {}
    for i, (f, k, v) in enumerate(t.mops):
        if f == "append":
            suffix.setdefault(k, []).append(v)
            continue
        external = k not in known and not suffix.get(k)
        st.reads.setdefault(k, []).append((t.id, i, v, external))
        prior, tail = known.get(k), suffix.get(k, [])
        ok = (prior + tail == v) if prior is not None else (not tail or v[-len(tail):] == tail)
        if not ok:
            expected = _show(prior + tail) if prior is not None else f"a list ending with {_show(tail)}"
            st.emit("internal", f"txn {t.call.invoke_index} read {thaw(k)!r} as {_show(v)} but its own "
                                f"earlier micro-ops imply {expected}", call_ops(t.call), key=k, mop=i)
        known[k], suffix[k] = v, []


def _versions(st: _State) -> dict[Any, list[Any]]:
    """Per-key version order from the longest read, reporting reads that disagree with it."""
    orders: dict[Any, list[Any]] = {}
    for k, reads in st.reads.items():
        tid, _, longest, _ = max(reads, key=lambda r: (len(r[2]), -r[0]))
        orders[k] = longest
        reported: set[int] = set()
        for rid, _, lst, _ in reads:
            if lst != longest[: len(lst)] and rid not in reported:
                reported.add(rid)
                a, b = st.txns[rid].call, st.txns[tid].call
                st.emit("incompatible-order",
                        f"reads of {thaw(k)!r} by txns {a.invoke_index} and {b.invoke_index} disagree: "
                        f"{_show(lst)} is not a prefix of {_show(longest)}",
                        call_ops(a) + call_ops(b), key=k,
                        reads=[[thaw(x) for x in lst], [thaw(x) for x in longest]])
    return orders


def _read_anomalies(st: _State) -> None:
    for k, reads in st.reads.items():
        for rid, _, lst, _ in reads:
            r = st.txns[rid].call
            if len(set(lst)) != len(lst):
                dups = [thaw(x) for x, n in Counter(lst).items() if n > 1]
                st.emit("duplicate-elements", f"txn {r.invoke_index} read {thaw(k)!r} with {dups} more than once "
                                              "(an append applied twice)", call_ops(r), key=k, values=dups)
            for x in lst:
                w = st.writer.get((k, x))
                if w is None:
                    st.emit("garbage-read", f"txn {r.invoke_index} read {thaw(x)!r} in {thaw(k)!r}, which no txn appended",
                            call_ops(r), key=k, value=thaw(x))
                elif st.txns[w].status == "fail":
                    wc = st.txns[w].call
                    st.emit("G1a", f"txn {r.invoke_index} read {thaw(x)!r} in {thaw(k)!r}, appended by txn "
                                   f"{wc.invoke_index} which failed (aborted read)",
                            call_ops(r) + call_ops(wc), key=k, value=thaw(x), writer=wc.invoke_index)
            if lst:
                w = st.writer.get((k, lst[-1]))
                if w is not None and w != rid:
                    mine = st.appends[(w, k)]
                    if mine[-1] != lst[-1]:
                        wc = st.txns[w].call
                        st.emit("G1b", f"txn {r.invoke_index} read {thaw(k)!r} ending at {thaw(lst[-1])!r}, an "
                                       f"intermediate append of txn {wc.invoke_index} (which then appended "
                                       f"{thaw(mine[-1])!r})", call_ops(r) + call_ops(wc), key=k, value=thaw(lst[-1]))


def _lost(st: _State) -> int:
    seen = {k: {x for _, _, lst, _ in reads for x in lst} for k, reads in st.reads.items()}
    last_read_start = {k: max(inv_pos(st.txns[rid].call) for rid, _, _, _ in reads) for k, reads in st.reads.items()}
    lost = 0
    for (k, v), w in st.writer.items():
        t = st.txns[w]
        if t.status == "ok" and v not in seen.get(k, ()) and last_read_start.get(k, -1) > ret_pos(t.call):
            lost += 1
            st.emit("lost-append", f"txn {t.call.invoke_index} appended {thaw(v)!r} to {thaw(k)!r} and was "
                                   "acknowledged, but no read shows it, though reads of the key began later",
                    call_ops(t.call), key=k, value=thaw(v))
    return lost


def _graph(st: _State, orders: dict[Any, list[Any]], realtime: bool) -> tuple[set[int], _elle.Edges]:
    live = {tid for tid, t in st.txns.items() if t.status == "ok"}
    observed = {st.writer[(k, x)] for k, order in orders.items() for x in order if (k, x) in st.writer}
    nodes = live | {tid for tid in observed if st.txns[tid].status == "info"}
    edges: _elle.Edges = {}
    for k, order in orders.items():
        ws = [st.writer.get((k, x)) for x in order]
        for i in range(len(order) - 1):
            a, b = ws[i], ws[i + 1]
            if a in nodes and b in nodes:
                _elle.add_edge(edges, a, b, "ww", {"key": thaw(k), "values": [thaw(order[i]), thaw(order[i + 1])]})
        for rid, _, lst, external in st.reads.get(k, []):
            if not external or lst != order[: len(lst)]:
                continue
            if lst:
                w = ws[len(lst) - 1]
                if w in nodes:
                    _elle.add_edge(edges, w, rid, "wr", {"key": thaw(k), "value": thaw(lst[-1])})
            if len(lst) < len(order) and ws[len(lst)] in nodes:
                _elle.add_edge(edges, rid, ws[len(lst)], "rw",  # type: ignore[arg-type]
                               {"key": thaw(k), "read": thaw(lst[-1]) if lst else None, "next": thaw(order[len(lst)])})
    if realtime:
        events = sorted([(inv_pos(st.txns[n].call), 1, n) for n in nodes] +
                        [(ret_pos(st.txns[n].call), 0, n) for n in nodes if st.txns[n].status == "ok"])
        frontier: set[int] = set()
        preds: dict[int, tuple[int, ...]] = {}
        for _, is_inv, n in events:
            if is_inv:
                preds[n] = tuple(frontier)
                for p in preds[n]:
                    _elle.add_edge(edges, p, n, "rt", {})
            else:
                frontier.difference_update(preds.get(n, ()))
                frontier.add(n)
    return nodes, edges


def _cycle_anomaly(st: _State, cyc: list[tuple[int, int, str]], edges: _elle.Edges) -> None:
    kind = _elle.classify(t for _, _, t in cyc)
    txns = [st.txns[a] for a, _, _ in cyc]
    steps = " -> ".join(f"{st.txns[a].call.invoke_index} -{t}{'(' + repr(edges[(a, b)][t].get('key')) + ')' if t != 'rt' else ''}"
                        for a, b, t in cyc) + f" -> {txns[0].call.invoke_index}"
    st.emit(kind, f"dependency cycle {steps}",
            [i for t in txns for i in call_ops(t.call)],
            cycle=[{"index": t.call.invoke_index, "complete": t.call.complete_index, "type": t.status,
                    "process": t.call.process, "value": t.raw} for t in txns],
            edges=[{"from": st.txns[a].call.invoke_index, "to": st.txns[b].call.invoke_index, "type": t,
                    **edges[(a, b)][t]} for a, b, t in cyc])


def check_list_append(history: History, *, realtime: bool = True, timeout_s: float | None = 60.0,
                      max_cycles: int = 20, **_opts: Any) -> Result:
    """Elle-style list-append check (see the module docstring)."""
    t0 = time.monotonic()
    budget = Budget(timeout_s)
    st = _collect(history)
    for t in st.txns.values():
        if t.status == "ok":
            _internal(st, t)
    orders = _versions(st)
    _read_anomalies(st)
    lost = _lost(st) if realtime else 0
    nodes, edges = _graph(st, orders, realtime)
    cycles, gstats = _elle.find_cycles(nodes, edges, realtime=realtime, budget=budget, max_cycles=max_cycles)
    for cyc in cycles:
        _cycle_anomaly(st, cyc, edges)
    status = Counter(t.status for t in st.txns.values())
    stats: dict[str, Any] = {
        "txns": len(st.txns), "ok": status["ok"], "info": status["info"], "fail": status["fail"],
        "keys": len(orders), "appends": len(st.writer), "lost_appends": lost,
        "longest_list": max(map(len, orders.values()), default=0),
        "graph": gstats, "anomaly_counts": dict(st.counts),
    }
    valid: Valid
    if st.counts:
        valid = False
        summary = ", ".join(f"{n} {k}" for k, n in sorted(st.counts.items()))
        if gstats["cyclic_components"] > len(cycles):
            summary += (f"; {gstats['cyclic_components']} cyclic components in all "
                        f"(at most {max_cycles} cycles listed)")
    elif not gstats["search_complete"]:
        valid, summary = "unknown", f"time limit ({timeout_s} s) reached before the search completed"
    elif status["ok"] == 0:
        valid, summary = "unknown", "no transaction was acknowledged: nothing to judge"
    else:
        valid = True
        summary = (f"{status['ok']} ok txns over {len(orders)} keys: no anomalies "
                   f"({'strict ' if realtime else ''}serializable)")
    return Result(checker="list-append", valid=valid, summary=summary,
                  anomalies=sorted(st.anomalies, key=lambda a: (sort_key(a.kind), a.ops[:1])),
                  stats=stats, seconds=time.monotonic() - t0)
