"""The list-append checker: Elle's inference for transactions over append-only lists.

Ops: ``txn`` with value ``[["append", k, v] | ["r", k, null], ...]``; an ``ok``
completion carries the same micro-ops with every read filled in (the list of
values appended to ``k`` so far; ``null`` means empty). Each value is appended
to a key at most once, so a read *names* the version it saw.

Inference (Kingsbury & Alvaro 2020, section 3; Elle's ``elle.list-append``):

* **version order** of a key = the longest list read from it (every other read
  must be a prefix: else ``incompatible-order``); a key appended exactly once
  and never read non-empty has the order ``[v]``; the empty list is the
  initial state, before every append;
* **unobserved appends** (in no read) come after the longest read, so the
  transactions that read that last version anti-depend on them (``rw``), and its
  writer precedes them (``ww``);
* ``wr``: a read ending at ``v`` follows the append of ``v``; ``ww``: an append
  follows the append just before it in the order; ``rw``: a read ending at ``v``
  (or empty) precedes the append just after ``v`` (or the first append);
* order edges (process, real time) come from :mod:`splitbrain.checkers.txn_check`.

Non-cycle anomalies, with Elle's names: ``G1a`` (read of a failed append),
``G1b`` (read ending at an intermediate append of another transaction),
``dirty-update`` (a committed append right after a failed one in the order),
``internal`` (a read disagreeing with the transaction's own earlier reads and
appends), ``future-read`` (a transaction reads its own later append),
``duplicate-elements``, ``incompatible-order``, ``lost-update`` (two committed
transactions read the same version of a key and both appended to it), and
splitbrain's ``garbage-read`` (a value nobody appended; implies G1a).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from splitbrain.checkers._common import bad_shape, call_ops, client_calls
from splitbrain.checkers.consistency import Expectation, parse_expectation
from splitbrain.checkers.result import Result
from splitbrain.checkers.txn_check import Found, TxnView, judge
from splitbrain.checkers.txn_graph import RW, WR, WW, TxnGraph
from splitbrain.checkers.values import freeze, thaw
from splitbrain.errors import BadInputError
from splitbrain.history import Call, History

Mop = tuple[str, Any, Any]  # (f, frozen key, appended value | tuple of read values)
INIT: Any = ("__init__",)  # the empty initial version of every key


@dataclass
class Txn:
    call: Call
    mops: list[Mop]
    raw: Any

    @property
    def id(self) -> int:
        return self.call.id

    @property
    def status(self) -> str:
        return self.call.type


def parse_txn(history: History, c: Call, value: Any, filled: bool, write_fs: tuple[str, ...]) -> list[Mop]:
    """Micro-ops of a transaction (shared with rw-register); ``[f, k]`` is read as ``[f, k, null]``."""
    what = "completion" if filled else "invocation"
    if not isinstance(value, list):
        raise bad_shape(history, c, f"txn {what} value must be a list of micro-ops, got {type(value).__name__}")
    out: list[Mop] = []
    for m in value:
        if isinstance(m, list) and len(m) == 2:
            m = [*m, None]
        if not (isinstance(m, list) and len(m) == 3 and m[0] in ("r", *write_fs)):
            raise bad_shape(history, c, f"micro-op must be [{'|'.join(write_fs)}, k, v] or [\"r\", k, v], got {m!r}")
        out.append((m[0], freeze(m[1]), m[2]))
    return out


def _collect(history: History) -> dict[int, Txn]:
    txns: dict[int, Txn] = {}
    for c in client_calls(history):
        if c.f != "txn":
            continue
        mops = parse_txn(history, c, c.value, False, ("append",))
        raw = c.value
        if c.type == "ok":
            out = parse_txn(history, c, c.output, True, ("append",))
            if [(f, k) for f, k, _ in out] != [(f, k) for f, k, _ in mops]:
                raise bad_shape(history, c, "completion micro-ops do not match the invocation's")
            mops, raw = out, c.output
        norm: list[Mop] = []
        for f, k, v in mops:
            if f == "append":
                norm.append((f, k, freeze(v)))
            elif c.type == "ok":
                if v is not None and not isinstance(v, list):
                    raise bad_shape(history, c, f"read of {thaw(k)!r} must return a list (or null), got {v!r}")
                norm.append((f, k, tuple(freeze(x) for x in v or ())))
            else:
                norm.append((f, k, None))  # an unfinished read saw nothing we know
        txns[c.id] = Txn(c, norm, raw)
    return txns


def _show(t: Txn) -> str:
    return f"txn {t.call.invoke_index}"


def _internal(t: Txn, found: Found) -> None:
    """Elle's INT check and future reads, within one committed transaction."""
    state: dict[Any, tuple[bool, list[Any]]] = {}  # key -> (prefix unknown?, expected list or suffix)
    first_read: dict[tuple[Any, Any], int] = {}
    int_done = fut_done = False
    for i, (f, k, v) in enumerate(t.mops):
        if f == "append":
            if (k, v) in first_read and not fut_done:
                fut_done = True
                found.add("future-read", f"{_show(t)} read {thaw(k)!r} containing {thaw(v)!r} (micro-op "
                          f"{first_read[(k, v)]}) before appending it itself", call_ops(t.call), key=k,
                          mop=first_read[(k, v)], element=thaw(v))
            unknown, lst = state.get(k, (True, []))
            state[k] = (unknown, [*lst, v])
            continue
        for x in v:
            first_read.setdefault((k, x), i)
        got = list(v)
        if k in state and not int_done:
            unknown, exp = state[k]
            bad = (len(got) < len(exp) or got[len(got) - len(exp):] != exp) if unknown else got != exp
            if bad:
                int_done = True
                shown = (["..."] if unknown else []) + [thaw(x) for x in exp]
                found.add("internal", f"{_show(t)} read {thaw(k)!r} as {[thaw(x) for x in got]} but its own earlier "
                          f"micro-ops imply {shown}", call_ops(t.call), key=k, mop=i, expected=shown,
                          read=[thaw(x) for x in got])
                continue
        state[k] = (False, got)


