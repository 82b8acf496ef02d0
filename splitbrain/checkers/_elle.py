"""Dependency-graph cycle search for the list-append checker (after Elle, Kingsbury & Alvaro 2020).

Transactions are nodes; an edge T1 -> T2 says T1 must precede T2 in any serial
order that explains the history, for one of these reasons:

* ``ww``: T2 appended the version right after T1's on some key;
* ``wr``: T2 read a list whose last element T1 appended;
* ``rw``: T1 read a version that T2's append directly overwrote (anti-dependency);
* ``rt``: T1 completed before T2 was invoked (real time; strict serializability).

A cycle means no serial order exists. Cycles are named by the edges they need,
as in Adya's taxonomy: only ``ww`` is G0 (dirty write), ``ww``+``wr`` is G1c
(circular information flow), exactly one ``rw`` is G-single (read skew), more
is G2-item (write skew and friends); needing an ``rt`` edge adds ``-realtime``.

The search is bounded: strongly connected components are found once (linear
time, networkx), and inside each one a breadth-first search looks for the
*weakest* cycle kind first, so a G0 is reported as G0 rather than as some
longer G2. Every component with more than one node certainly holds a cycle,
so running out of time can only make names less precise, never hide a cycle.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import networkx as nx

from splitbrain.checkers._common import Budget

#: preference when one pair of txns is linked for several reasons: the weaker the better
EDGE_RANK = {"ww": 0, "wr": 1, "rw": 2, "rt": 3}

Edges = dict[tuple[int, int], dict[str, dict[str, Any]]]

#: search levels: (edge types allowed, how many rw edges the cycle may use at most)
_LEVELS: list[tuple[frozenset[str], bool]] = [
    (frozenset({"ww"}), False),
    (frozenset({"ww", "wr"}), False),
    (frozenset({"ww", "wr"}), True),  # G-single: one rw edge closed by a ww/wr path
    (frozenset({"ww", "wr", "rw"}), False),
]


def add_edge(edges: Edges, a: int, b: int, typ: str, why: dict[str, Any]) -> None:
    if a != b:
        edges.setdefault((a, b), {}).setdefault(typ, why)


def classify(types: Iterable[str]) -> str:
    ts = list(types)
    rw = ts.count("rw")
    base = "G2-item" if rw > 1 else "G-single" if rw == 1 else "G1c" if "wr" in ts else "G0"
    return base + ("-realtime" if "rt" in ts else "")


def _bfs(adj: dict[int, list[int]], edges: Edges, allowed: frozenset[str], src: int, dst: int,
         members: set[int]) -> list[int] | None:
    """Shortest path src -> dst using only edges of the allowed types, inside one component."""
    prev: dict[int, int] = {src: src}
    q = deque([src])
    while q:
        u = q.popleft()
        for v in adj.get(u, ()):
            if v in prev or v not in members or not allowed.intersection(edges[(u, v)]):
                continue
            prev[v] = u
            if v == dst:
                path = [v]
                while path[-1] != src:
                    path.append(prev[path[-1]])
                return path[::-1]
            q.append(v)
    return None


def _cycle_at_level(adj: dict[int, list[int]], radj: dict[int, list[int]], edges: Edges, members: set[int],
                    allowed: frozenset[str], one_rw: bool, budget: Budget, max_tries: int) -> list[int] | None:
    """A cycle (list of nodes, first == last omitted) using the allowed edges, or None."""
    if one_rw:
        tries = 0
        for a in sorted(members):
            for b in adj.get(a, ()):
                if b not in members or "rw" not in edges[(a, b)]:
                    continue
                tries += 1
                if tries > max_tries or budget.spent():
                    return None
                path = _bfs(adj, edges, allowed, b, a, members)
                if path is not None:
                    return [a, *path[:-1]]
        return None
    sub = nx.DiGraph()
    sub.add_nodes_from(members)
    sub.add_edges_from((a, b) for a in members for b in adj.get(a, ())
                       if b in members and allowed.intersection(edges[(a, b)]))
    for comp in nx.strongly_connected_components(sub):
        if len(comp) < 2:
            continue
        s = min(comp)
        for p in sorted(radj.get(s, ())):
            if p in comp and allowed.intersection(edges[(p, s)]):
                path = _bfs(adj, edges, allowed, s, p, comp)
                if path is not None:
                    return path
        if budget.spent():
            return None
    return None


def _label(cycle: list[int], edges: Edges, allowed: frozenset[str], one_rw: bool) -> list[tuple[int, int, str]]:
    """Choose one reason per edge of the cycle: the weakest allowed, keeping at most one rw for G-single."""
    out = []
    for i, a in enumerate(cycle):
        b = cycle[(i + 1) % len(cycle)]
        kinds = sorted((t for t in edges[(a, b)] if t in allowed or (one_rw and i == 0 and t == "rw")),
                       key=EDGE_RANK.__getitem__)
        if one_rw and i == 0:
            kinds = ["rw"]
        out.append((a, b, kinds[0] if kinds else min(edges[(a, b)], key=EDGE_RANK.__getitem__)))
    return out


def find_cycles(nodes: Iterable[int], edges: Edges, *, realtime: bool, budget: Budget,
                max_cycles: int = 20, max_tries: int = 2000) -> tuple[list[list[tuple[int, int, str]]], dict[str, Any]]:
    """Cycles to report (each a list of labelled edges) and graph statistics.

    At most one cycle per (component, kind) and ``max_cycles`` in all.
    """
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges.keys())
    adj: dict[int, list[int]] = {}
    radj: dict[int, list[int]] = {}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        radj.setdefault(b, []).append(a)
    comps = sorted((c for c in nx.strongly_connected_components(g) if len(c) > 1), key=min)
    stats: dict[str, Any] = {"nodes": g.number_of_nodes(), "edges": g.number_of_edges(),
                             "cyclic_components": len(comps), "largest_component": max(map(len, comps), default=0),
                             "search_complete": True}
    for t in EDGE_RANK:
        stats[f"{t}_edges"] = sum(1 for kinds in edges.values() if t in kinds)
    levels = list(_LEVELS)
    if realtime:
        levels += [(allowed | {"rt"}, one) for allowed, one in _LEVELS]
    cycles: list[list[tuple[int, int, str]]] = []
    for comp in comps:
        seen_kinds: set[str] = set()
        for allowed, one_rw in levels:
            if len(cycles) >= max_cycles:
                stats["search_complete"] = False
                return cycles, stats
            if budget.spent():
                stats["search_complete"] = False
                break
            cyc = _cycle_at_level(adj, radj, edges, comp, allowed, one_rw, budget, max_tries)
            if cyc is None:
                continue
            labelled = _label(cyc, edges, allowed, one_rw)
            kind = classify(t for _, _, t in labelled)
            if kind not in seen_kinds:
                seen_kinds.add(kind)
                cycles.append(labelled)
        if not seen_kinds:
            # Out of time (or every level missed): the component still certainly has a cycle.
            raw = nx.find_cycle(g.subgraph(comp))
            cycles.append([(a, b, min(edges[(a, b)], key=EDGE_RANK.__getitem__)) for a, b in raw])
    return cycles, stats
