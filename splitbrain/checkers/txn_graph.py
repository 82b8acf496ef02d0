"""The transaction dependency graph: which transaction must precede which, and why.

Nodes are transactions (call ids of ``ok`` and ``info`` calls: a failed
transaction did not happen; an indeterminate one may have). An edge ``a -> b``
carries one or more *relations*, each with the evidence for it:

* ``ww`` -- ``b`` overwrote (appended after) ``a``'s write of some key;
* ``wr`` -- ``b`` read ``a``'s write;
* ``rw`` -- ``a`` read a version that ``b`` overwrote (an anti-dependency);
* ``process`` -- the same process ran ``a`` then ``b`` (session order);
* ``realtime`` -- ``a`` completed before ``b`` was invoked.

Which order edges are drawn depends on the models asked for (Elle's rule): a
realtime anomaly wanted means realtime edges (process order is a subset of it),
else a process anomaly wanted means process edges, else data edges only.

When a pair is related several ways, a cycle step is explained by the first of
``ww, wr, rw, process, realtime`` present (Elle's explainer order), and the
cycle search treats the edge as exactly that relation, so the name given to a
cycle always matches the edges shown for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from splitbrain.checkers.values import thaw
from splitbrain.history import Call

WW, WR, RW, PROCESS, REALTIME = "ww", "wr", "rw", "process", "realtime"
PRIORITY = (WW, WR, RW, PROCESS, REALTIME)
DATA = frozenset({WW, WR, RW})
_NO_EVIDENCE: dict[str, Any] = {}


@dataclass
class TxnGraph:
    """Data edges keep their evidence (``why``); order edges (process, realtime) are many and
    their evidence is on the calls themselves, so they are kept as bare pairs (``order``)."""

    why: dict[tuple[int, int], dict[str, dict[str, Any]]] = field(default_factory=dict)
    order: dict[tuple[int, int], str] = field(default_factory=dict)

    def link(self, a: int, b: int, rel: str, why: dict[str, Any]) -> None:
        """Add ``a -> b`` for ``rel``, keeping the first evidence given; self-edges are dropped."""
        if a == b:
            return
        if rel in (PROCESS, REALTIME):
            if self.order.get((a, b)) != PROCESS:
                self.order[(a, b)] = rel
            return
        rels = self.why.get((a, b))
        if rels is None:
            self.why[(a, b)] = {rel: why}
        elif rel not in rels:
            rels[rel] = why

    def label(self, a: int, b: int) -> str:
        rels = self.why.get((a, b))
        if rels:
            for r in PRIORITY:
                if r in rels:
                    return r
        return self.order[(a, b)]

    def edges(self) -> set[tuple[int, int]]:
        return set(self.why) | set(self.order)

    def labelled_adjacency(self) -> dict[int, list[tuple[int, str]]]:
        adj: dict[int, list[tuple[int, str]]] = {}
        for (a, b) in self.why:
            adj.setdefault(a, []).append((b, self.label(a, b)))
        for (a, b), rel in self.order.items():
            if (a, b) not in self.why:
                adj.setdefault(a, []).append((b, rel))
        return adj

    def __len__(self) -> int:
        return len(self.why) + sum(1 for k in self.order if k not in self.why)

    def count(self, rel: str) -> int:
        if rel in (PROCESS, REALTIME):
            return sum(1 for r in self.order.values() if r == rel)
        return sum(1 for rels in self.why.values() if rel in rels)


def add_realtime(g: TxnGraph, calls: Iterable[Call], nodes: set[int]) -> None:
    """Real-time order, transitively reduced (after Elle's realtime graph): walking the
    history, every invocation gets an edge from each completed op not already implied by a
    later completion. Only ``ok`` calls complete; ``info`` calls may be linked *to*."""
    events: list[tuple[int, int, int]] = []  # (position, 0 = completion / 1 = invocation, call id)
    for c in calls:
        if c.id not in nodes:
            continue
        events.append((c.invoke_index, 1, c.id))
        if c.type == "ok" and c.complete_index is not None:
            events.append((c.complete_index, 0, c.id))
    events.sort()
    buffer: set[int] = set()
    preds: dict[int, tuple[int, ...]] = {}
    for _, is_invoke, n in events:
        if is_invoke:
            preds[n] = tuple(buffer)
            for p in preds[n]:
                g.link(p, n, REALTIME, _NO_EVIDENCE)  # the evidence is the calls' positions
        else:
            buffer.difference_update(preds.get(n, ()))
            buffer.add(n)


def add_process(g: TxnGraph, calls: Iterable[Call], nodes: set[int]) -> None:
    """Session order: consecutive ``ok`` transactions of one process."""
    last: dict[Any, Call] = {}
    for c in sorted((c for c in calls if c.id in nodes and c.type == "ok"), key=lambda c: c.complete_index or 0):
        prev = last.get(c.process)
        if prev is not None:
            g.link(prev.id, c.id, PROCESS, {"process": c.process})
        last[c.process] = c


def render_step(rel: str, why: dict[str, Any], a: str, b: str) -> str:
    """One line of a cycle explanation, as Elle words it."""
    key = repr(thaw(why.get("key")))
    if rel == WW:
        return f"{b} wrote {why.get('value2')!r} to {key} after {a} wrote {why.get('value')!r}"
    if rel == WR:
        return f"{b} observed {a}'s write of {why.get('value')!r} to {key}"
    if rel == RW:
        if why.get("initial"):
            return f"{a} observed the initial (empty) state of {key}, which {b} changed by writing {why.get('value2')!r}"
        return (f"{a} read key {key} at version {why.get('value')!r} (op {why.get('read')}) and did not observe "
                f"{b}'s later write of {why.get('value2')!r}")
    if rel == PROCESS:
        return f"process {why.get('process')!r} executed {a} before {b}"
    return f"{a} completed (index {why.get('completed')}) before {b} was invoked (index {why.get('invoked')})"