def _reads(txns: dict[int, Txn], statuses: tuple[str, ...]) -> list[tuple[Txn, int, Any, tuple[Any, ...]]]:
    return [(t, i, k, v) for t in txns.values() if t.status in statuses
            for i, (f, k, v) in enumerate(t.mops) if f == "r" and v is not None]


def _orders(txns: dict[int, Txn], found: Found) -> dict[Any, list[Any]]:
    """Per-key version order (Elle's sorted values + single-append inference), reporting
    duplicate elements and incompatible orders."""
    values: dict[Any, set[tuple[Any, ...]]] = {}
    for t, i, k, v in _reads(txns, ("ok", "info")):
        dup = {x: n for x, n in Counter(v).items() if n > 1}
        if dup:
            found.add("duplicate-elements", f"{_show(t)} read {thaw(k)!r} as {[thaw(x) for x in v]}, with "
                      f"{[thaw(x) for x in dup]} more than once", call_ops(t.call), key=k, mop=i,
                      duplicates={repr(thaw(x)): n for x, n in dup.items()})
        if v:
            values.setdefault(k, set()).add(v)
    appends: Counter[Any] = Counter()
    single: dict[Any, Any] = {}
    for t in txns.values():
        if t.status in ("ok", "info"):
            for f, k, v in t.mops:
                if f == "append":
                    appends[k] += 1
                    single[k] = v
    orders: dict[Any, list[Any]] = {k: [single[k]] for k, n in appends.items() if n == 1 and k not in values}
    for k, vs in values.items():
        srt = sorted(vs, key=len)
        for a, b in zip(srt, srt[1:], strict=False):
            if b[: len(a)] != a:
                found.add("incompatible-order", f"reads of {thaw(k)!r} disagree: {[thaw(x) for x in a]} is not a "
                          f"prefix of {[thaw(x) for x in b]}", [], key=k,
                          values=[[thaw(x) for x in a], [thaw(x) for x in b]])
                break
        orders[k] = list(dict.fromkeys(srt[-1]))
    return orders


