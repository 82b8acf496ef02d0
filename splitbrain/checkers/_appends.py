"""Ops that must precede others, read off the values that gets saw, for kv keys with appends.

Porcupine's kv workload (``get``, ``put``, ``append`` of strings) is the general
search's worst case: every order of concurrent appends is a distinct state, and a
wrong order only shows at the next get's return, so the search backtracks over
whole stretches of history. Yet when every put and append carries its own string
and no string begins another (a prefix code, as ``"x 3 0 y"`` tokens are), each
value a get returns parses one way only: the put it starts from (or the initial
value) and the appends after it, in order. That yields necessary conditions of
every linearization, as precedence edges ``a -> b`` (``a`` takes effect before ``b``):

* a get saw ``r t1 t2 ... tk``: ``r -> t1 -> t2 -> ... -> tk`` (each op is applied once);
* the latest-invoked get ``G`` that saw put ``r`` first: every append missing from what it
  saw and every other put, either of them completed before ``G`` began, took effect
  before ``r`` (after ``r`` and before ``G`` it would be in what ``G`` saw, or would be
  its first token).

The search (:mod:`splitbrain.checkers._search`) only linearizes an op once its
predecessors are placed. Since every linearization satisfies the edges, this
removes no solution: the verdict is the one without them, found sooner (an append
that a put wiped out is placed before that put at once, not tried at every later
point). Anything else (cas, reads of another model, repeated or non-string values,
values that are not a prefix code) gets no edges.
"""

from __future__ import annotations

import bisect
from typing import Any

__all__ = ["precedence"]


def _tokens(inputs: list[Any], start: str) -> dict[str, int] | None:
    """value -> op for every put and append (-1 for a non-empty initial value); None if not a prefix code."""
    tokens: dict[str, int] = {}
    for k, inp in enumerate(inputs):
        if inp[0] in ("w", "a"):
            v = inp[1]
            if not isinstance(v, str) or not v or v in tokens:
                return None
            tokens[v] = k
        elif inp[0] != "g":
            return None
    if start:
        if start in tokens:
            return None
        tokens[start] = -1
    ordered = sorted(tokens)
    if any(b.startswith(a) for a, b in zip(ordered, ordered[1:], strict=False)):
        return None
    return tokens


def precedence(call_pos: list[float], ret_pos: list[float], inputs: list[Any], outputs: list[Any],
               init: Any) -> list[list[int]] | None:
    """Successor lists (op -> ops that must come after it), or None when nothing applies."""
    if not any(inp[0] == "a" for inp in inputs):
        return None
    start = "" if init is None else init
    if not isinstance(start, str):
        return None
    tokens = _tokens(inputs, start)
    if tokens is None:
        return None
    lengths = sorted({len(t) for t in tokens})
    edges: set[tuple[int, int]] = set()
    # parse each distinct value once, reusing the parse of the longest value seen that begins it
    # (values sorted, a stack of prefixes): the work is the size of the trie of values, not their sum
    seen = sorted({o for inp, o in zip(inputs, outputs, strict=True) if inp[0] == "g" and isinstance(o, str)})
    parsed: dict[str, list[int] | None] = {}
    stack: list[tuple[str, list[int]]] = []
    for v in seen:
        while stack and not v.startswith(stack[-1][0]):
            stack.pop()
        done, ops = (stack[-1][0], stack[-1][1]) if stack else ("", [])
        ops = list(ops)
        i = len(done)
        ok = True
        while i < len(v):
            for ln in lengths:
                k = tokens.get(v[i:i + ln])
                if k is not None:
                    break
            else:
                ok = False
                break
            if ops and (k == -1 or inputs[k][0] == "w"):
                ok = False  # a put (or the initial value) after the first token: no state reads so
                break
            if not ops and start and k != -1 and inputs[k][0] == "a":
                ok = False  # appends straight onto an initial value that is not there
                break
            ops.append(k)
            i += ln
        parsed[v] = ops if ok else None
        if not ok:
            continue
        stack.append((v, ops))
        for a, b in zip(ops, ops[1:], strict=False):
            if a >= 0:
                edges.add((a, b))
    # per put read first by some get: the latest-invoked such get
    latest: dict[int, int] = {}
    for g, (inp, o) in enumerate(zip(inputs, outputs, strict=True)):
        if inp[0] != "g":
            continue
        seq = parsed.get(o) if isinstance(o, str) else None
        if not seq or seq[0] < 0 or inputs[seq[0]][0] != "w":
            continue
        r = seq[0]
        if r not in latest or call_pos[g] > call_pos[latest[r]]:
            latest[r] = g
    if latest:
        by_ret = sorted((ret_pos[k], k) for k, inp in enumerate(inputs)
                        if inp[0] in ("w", "a") and ret_pos[k] != float("inf"))
        rets = [x for x, _ in by_ret]
        for r, g in latest.items():
            saw = set(parsed[outputs[g]] or ())
            lo = bisect.bisect_right(rets, call_pos[r])
            hi = bisect.bisect_left(rets, call_pos[g])
            for _, k in by_ret[lo:hi]:
                if k != r and k not in saw:
                    edges.add((k, r))
    if not edges:
        return None
    succ: list[list[int]] = [[] for _ in inputs]
    for a, b in edges:
        succ[a].append(b)
    return succ
