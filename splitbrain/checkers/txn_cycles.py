"""Cycle search over a transaction graph, one anomaly class at a time, each bounded in time.

Elle's approach (Kingsbury & Alvaro 2020, section 4): split the graph into
strongly connected components (linear time; a cycle never leaves one), then in
each component look for the most severe classes first:

=====================  ======================================================
G0                     ww edges only (dirty write)
G1c                    ww/wr, at least one wr (circular information flow)
G-single-item          ww/wr plus exactly one rw (read skew)
G-nonadjacent-item     two or more rw, no two adjacent
G2-item                two or more rw, some adjacent (write skew)
=====================  ======================================================

and each with ``-process`` and ``-realtime`` variants, which may also use (and
must use at least one of) session-order or real-time edges. A class implied by
one already found (G0 implies G1c ...) is skipped, as Elle does.

Each search is a breadth-first search over (transaction, path state) from the
head of a candidate first edge back to its tail, so it is complete: when it
ends without a cycle, no cycle of that class exists in the component. Each
class gets its own time allowance per component; one that runs out is
*recorded*, never taken as "no cycle", and the verdict then cannot be valid
for that class (``cycle-search-timeout``, with the classes it did rule out).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import networkx as nx

from splitbrain.checkers.consistency import implied_anomalies
from splitbrain.checkers.txn_graph import PROCESS, REALTIME, RW, WR, WW, TxnGraph

Step = tuple[int, int, str]  # (from txn, to txn, relation)


@dataclass(frozen=True)
class CycleSpec:
    name: str
    allowed: frozenset[str]  # non-rw relations a step may use
    rw: str  # "none", "single", "nonadjacent" or "adjacent"
    need_wr: bool = False
    need: str | None = None  # PROCESS or REALTIME: at least one such step

    @property
    def typed(self) -> bool:
        """Must the found cycle be classified exactly as this class (Elle's ``:type``)?"""
        return self.rw != "none"


def _specs() -> list[CycleSpec]:
    base = [("G0", {WW}, "none", False), ("G1c", {WW, WR}, "none", True),
            ("G-single-item", {WW, WR}, "single", False), ("G-nonadjacent-item", {WW, WR}, "nonadjacent", False),
            ("G2-item", {WW, WR}, "adjacent", False)]
    out = [CycleSpec(n, frozenset(a), rw, wr) for n, a, rw, wr in base]
    for variant in (PROCESS, REALTIME):
        out += [CycleSpec(f"{n}-{variant}", frozenset(a | {variant}), rw, wr, variant) for n, a, rw, wr in base]
    return out


SPECS: list[CycleSpec] = _specs()
CYCLE_TYPES = frozenset(s.name for s in SPECS)


def classify(labels: list[str]) -> str:
    """Elle's name for a cycle with these step relations."""
    rw = labels.count(RW)
    n = len(labels)
    adjacent = any(labels[i] == RW and labels[(i + 1) % n] == RW for i in range(n))
    if rw == 1:
        base = "G-single-item"
    elif rw > 1:
        base = "G2-item" if adjacent else "G-nonadjacent-item"
    elif WR in labels:
        base = "G1c"
    else:
        base = "G0"
    return base + ("-realtime" if REALTIME in labels else "-process" if PROCESS in labels else "")


class _Timeout(Exception):
    pass


@dataclass
class SccOutcome:
    size: int
    cycles: dict[str, list[Step]] = field(default_factory=dict)
    timed_out: list[str] = field(default_factory=list)
    ruled_out: list[str] = field(default_factory=list)


def sccs(nodes: Iterable[int], succ: dict[int, list[int]], singletons: bool = False) -> list[list[int]]:
    """Strongly connected components with more than one node (or all, with ``singletons``), sinks
    first (iterative Tarjan; the hot path on big histories, several times faster than building a
    networkx graph for each filter)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            pushed = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(succ.get(w, ()))))
                    pushed = True
                    break
                if w in on and index[w] < low[v]:
                    low[v] = index[w]
            if pushed:
                continue
            work.pop()
            if work and low[v] < low[work[-1][0]]:
                low[work[-1][0]] = low[v]
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if singletons or len(comp) > 1:
                    out.append(comp)
    return out


def _closable(adj: dict[int, list[tuple[int, str]]], comp: dict[int, int], firsts: list[tuple[int, int]],
              spec: CycleSpec) -> set[tuple[int, int]]:
    """The rw edges ``a -> b`` for which ``b`` reaches ``a`` over the spec's other relations (and,
    when it needs one, through at least one ``spec.need`` edge): reachability by bitsets over the
    condensation of a two-layer graph (layer 1 = a needed edge was used)."""
    members = list(comp)
    layers = 2 if spec.need else 1
    node = {(v, layer): i for i, (v, layer) in enumerate((v, la) for la in range(layers) for v in members)}
    succ: dict[int, list[int]] = {}
    for v in members:
        for w, lab in adj.get(v, ()):
            if lab not in spec.allowed or comp.get(w) != comp[v]:
                continue
            for layer in range(layers):
                to = 1 if (spec.need and lab == spec.need) else layer
                succ.setdefault(node[(v, layer)], []).append(node[(w, to)])
    comp_of: dict[int, int] = {}
    reach: list[int] = []
    for c in sccs(range(len(node)), succ, singletons=True):  # sinks first
        cid = len(reach)
        for x in c:
            comp_of[x] = cid
        bits = 1 << cid
        for x in c:
            for y in succ.get(x, ()):
                if y in comp_of and comp_of[y] != cid:
                    bits |= reach[comp_of[y]]
        reach.append(bits)
    last = layers - 1
    return {(a, b) for a, b in firsts if reach[comp_of[node[(b, 0)]]] >> comp_of[node[(a, last)]] & 1}


def _subgraph_sccs(adj: dict[int, list[tuple[int, str]]], members: set[int], labels: frozenset[str]) -> dict[int, int]:
    succ = {a: [b for b, lab in adj.get(a, ()) if lab in labels and b in members] for a in members}
    comp: dict[int, int] = {}
    for i, c in enumerate(sccs(sorted(members), succ)):
        for v in c:
            comp[v] = i
    return comp


def _search(spec: CycleSpec, adj: dict[int, list[tuple[int, str]]], members: set[int],
            budget_s: float, overall_deadline: float, cache: dict[frozenset[str], dict[int, int]]) -> list[Step] | None:
    """One class in one component. The filtering below is linear work and not charged to the
    class's time allowance; the enumeration of candidate cycles is."""
    labels = spec.allowed | ({RW} if spec.rw != "none" else frozenset())
    if labels not in cache:
        cache[labels] = _subgraph_sccs(adj, members, labels)
    comp = cache[labels]
    if not comp:
        return None
    first_label = RW if spec.rw != "none" else spec.need if spec.need else WR if spec.need_wr else WW
    firsts = [(a, b) for a in sorted(comp) for b, lab in adj.get(a, ())
              if lab == first_label and comp.get(b) == comp[a]]
    if spec.rw == "single" and not spec.need_wr:
        # Exact and fast: keep only the rw edges that the other relations close into a cycle.
        closable = _closable(adj, comp, firsts, spec)
        firsts = [e for e in firsts if e in closable]
        sure = bool(firsts)  # the first of these certainly closes: its search is not cut short
    else:
        sure = False
    if spec.rw != "none" and not (spec.rw == "single" and not spec.need_wr):
        # Backward edges (to an earlier-invoked txn; ids follow invocation order) close short
        # cycles through real-time or session order most often: try them first, nearest first.
        firsts.sort(key=lambda e: (e[1] > e[0], abs(e[0] - e[1])))
    pops = 0
    deadline = min(overall_deadline, time.monotonic() + budget_s)
    for n, (a, b) in enumerate(firsts):
        if sure and n == 0:
            deadline = max(deadline, time.monotonic() + 3600)
        elif sure and n == 1:
            deadline = min(overall_deadline, time.monotonic() + budget_s)
        if time.monotonic() > deadline:
            raise _Timeout
        inside = comp[a]
        start = (b, int(first_label == RW), first_label == RW, False,
                 first_label == WR, first_label == spec.need)
        parent: dict[tuple[int, int, bool, bool, bool, bool], tuple[tuple[int, int, bool, bool, bool, bool], str] | None] = {start: None}
        queue = deque([start])
        while queue:
            pops += 1
            if pops % 512 == 0 and time.monotonic() > deadline:
                raise _Timeout
            st = queue.popleft()
            v, nrw, last_rw, adj_seen, wr, var = st
            for w, lab in adj.get(v, ()):
                if comp.get(w) != inside or lab not in labels:
                    continue
                is_rw = lab == RW
                if is_rw and ((spec.rw == "single" and nrw >= 1) or (spec.rw == "nonadjacent" and last_rw)):
                    continue
                nst = (w, min(2, nrw + is_rw), is_rw, adj_seen or (is_rw and last_rw),
                       wr or (spec.need_wr and lab == WR), var or (spec.need is not None and lab == spec.need))
                if w == a:
                    if _accept(spec, nst, first_label, is_rw):
                        return _unwind(a, b, first_label, parent, st, lab)
                    continue
                if nst not in parent:
                    parent[nst] = (st, lab)
                    queue.append(nst)
    return None


