"""The eventual-set checker: after healing, every node holds every acknowledged element.

For eventually consistent sets -- Maelstrom's broadcast and g-set workloads. Ops:
``add`` (or ``broadcast``) element -> element; ``read`` null -> list of elements,
with ``node`` naming the node that served it. Reads during the run may lag
(that is allowed); the verdict rests on each node's *final read*: its last
``ok`` read invoked after the last add was invoked (the run's final phase,
after the faults are healed and the cluster had time to converge).

* **lost**: an element whose add was acknowledged is missing from some node's
  final read (one anomaly per element, naming the nodes that lack it);
* **unexpected**: a read (any read) holds an element nobody tried to add;
* **failed-present**: an element whose every add *failed* is in some read.

With no final read on some node, that node cannot be judged: the result is
``unknown`` unless an anomaly was found elsewhere.

Stable latency (as Maelstrom's broadcast checker reports it): for each
acknowledged element, the time from its add's invocation to the end of the
last read that still lacked it (0 when none did); the median and max describe
how fast the cluster propagates, in milliseconds.
"""

from __future__ import annotations

import time
from typing import Any

from splitbrain.checkers._common import (
    MAX_ANOMALIES_PER_KIND,
    bad_shape,
    call_ops,
    client_calls,
    inv_pos,
    sort_key,
)
from splitbrain.checkers.result import Anomaly, Result, Valid
from splitbrain.checkers.values import freeze, thaw
from splitbrain.history import Call, History

ADD_FS = ("add", "broadcast")


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)


def check_eventual_set(history: History, **_opts: Any) -> Result:
    t0 = time.monotonic()
    adds: dict[Any, list[Call]] = {}
    reads: list[tuple[Call, frozenset[Any]]] = []
    for c in client_calls(history):
        if c.f in ADD_FS:
            adds.setdefault(freeze(c.value), []).append(c)
        elif c.f == "read" and c.type == "ok":
            if not isinstance(c.output, list):
                raise bad_shape(history, c, f"a read must return a list of elements, got {c.output!r}")
            reads.append((c, frozenset(freeze(x) for x in c.output)))
    acked = {e: min(c.call_time for c in cs) for e, cs in adds.items() if any(c.type == "ok" for c in cs)}
    failed = {e for e, cs in adds.items() if all(c.type == "fail" for c in cs)}
    last_add = max((inv_pos(c) for cs in adds.values() for c in cs), default=-1)
    nodes = sorted({c.node for c in client_calls(history) if c.node})
    final: dict[str, tuple[Call, frozenset[Any]]] = {}
    for c, seen in reads:
        if inv_pos(c) > last_add and c.node:
            final[c.node] = (c, seen)  # reads are in history order: the last one wins
    anomalies: list[Anomaly] = []
    counts = {"lost": 0, "unexpected": 0, "failed-present": 0}

    def emit(kind: str, a: Anomaly) -> None:
        counts[kind] += 1
        if counts[kind] <= MAX_ANOMALIES_PER_KIND:
            anomalies.append(a)

    for e in sorted(acked, key=sort_key):
        missing = [n for n, (_, seen) in sorted(final.items()) if e not in seen]
        if missing:
            ops = [i for c in adds[e] for i in call_ops(c)] + [i for n in missing for i in call_ops(final[n][0])]
            emit("lost", Anomaly("lost", f"element {thaw(e)!r} was acknowledged but is missing from the final "
                                         f"read of {', '.join(missing)}", sorted(ops),
                                 data={"element": thaw(e), "nodes": missing}))
    reported: set[Any] = set()
    for c, seen in reads:
        for e in sorted(seen - reported, key=sort_key):
            if e not in adds:
                reported.add(e)
                emit("unexpected", Anomaly("unexpected", f"read {c.invoke_index} on {c.node} holds {thaw(e)!r}, "
                                                         "which nobody added", call_ops(c), data={"element": thaw(e)}))
            elif e in failed:
                reported.add(e)
                emit("failed-present", Anomaly("failed-present", f"read {c.invoke_index} holds {thaw(e)!r}, whose "
                                                                 "every add failed", call_ops(c),
                                               data={"element": thaw(e)}))
    latencies = _stable_latencies(acked, reads)
    unjudged = [n for n in nodes if n not in final]
    stats: dict[str, Any] = {
        "attempted": len(adds), "acknowledged": len(acked), "reads": len(reads), "final_reads": len(final),
        "nodes_without_final_read": unjudged, **counts,
        "stable_latency_ms": {"median": _ms(latencies[len(latencies) // 2]), "max": _ms(latencies[-1]),
                              "n": len(latencies)} if latencies else {},
    }
    valid: Valid
    if any(counts.values()):
        valid = False
        summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    elif not final or unjudged:
        valid = "unknown"
        summary = f"no final read on {', '.join(unjudged) or 'any node'}: cannot judge"
    else:
        valid = True
        summary = f"all {len(acked)} acknowledged elements on all {len(final)} nodes"
        if latencies:
            summary += f"; stable latency median {stats['stable_latency_ms']['median']} ms, " \
                       f"max {stats['stable_latency_ms']['max']} ms"
    return Result("eventual-set", valid, summary, anomalies, stats, seconds=time.monotonic() - t0)


def _stable_latencies(acked: dict[Any, int], reads: list[tuple[Call, frozenset[Any]]]) -> list[float]:
    """Per acked element present in the last read: ns from its first add to the end of the last read lacking it."""
    if not reads:
        return []
    last_miss: dict[Any, float] = {}
    for c, seen in reads:
        for e, t in acked.items():
            if e not in seen and c.call_time >= t:
                end = c.ret_time if c.ret_time != float("inf") else c.call_time
                last_miss[e] = max(last_miss.get(e, 0.0), end)
    final_seen = reads[-1][1]
    return sorted(max(0.0, last_miss.get(e, t) - t) for e, t in acked.items() if e in final_seen)