def _aborted_and_intermediate(txns: dict[int, Txn], found: Found) -> None:
    failed: dict[tuple[Any, Any], Txn] = {}
    inter: dict[tuple[Any, Any], Txn] = {}
    everyone: set[tuple[Any, Any]] = set()
    for t in txns.values():
        last: dict[Any, Any] = {}
        for f, k, v in t.mops:
            if f != "append":
                continue
            everyone.add((k, v))
            if t.status == "fail":
                failed[(k, v)] = t
            if k in last:
                inter[(k, last[k])] = t
            last[k] = v
    for t, i, k, v in _reads(txns, ("ok",)):
        for x in v:
            w = failed.get((k, x))
            if w is not None:
                found.add("G1a", f"{_show(t)} read {thaw(x)!r} in {thaw(k)!r}, appended by {_show(w)} which failed "
                          "(aborted read)", call_ops(t.call) + call_ops(w.call), key=k, mop=i, element=thaw(x),
                          writer=w.call.invoke_index)
            elif (k, x) not in everyone:
                found.add("garbage-read", f"{_show(t)} read {thaw(x)!r} in {thaw(k)!r}, which no transaction "
                          "appended", call_ops(t.call), key=k, mop=i, element=thaw(x))
        if v:
            w = inter.get((k, v[-1]))
            if w is not None and w.id != t.id:
                found.add("G1b", f"{_show(t)} read {thaw(k)!r} ending at {thaw(v[-1])!r}, an intermediate append "
                          f"of {_show(w)} (which appended to {thaw(k)!r} again later)",
                          call_ops(t.call) + call_ops(w.call), key=k, mop=i, element=thaw(v[-1]),
                          writer=w.call.invoke_index)


def _dirty_updates(txns: dict[int, Txn], orders: dict[Any, list[Any]], found: Found) -> None:
    """A committed append right after a failed one (Elle's dirty update), walking each order."""
    writer = {(k, v): t for t in txns.values() for f, k, v in t.mops if f == "append"}
    for k, order in orders.items():
        last_status, last = "ok", None  # the initial state counts as committed
        span: list[Any] = []
        for v in order:
            w = writer.get((k, v))
            if w is None:
                break
            span = [*span, v]
            if w.status == "ok":
                if last_status == "fail" and last is not None:
                    found.add("dirty-update", f"{_show(w)} appended {thaw(v)!r} to {thaw(k)!r} on top of "
                              f"{_show(last)}'s failed append ({[thaw(x) for x in span]})",
                              call_ops(last.call) + call_ops(w.call), key=k, values=[thaw(x) for x in span],
                              txns=[last.call.invoke_index, w.call.invoke_index])
                last_status, last, span = "ok", w, [v]
            elif w.status == "fail" and last_status != "fail":
                last_status, last, span = "fail", w, [v]
            # an indeterminate append (or a failed one after a failed one) extends the span


def lost_updates(txns: dict[int, Txn], write_f: str, found: Found) -> None:
    """Two committed transactions read the same version of a key and both wrote it (shared with rw-register)."""
    groups: dict[tuple[Any, Any], list[Txn]] = {}
    for t in txns.values():
        if t.status != "ok":
            continue
        reads: dict[Any, Any] = {}
        written: set[Any] = set()
        for f, k, v in t.mops:
            if f == write_f and k not in written:
                if k in reads:
                    written.add(k)
                    groups.setdefault((k, reads[k]), []).append(t)
            elif f == "r" and k not in reads:
                reads[k] = v
    for (k, v), ts in groups.items():
        if len(ts) > 1:
            shown = [thaw(x) for x in v] if isinstance(v, tuple) else thaw(v)
            found.add("lost-update", f"{', '.join(_show(t) for t in ts)} all read {thaw(k)!r} = {shown!r} and all "
                      f"wrote {thaw(k)!r}: all but one update is lost", [i for t in ts for i in call_ops(t.call)],
                      key=k, value=shown, txns=[t.call.invoke_index for t in ts])