def _accept(spec: CycleSpec, st: tuple[int, int, bool, bool, bool, bool], first_label: str, closing_rw: bool) -> bool:
    _, nrw, _, adj_seen, wr, var = st
    wrap_adjacent = closing_rw and first_label == RW
    if spec.need_wr and not wr:
        return False
    if spec.need is not None and not var:
        return False
    if spec.rw == "single":
        return nrw == 1
    if spec.rw == "nonadjacent":
        return nrw >= 2 and not adj_seen and not wrap_adjacent
    if spec.rw == "adjacent":
        return nrw >= 2 and (adj_seen or wrap_adjacent)
    return nrw == 0


def _unwind(a: int, b: int, first_label: str, parent: dict, last: tuple, closing: str) -> list[Step]:  # type: ignore[type-arg]
    steps: list[Step] = [(last[0], a, closing)]
    st = last
    while parent[st] is not None:
        prev, lab = parent[st]
        steps.append((prev[0], st[0], lab))
        st = prev
    steps.append((a, b, first_label))
    steps.reverse()
    return steps


def _fallback(g: TxnGraph, members: set[int]) -> list[Step]:
    sub = nx.DiGraph()
    sub.add_edges_from((a, b) for (a, b) in g.edges() if a in members and b in members)
    return [(a, b, g.label(a, b)) for a, b in nx.find_cycle(sub)]


