"""Ops that must precede others, read off the values that gets saw, for kv keys with appends.

Porcupine's kv workload (``get``, ``put``, ``append`` of strings) is the general
search's worst case: every order of concurrent appends is a distinct state, and a
wrong order only shows at the next get's return, so the search backtracks over
whole stretches of history. Yet when no put's or append's string begins another's (a prefix
code, as ``"x 3 0 y"`` tokens are), each value a get returns parses one way only:
the put it starts from (or the initial value) and the appends after it, in order.
Where a string is carried by one op only, that names the ops. That yields necessary conditions of
every linearization, as precedence edges ``a -> b`` (``a`` takes effect before ``b``):

* a get saw ``r t1 t2 ... tk``: ``r -> t1 -> t2 -> ... -> tk`` (each op is applied once;
  only between values one op carries);
* a get ``G`` that saw put ``r`` first: every append missing from what it saw and
  every other put, either of them completed before ``G`` began, took effect before
  ``r`` (after ``r`` and before ``G`` it would be in what ``G`` saw, or would be its
  first token). Each put and append is held against the first such get after it.

The search (:mod:`splitbrain.checkers._search`) only linearizes an op once its
predecessors are placed. Since every linearization satisfies the edges, this
removes no solution: the verdict is the one without them, found sooner (an append
that a put wiped out is placed before that put at once, not tried at every later
point). Anything else (cas, reads of another model, non-string values, values that
are not a prefix code) gets no edges.

The same reading finds, before any search, what no order can explain: a get value
that no puts and appends make, an append or put missing from a get that began after
it completed (with nothing before it to wipe it out), or an edge against real time
(its first op began after its second completed). Such a key is illegal at once.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_TOKENS_SEEN", "Precedence", "precedence"]

#: most tokens, over all the distinct values gets returned, for which each get is compared with
#: every put and append that completed before it began (beyond, only the last get of each put)
MAX_TOKENS_SEEN = 2_000_000


#: the op of a value that several ops put or append
_SHARED = -2


def _tokens(inputs: list[Any], start: str) -> tuple[dict[str, int], dict[str, str], dict[str, int]] | None:
    """value -> its op (-1 for a non-empty initial value, ``_SHARED`` for a value several ops carry),
    value -> kind ("w" put, "a" append, "i" initial), value -> how many ops carry it; None unless
    the values are a prefix code (no value begins another, none both put and appended)."""
    op: dict[str, int] = {}
    kind: dict[str, str] = {}
    count: dict[str, int] = {}
    for k, inp in enumerate(inputs):
        f = inp[0]
        if f in ("w", "a"):
            v = inp[1]
            if not isinstance(v, str) or not v or kind.get(v, f) != f:
                return None
            op[v] = _SHARED if v in op else k
            kind[v] = f
            count[v] = count.get(v, 0) + 1
        elif f != "g":
            return None
    if start:
        if start in op:
            return None
        op[start], kind[start], count[start] = -1, "i", 1
    ordered = sorted(op)
    if any(b.startswith(a) for a, b in zip(ordered, ordered[1:], strict=False)):
        return None
    return op, kind, count


@dataclass
class Precedence:
    #: successor lists (op -> ops every linearization places after it), or None
    after: list[list[int]] | None = None
    #: when the values alone rule out every order: why, and the ops (positions) involved
    conflict: str = ""
    ops: list[int] = field(default_factory=list)


def precedence(call_pos: list[float], ret_pos: list[float], inputs: list[Any], outputs: list[Any],
               init: Any) -> Precedence:
    """The edges above (``after`` None when nothing applies), or a conflict that no order resolves."""
    none = Precedence()
    if not any(inp[0] == "a" for inp in inputs):
        return none
    start = "" if init is None else init
    if not isinstance(start, str):
        return none
    found = _tokens(inputs, start)
    if found is None:
        return none
    op_of, kind, count = found
    lengths = sorted({len(t) for t in op_of})
    edges: set[tuple[int, int]] = set()
    # parse each distinct value once, reusing the parse of the longest value seen that begins it
    # (values sorted, a stack of prefixes): the work is the size of the trie of values, not their sum
    seen = sorted({o for inp, o in zip(inputs, outputs, strict=True) if inp[0] == "g" and isinstance(o, str)})
    parsed: dict[str, list[str]] = {}
    stack: list[tuple[str, list[str]]] = []
    for v in seen:
        while stack and not v.startswith(stack[-1][0]):
            stack.pop()
        done, toks = (stack[-1][0], stack[-1][1]) if stack else ("", [])
        toks = list(toks)
        i = len(done)
        why = ""
        while i < len(v):
            for ln in lengths:
                t = v[i:i + ln]
                if t in op_of:
                    break
            else:
                why = "which no sequence of puts and appends makes"
                break
            if toks and kind[t] != "a":
                why = "with a put's value after its start"
                break
            if not toks and start and kind[t] == "a":
                why = "without the initial value it must start with"
                break
            toks.append(t)
            i += ln
        if not why and len(set(toks)) < len(toks):
            times: dict[str, int] = {}
            for t in toks:
                times[t] = times.get(t, 0) + 1
            if any(c > count[t] for t, c in times.items()):
                why = "with an append more times than it was invoked"
        if why:
            g = next(g for g, o in enumerate(outputs) if inputs[g][0] == "g" and o == v)
            return Precedence(conflict=f"get (op {g}) returned {v!r}, {why}", ops=[g])
        parsed[v] = toks
        stack.append((v, toks))
        for ta, tb in zip(toks, toks[1:], strict=False):
            oa, ob = op_of[ta], op_of[tb]
            if oa >= 0 and ob >= 0:
                edges.add((oa, ob))
    # per first token (a put's value, or "" for the initial value), the gets that saw it first
    by_root: dict[str, list[tuple[float, int]]] = {}
    for g, (inp, o) in enumerate(zip(inputs, outputs, strict=True)):
        if inp[0] == "g" and isinstance(o, str):
            toks = parsed[o]
            rv = toks[0] if toks and kind[toks[0]] == "w" else ""
            by_root.setdefault(rv, []).append((call_pos[g], g))
    # each put or append against the first get (of each first token) that began after it completed;
    # only against the last one when the values are too long to turn into sets for every get
    every_get = sum(len(t) for t in parsed.values()) <= MAX_TOKENS_SEEN
    sets: dict[str, set[str]] = {}
    by_ret = sorted((ret_pos[k], k) for k, inp in enumerate(inputs) if inp[0] in ("w", "a") and ret_pos[k] != math.inf)
    rets = [x for x, _ in by_ret]
    for rv, gets in by_root.items():
        r = op_of[rv] if rv else -1
        if r == _SHARED:
            continue  # which put it was is unknown
        gets.sort()
        began = [c for c, _ in gets]
        lo = 0 if r < 0 else bisect.bisect_right(rets, call_pos[r])
        hi = bisect.bisect_left(rets, began[-1])
        for done_at, k in by_ret[lo:hi]:
            v = inputs[k][1]
            if v == rv:
                continue
            g = gets[bisect.bisect_right(began, done_at) if every_get else -1][1]
            saw = sets.get(outputs[g])
            if saw is None:
                saw = sets[outputs[g]] = set(parsed[outputs[g]])
            if v in saw:
                continue
            if r < 0:  # it took effect before the get, after nothing: it would be in what the get saw
                what = "put" if inputs[k][0] == "w" else "append"
                return Precedence(conflict=f"get (op {g}) returned {outputs[g]!r}, without the {what} of "
                                  f"{v!r} (op {k}) that completed before it began", ops=[g, k])
            edges.add((k, r))
    for a, b in edges:
        if call_pos[a] > ret_pos[b]:
            return Precedence(conflict=f"{_name(inputs, a)} must take effect before {_name(inputs, b)}, "
                              "which completed before it began", ops=sorted((a, b)))
    if not edges:
        return none
    succ: list[list[int]] = [[] for _ in inputs]
    for a, b in edges:
        succ[a].append(b)
    return Precedence(after=succ)


def _name(inputs: list[Any], k: int) -> str:
    return f"the {'put' if inputs[k][0] == 'w' else 'append'} of {inputs[k][1]!r} (op {k})"
