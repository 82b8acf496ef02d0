"""Linearizability of a read/write register whose writes are unique, in O(n log n).

When every write puts a distinct value, each read names the one write it read
from, and the NP-hard search collapses (Gibbons & Korach, "Testing shared
memories", 1997). The criterion used here is the *zone* one (Gibbons & Korach's
clusters, as stated by Golab, Li & Shah, "Analyzing consistency properties for
fun and profit", PODC 2011):

* a value's *cluster* is its write and every read that returned it; the initial
  value is written by a virtual write that returns before anything starts;
* the cluster's zone runs between ``f`` (the earliest return in it) and ``s``
  (the latest invocation in it). If ``f < s`` the zone is *forward*: the value
  must be live through all of ``[f, s]``, so no other write may take effect
  there. Otherwise it is *backward*: all its ops overlap, and the value may live
  for an instant anywhere in ``[s, f]``;
* the history is linearizable iff every read names a value that was written (or
  the initial value), no read returns before its write was invoked, no two
  forward zones overlap, and no backward zone lies inside a forward zone.

Times are history positions (all distinct). A write that never completed
(``info``, or pending at the end) returns at "infinity": it may take effect any
time after its invocation, and one that nobody read never conflicts (its
backward zone reaches past every forward one), which is the "or never" of
Jepsen's semantics. Failed writes and unseen reads were dropped before (see
:mod:`splitbrain.checkers.models`). ``tests/test_linearizable_zones.py`` checks
this against the general search and a brute force.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ZoneOutcome", "check_zones", "qualifies", "unwritten_read"]


@dataclass
class ZoneOutcome:
    ok: bool
    #: why not (empty when ok)
    explanation: str = ""
    #: positions (into the op list) of the ops that cannot all be linearized
    ops: list[int] = field(default_factory=list)
    clusters: int = 0
    #: whether the general search's longest prefix would explain it better (not for the
    #: conflicts of :mod:`._appends`, which name the ops at fault)
    search_explains: bool = True


_INIT: Any = object()  # the cluster key of the initial value


def _mode(inputs: list[Any]) -> str | None:
    """'r' (register reads) or 'g' (kv gets: a missing key reads as "") when only reads and writes occur."""
    kinds = {inp[0] for inp in inputs}
    if not kinds <= {"r", "w", "g"} or {"r", "g"} <= kinds:
        return None
    return "g" if "g" in kinds else "r"


def qualifies(inputs: list[Any], init: Any) -> bool:
    """Only reads and writes, every write a distinct value, none equal to the initial value."""
    mode = _mode(inputs)
    if mode is None:
        return False
    start = "" if mode == "g" and init is None else init
    seen: set[Any] = set()
    try:
        for inp in inputs:
            if inp[0] == "w":
                v = "" if mode == "g" and inp[1] is None else inp[1]
                if v in seen or v == start:
                    return False
                seen.add(v)
    except TypeError:  # an unhashable value: leave it to the general search
        return False
    return True


def check_zones(call_pos: list[float], ret_pos: list[float], inputs: list[Any], outputs: list[Any],
                init: Any) -> ZoneOutcome:
    """Decide a qualifying partition (see :func:`qualifies`); ``ret_pos`` is ``inf`` for crashed ops."""
    mode = _mode(inputs) or "r"
    start = "" if mode == "g" and init is None else init
    finite = [r for r in ret_pos if r != math.inf]
    big = (max(max(finite, default=0.0), max(call_pos, default=0.0)) + 1.0)
    writer: dict[Any, int] = {}
    for k, inp in enumerate(inputs):
        if inp[0] == "w":
            writer["" if mode == "g" and inp[1] is None else inp[1]] = k
    # cluster -> [earliest return, latest invocation, op with that return, op with that invocation]
    lo_f: dict[Any, float] = {}
    hi_s: dict[Any, float] = {}
    arg_f: dict[Any, int] = {}
    arg_s: dict[Any, int] = {}
    for v, k in writer.items():
        r = ret_pos[k]
        lo_f[v] = big if r == math.inf else r
        hi_s[v] = call_pos[k]
        arg_f[v] = arg_s[v] = k
    lo_f[_INIT], hi_s[_INIT], arg_f[_INIT], arg_s[_INIT] = -1.0, -2.0, -1, -1
    for k, inp in enumerate(inputs):
        if inp[0] == "w":
            continue
        v = outputs[k]
        if v == start:
            v = _INIT
        else:
            w = writer.get(v)
            if w is None:
                return ZoneOutcome(False, f"read (op {k}) returned {v!r}, a value no write put", [k])
            if ret_pos[k] < call_pos[w]:
                return ZoneOutcome(False, f"read (op {k}) returned {v!r} before the write of it (op {w}) began",
                                   [k, w])
        r = ret_pos[k]
        if r < lo_f[v]:
            lo_f[v], arg_f[v] = r, k
        c = call_pos[k]
        if c > hi_s[v]:
            hi_s[v], arg_s[v] = c, k
    forward: list[tuple[float, float, Any]] = []
    backward: list[tuple[float, float, Any]] = []
    for v, f in lo_f.items():
        s = hi_s[v]
        (forward if f < s else backward).append((f, s, v) if f < s else (s, f, v))
    forward.sort(key=lambda z: z[0])

    def ops_of(v: Any) -> list[int]:
        return sorted({k for k in (arg_f[v], arg_s[v]) if k >= 0})

    def name(v: Any) -> str:
        return "the initial value" if v is _INIT else f"value {v!r}"

    for a, b in zip(forward, forward[1:], strict=False):
        if b[0] < a[1]:
            return ZoneOutcome(
                False, f"{name(a[2])} was observed until op {arg_s[a[2]]} began and {name(b[2])} from op "
                f"{arg_f[b[2]]}'s return: both must be the register's value at once", ops_of(a[2]) + ops_of(b[2]))
    lefts = [z[0] for z in forward]
    for lo, hi, v in backward:
        i = bisect.bisect_right(lefts, lo) - 1
        if i >= 0 and forward[i][1] > hi:
            u = forward[i][2]
            return ZoneOutcome(
                False, f"{name(v)} must take effect inside the span where {name(u)} must stay "
                f"(from op {arg_f[u]}'s return to op {arg_s[u]}'s invocation)", ops_of(v) + ops_of(u))
    return ZoneOutcome(True, clusters=len(lo_f))


def unwritten_read(inputs: list[Any], outputs: list[Any], init: Any) -> ZoneOutcome | None:
    """A read of a value that no write or cas puts (nor the initial value): illegal in any order.

    For any register partition (values reused, cas too), before the general search: such a
    read would otherwise make it exhaust every order of the ops before it. Appends (a read
    may see a concatenation) are left to the search.
    """
    put: set[Any] = {init, "" if init is None else init}
    try:
        for inp in inputs:
            k = inp[0]
            if k == "w":
                put.add(inp[1])
                put.add("" if inp[1] is None else inp[1])
            elif k == "cas":
                put.add(inp[2])
            elif k not in ("r", "g"):
                return None
        for k, inp in enumerate(inputs):
            if inp[0] in ("r", "g") and outputs[k] not in put:
                return ZoneOutcome(False, f"read (op {k}) returned {outputs[k]!r}, a value no write put", [k])
    except TypeError:
        return None
    return None