def search_component(g: TxnGraph, adj: dict[int, list[tuple[int, str]]], members: set[int],
                     per_class_s: float, overall_deadline: float, kinds: Iterable[str]) -> SccOutcome:
    """Look for each cycle class in one strongly connected component."""
    out = SccOutcome(size=len(members))
    present = {lab for a in members for _, lab in adj.get(a, ())}
    redundant: set[str] = set()
    wanted = set(kinds)
    cache: dict[frozenset[str], dict[int, int]] = {}
    for spec in SPECS:
        if spec.name in redundant or spec.name not in wanted:
            continue
        if spec.need is not None and spec.need not in present:
            continue
        try:
            steps = _search(spec, adj, members, per_class_s, overall_deadline, cache)
        except _Timeout:
            out.timed_out.append(spec.name)
            continue
        if steps is None:
            out.ruled_out.append(spec.name)
            continue
        kind = classify([lab for _, _, lab in steps])
        if spec.typed and kind != spec.name:
            out.ruled_out.append(spec.name)
            continue
        out.cycles.setdefault(kind, steps)
        redundant |= implied_anomalies([kind])
    if out.timed_out and not out.cycles:
        steps = _fallback(g, members)
        out.cycles[classify([lab for _, _, lab in steps])] = steps
    return out


def components(g: TxnGraph) -> list[set[int]]:
    """Strongly connected components with more than one transaction, smallest id first."""
    succ: dict[int, list[int]] = {}
    for a, b in g.edges():
        succ.setdefault(a, []).append(b)
    return sorted((set(c) for c in sccs(sorted(succ), succ)), key=min)