def _graph(txns: dict[int, Txn], orders: dict[Any, list[Any]], nodes: set[int]) -> TxnGraph:
    g = TxnGraph()
    writer: dict[tuple[Any, Any], int] = {}
    for tid in nodes:
        for f, k, v in txns[tid].mops:
            if f == "append":
                writer[(k, v)] = tid
    readers: dict[tuple[Any, Any], list[tuple[int, int]]] = {}
    for t, i, k, v in _reads({n: txns[n] for n in nodes}, ("ok", "info")):
        readers.setdefault((k, v[-1] if v else INIT), []).append((t.id, i))
        if v:
            w = writer.get((k, v[-1]))
            if w is not None and w != t.id:
                g.link(w, t.id, WR, {"key": k, "value": v[-1], "read": t.call.invoke_index})
    index = {k: {v: i for i, v in enumerate(order)} for k, order in orders.items()}
    for tid in nodes:
        for f, k, v in txns[tid].mops:
            if f != "append":
                continue
            order, pos = orders.get(k, []), index.get(k, {}).get(v)
            prev = (order[pos - 1] if pos else INIT) if pos is not None else (order[-1] if order else INIT)
            if prev is not INIT:
                w = writer.get((k, prev))
                if w is not None:
                    g.link(w, tid, WW, {"key": k, "value": prev, "value2": v})
            for rid, _ in readers.get((k, prev), ()):
                g.link(rid, tid, RW, {"key": k, "value": None if prev is INIT else prev, "value2": v,
                                      "initial": prev is INIT, "read": txns[rid].call.invoke_index})
    return g


def check_list_append(history: History, *, consistency_models: Any = None, anomalies: Any = None,
                      realtime: bool | None = None, timeout_s: float | None = 60.0,
                      cycle_search_timeout_s: float = 1.0, **_opts: Any) -> Result:
    """Elle's list-append check (see the module docstring). ``consistency_models`` /
    ``anomalies`` take Elle's names (default strict-serializable); ``realtime=False`` alone
    means serializable."""
    t0 = time.monotonic()
    if realtime is False and consistency_models is None and anomalies is None:
        consistency_models = ["serializable"]
    expect: Expectation = parse_expectation(consistency_models, anomalies)
    txns = _collect(history)
    seen: dict[tuple[Any, Any], int] = {}
    for t in txns.values():
        for f, k, v in t.mops:
            if f == "append":
                if (k, v) in seen and seen[(k, v)] != t.id:
                    raise BadInputError(f"value {thaw(v)!r} is appended to key {thaw(k)!r} twice (ops "
                                        f"{txns[seen[(k, v)]].call.invoke_index} and {t.call.invoke_index}); "
                                        "list-append needs unique values per key", history.source)
                seen[(k, v)] = t.id
    found = Found()
    for t in txns.values():
        if t.status == "ok":
            _internal(t, found)
    _aborted_and_intermediate(txns, found)
    orders = _orders(txns, found)
    _dirty_updates(txns, orders, found)
    lost_updates(txns, "append", found)
    nodes = {tid for tid, t in txns.items() if t.status in ("ok", "info")}
    g = _graph(txns, orders, nodes)
    status = Counter(t.status for t in txns.values())
    stats: dict[str, Any] = {"txns": len(txns), "ok": status["ok"], "info": status["info"], "fail": status["fail"],
                             "keys": len(orders), "appends": len(seen),
                             "longest_list": max(map(len, orders.values()), default=0)}
    calls = [t.call for t in txns.values()]
    views = {tid: TxnView(t.call, t.raw) for tid, t in txns.items()}
    return judge("list-append", expect, g, nodes, calls, views, found, stats, t0, timeout_s, cycle_search_timeout_s)
