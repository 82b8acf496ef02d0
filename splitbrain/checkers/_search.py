"""The Wing-Gong/Lowe search with Porcupine's refinements, tuned for CPython.

The history is a doubly linked list of call and return entries in real-time
order (arrays of ints, not node objects). The search walks it: at a call entry
it tries to linearize that op now (step the model, then *lift* the call and its
return out of the list and restart from the head); at a return entry whose op is
still unlinearized it backtracks. A memo of (set of linearized ops, model
state) -- both exact, the set a window of bits that slides with the returns passed
(see below), so a step costs O(concurrency) and not O(history) -- prunes every configuration
already shown to fail; keyed by the bitset alone the search would be wrong, keyed
by nothing it would be exponential.

Refinements beyond Porcupine, all exact:

* ``info`` ops (may have happened, or not) return after every other entry, and
  the search succeeds as soon as it reaches the first such return: every op that
  must happen is placed, and the crashed ones may simply never have happened.
* A read-only op (one that never changes any state: the model says which) that
  is legal now is linearized without trying alternatives: any linearization that
  places it later can place it here instead (it is already invoked, nothing
  unplaced has returned, and it changes nothing wherever it goes). If that configuration is already in the
  memo, this whole configuration fails.

* A crashed op that would leave the state as it is is not linearized there: any
  linearization going on from that configuration also goes on from the one without it
  (the op simply never happened), which the search explores anyway. More generally a
  configuration is skipped when the memo holds the same one minus one crashed op (same
  state, same definite ops): whatever completes the larger one completes the smaller,
  which was already explored and failed. (Only the few latest-invoked crashed ops placed
  are tried: a long faulty run places hundreds.)

* Crashed ops with the same input and output are interchangeable (both may take
  effect at any time after their invocations, with the same effect): the later-invoked
  one is only tried once its earlier twin is linearized. Subsets of k identical timed-out
  writes collapse to k + 1 counts, which is what keeps a faulty run's search small.

Model steps are cached per (op, state) in one dict per op, which is cheaper in
CPython than calling ``step`` again. The search is a generator that yields its memo size and
its longest linearized prefix so far every ``SLICE`` new configurations, so partitions can be interleaved and a time or memory limit
checked between slices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

SLICE = 256
#: crashed ops (the latest-invoked placed ones) whose removal is looked up in the memo per step
DOMINANCE_TRIES = 2
_MISS: Any = object()
_ILLEGAL: Any = object()
#: frontier states and blocked ops kept for the explanation
_KEEP = 8
#: a search frame: (op, state, base, hi, crashed, guide position, whether the op was the guided first try)
_Frame = tuple[int, Any, int, int, int, int, bool]


@dataclass
class Outcome:
    ok: bool
    steps: int = 0
    memo: int = 0
    #: positions (into the op list) of the longest linearizable prefix found, in order
    prefix: list[int] = field(default_factory=list)
    #: states reached at the end of such a prefix
    states: list[Any] = field(default_factory=list)
    #: ops whose return was reached, unplaced, right after such a prefix
    blocked: list[int] = field(default_factory=list)


def search(call_pos: list[float], ret_pos: list[float], inputs: list[Any], outputs: list[Any],
           step: Callable[[Any, Any, Any], tuple[bool, Any]], init: Any,
           readonly: list[bool] | None = None, targets: list[bool] | None = None,
           toward: Callable[[Any, Any], bool] | None = None,
           after: list[list[int]] | None = None) -> Generator[tuple[int, int], None, Outcome]:
    """Decide whether ops (call position, return position or inf, input, output) linearize.

    ``readonly[k]`` says op k never changes any state when legal (a read). ``targets[k]``
    says op k is a read whose output names the state it must see (a guide, see below);
    ``toward(state, output)`` says a state is on the way to one a read saw (default: the
    read is legal in it). ``after[k]``: ops that every linearization places after op k
    (see :mod:`splitbrain.checkers._appends`); an op is only tried once all its predecessors are placed.
    """
    n = len(inputs)
    ro = readonly if readonly is not None else [False] * n
    head, end = 2 * n, 2 * n + 1
    nxt = [0] * (2 * n + 2)
    prv = [0] * (2 * n + 2)
    stop = bytearray(2 * n + 2)
    stop[end] = 1
    order = sorted(range(2 * n), key=lambda e: (call_pos[e], e) if e < n else (ret_pos[e - n], e))
    # Within each run of consecutive calls, try reads first (a legal one is forced), then the
    # op that must return soonest: the candidate set is unchanged, only the order of trying.
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and order[j] < n:
            j += 1
        if j - i > 1:
            order[i:j] = sorted(order[i:j], key=lambda e: (not ro[e], ret_pos[e], e))
        i = j + 1
    prev = head
    for e in order:
        nxt[prev] = e
        prv[e] = prev
        prev = e
        if e >= n and ret_pos[e - n] == math.inf:
            stop[e] = 1
    nxt[prev] = end
    prv[end] = prev
    # the same list without crashed ops' calls, for the guiding pass (a faulty run keeps hundreds pending)
    nxt2 = [0] * (2 * n + 2)
    prv2 = [0] * (2 * n + 2)
    prev = head
    for e in order:
        if e < n and ret_pos[e] == math.inf:
            continue
        nxt2[prev] = e
        prv2[e] = prev
        prev = e
    nxt2[prev] = end
    prv2[end] = prev

    trans: list[dict[Any, Any]] = [{} for _ in range(n)]
    # The set of linearized ops, compactly: ops that must happen are ranked by return position,
    # and every op ranked below ``base`` is linearized (a search can only pass a return once its op
    # is placed), so the set is ``base`` plus a short bitset ``hi`` of the ranks above it that are
    # placed (bit 0 = rank ``base``, always clear). Crashed ops (no return) get their own bitset
    # ``crashed``. Each step is O(concurrency), not O(n), and so is each memo key's size.
    rank = [-1] * n
    for r, k in enumerate(sorted((k for k in range(n) if ret_pos[k] != math.inf), key=lambda k: (ret_pos[k], k))):
        rank[k] = r
    cbit = [0] * n
    twin = [-1] * n
    last: dict[Any, int] = {}
    # twin[k]: for a crashed op k, the crashed-bit of the latest earlier-invoked identical crashed op
    for c, k in enumerate(sorted((k for k in range(n) if ret_pos[k] == math.inf), key=lambda k: (call_pos[k], k))):
        cbit[k] = 1 << c
        try:
            sig = (inputs[k], outputs[k])
            twin[k] = last.get(sig, -1)
            last[sig] = c
        except TypeError:  # unhashable: no twin
            pass
    # The guide: the read that returns first among those not yet linearized names a state the
    # search must reach before that return. At each new configuration the first candidate (in list
    # order) whose new state is on the way there is tried before the others: when that read is
    # itself invoked already, or the model says what "on the way" means (kv strings); a guide
    # further off costs more steps than it saves on registers with few reused values. Only the order
    # of trying changes, never the set of candidates, so the verdict cannot; a valid history's order
    # is found with less backtracking (with the skips below: etcd corpus 197k -> 39k configurations).
    succ: list[list[int]] | list[tuple[()]] = after if after is not None else [()] * n
    need = [0] * n  # predecessors not yet placed
    for ks in succ:
        for k in ks:
            need[k] += 1
    tg = targets if targets is not None else ro
    guide = sorted((k for k in range(n) if tg[k] and ret_pos[k] != math.inf), key=lambda k: (ret_pos[k], k))
    n_guide = len(guide)
    done = bytearray(n)
    to = toward
    memo: set[tuple[int, int, int, Any]] = set()
    stack: list[_Frame] = []
    best = -1
    best_stack: list[_Frame] = []
    out = Outcome(ok=False)
    base = hi = crashed = gp = 0
    state = init
    entry = nxt[head]
    steps = 0
    budget = SLICE
    fresh = True
    while True:
        guided = False
        if fresh:
            # a new configuration: find the guided first try, if any
            fresh = False
            while gp < n_guide and done[guide[gp]]:
                gp += 1
            entry = nxt[head]
            if gp < n_guide:
                g = guide[gp]
                g_in, g_out, g_trans = inputs[g], outputs[g], trans[g]
                first = -1
                near = False
                e = nxt2[head]
                while e < n:  # crashed ops neither are forced nor guide: not in this list
                    if need[e]:
                        e = nxt2[e]
                        continue
                    if e == g:
                        near = True
                    t = trans[e]
                    ns = t.get(state, _MISS)
                    if ns is _MISS:
                        legal, ns = step(state, inputs[e], outputs[e])
                        t[state] = ns = ns if legal else _ILLEGAL
                    if ns is not _ILLEGAL:
                        if ro[e]:
                            first = -1
                            entry = e  # a legal read is forced (see below): no other choice is tried
                            break
                        if first < 0:
                            if to is not None:
                                if to(ns, g_out):
                                    first = e
                            else:  # by default, towards a state in which the guiding read is legal
                                gs = g_trans.get(ns, _MISS)
                                if gs is _MISS:
                                    legal, gs = step(ns, g_in, g_out)
                                    g_trans[ns] = gs = gs if legal else _ILLEGAL
                                if gs is not _ILLEGAL:
                                    first = e
                    e = nxt2[e]
                if first >= 0 and (near or to is not None):
                    entry = first
                    guided = True
        if entry < n:
            tw = twin[entry]
            if tw >= 0 and not crashed >> tw & 1 or need[entry]:
                entry = nxt[entry]
                continue
            t = trans[entry]
            ns = t.get(state, _MISS)
            if ns is _ILLEGAL:
                entry = nxt[entry]
                continue
            if ns is _MISS:
                legal, ns = step(state, inputs[entry], outputs[entry])
                if not legal:
                    t[state] = _ILLEGAL
                    entry = nxt[entry]
                    continue
                t[state] = ns
            r_ = r = rank[entry]
            if r >= 0:
                nc = crashed
                nh = hi | 1 << (r - base)
                nb = base
                if nh & 1:
                    shift = (nh ^ (nh + 1)).bit_length() - 1
                    nh >>= shift
                    nb += shift
            else:
                if ns == state:  # a crashed op that changes nothing here: "never" does as well (see above)
                    entry = nxt[entry]
                    continue
                nb, nh, nc = base, hi, crashed | cbit[entry]
            key = (nb, nh, nc, ns)
            dominated = False
            if nc:  # the latest-invoked crashed ops placed: the ones whose removal gives a configuration seen
                m_ = nc
                for _ in range(DOMINANCE_TRIES):
                    top = 1 << (m_.bit_length() - 1)
                    if (nb, nh, nc ^ top, ns) in memo:
                        dominated = True
                        break
                    m_ ^= top
                    if not m_:
                        break
            if not dominated and key not in memo:
                memo.add(key)
                stack.append((entry, state, base, hi, crashed, gp, guided))
                done[entry] = 1
                for k in succ[entry]:
                    need[k] -= 1
                budget -= 1
                if not budget:
                    budget = SLICE
                    steps += SLICE
                    yield len(memo), best
                state = ns
                base, hi, crashed = nb, nh, nc
                r = entry + n
                p = prv[entry]
                q = nxt[entry]
                nxt[p] = q
                prv[q] = p
                p = prv[r]
                q = nxt[r]
                nxt[p] = q
                prv[q] = p
                if r_ >= 0:
                    p = prv2[entry]
                    q = nxt2[entry]
                    nxt2[p] = q
                    prv2[q] = p
                    p = prv2[r]
                    q = nxt2[r]
                    nxt2[p] = q
                    prv2[q] = p
                fresh = True
                continue
            if guided:  # already explored: the plain walk below tries the rest (and skips it)
                entry = nxt[head]
                continue
            if not ro[entry]:
                entry = nxt[entry]
                continue
            # a read-only-preserving op already explored from here: this configuration fails
        else:
            if stop[entry]:
                out.ok = True
                out.steps, out.memo = steps + SLICE - budget, len(memo)
                return out
            depth = len(stack)
            if depth >= best:
                if depth > best:
                    best = depth
                    best_stack = stack[:]
                    out.states = []
                    out.blocked = []
                if state not in out.states and len(out.states) < _KEEP:
                    out.states.append(state)
                if entry - n not in out.blocked and len(out.blocked) < _KEEP:
                    out.blocked.append(entry - n)
        # backtrack to the last unforced choice
        while True:
            if not stack:
                out.steps, out.memo = steps + SLICE - budget, len(memo)
                out.prefix = [fr[0] for fr in best_stack]
                return out
            k, state, base, hi, crashed, gp, was_guided = stack.pop()
            done[k] = 0
            for j in succ[k]:
                need[j] += 1
            r = k + n
            nxt[prv[r]] = r
            prv[nxt[r]] = r
            nxt[prv[k]] = k
            prv[nxt[k]] = k
            if rank[k] >= 0:
                nxt2[prv2[r]] = r
                prv2[nxt2[r]] = r
                nxt2[prv2[k]] = k
                prv2[nxt2[k]] = k
            if not ro[k]:
                break
        # after the guided first try, the plain walk from the start (where it is met again and skipped)
        entry = nxt[head] if was_guided else nxt[k]
