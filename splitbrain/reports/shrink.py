"""Shrink a non-linearizable history to a minimal core.

The checker says *where* its search got stuck, but that point sits on top of
a long prefix that mostly does not matter. A person wants the few operations
that cannot be linearized together: a set that is not linearizable and where
removing any single operation makes it linearizable (1-minimal, as delta
debugging defines it). Two steps get there:

1. Cut the history at the earliest event where it already fails. Cutting is
   safe: a prefix of a linearizable history is linearizable, so failure is
   monotone in the cut point and a binary search finds it. Calls still open at
   the cut become ``info`` (they may or may not have happened).
2. Delta debugging (Zeller's ddmin) on the calls left: drop chunks, then
   single calls, while the rest stays non-linearizable.

Every step asks the checker's own verdict (:func:`is_linearizable`), so the
core is non-linearizable by the same semantics that judged the run. Shrinking
has its own time budget; out of time, the smallest failing set found so far is
returned, marked not minimal.

Removing ops is not monotone for registers: a read of 4 whose write was dropped
is illegal on its own, so the 1-minimal core is often one lone read, which is
true but says little. ``closed=True`` therefore shrinks only through sets where
every read's value still has a writer (or is the initial state), which keeps
the write that read came from and the ops that overwrote it: the *explained*
core a person reads. The report shows both.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from splitbrain.history import Call

#: per-check time limit; a check that runs out counts as "not shown to fail"
CHECK_TIMEOUT_S = 5.0


@dataclass
class Core:
    calls: list[Call]
    minimal: bool
    checks: int
    seconds: float


class _OutOfTime(Exception):
    pass


def _truncate(calls: list[Call], cut: int) -> list[Call]:
    """The calls as they stood once the history's first ``cut`` events had happened."""
    out = []
    for c in calls:
        if c.invoke_index >= cut:
            continue
        if c.complete_index is not None and c.complete_index >= cut:
            c = dataclasses.replace(c, type="info", output=None, ret_time=math.inf, complete_index=None)
        out.append(c)
    return out


def _written(c: Call) -> list[Any]:
    if c.f in ("write", "put") and c.type != "fail":
        return [c.value]
    if c.f == "cas" and c.type != "fail" and isinstance(c.value, (list, tuple)) and len(c.value) == 2:
        return [c.value[1]]
    return []


def _key(v: Any) -> str:
    import json

    return json.dumps(v, sort_keys=True, default=str)


def _closure(calls: list[Call], init: Any) -> Callable[[list[Call]], bool]:
    """Whether a subset keeps a source for every read value that has one in ``calls``."""
    sources = {_key(v) for c in calls for v in _written(c)} | {_key(init)}

    def closed(subset: list[Call]) -> bool:
        have = {_key(init)} | {_key(v) for c in subset for v in _written(c)}
        for c in subset:
            if c.type == "ok" and c.f in ("read", "get"):
                k = _key(c.output)
                if k in sources and k not in have and c.output is not None:
                    return False
        return True

    return closed


def shrink(calls: list[Call], model: Any, init: Any = None, budget_s: float = 20.0,
           check: Callable[[list[Call]], Any] | None = None, closed: bool = False,
           hint_cut: int | None = None) -> Core | None:
    """A 1-minimal non-linearizable subset of ``calls``, or None when ``calls`` is not shown to fail.

    ``hint_cut`` is a history position the checker already blamed (one past the
    last event of its anomaly): when the history cut there fails, the long
    full-history check is skipped and the search starts from that cut.
    """
    from splitbrain.checkers.linearizable import is_linearizable

    start = time.monotonic()
    deadline = start + budget_s
    checks = 0

    def fails(subset: list[Call]) -> bool:
        nonlocal checks
        left = deadline - time.monotonic()
        if left <= 0:
            raise _OutOfTime
        checks += 1
        if check is not None:
            return check(subset) is False
        return is_linearizable(subset, model, init, timeout_s=min(CHECK_TIMEOUT_S, left)) is False

    calls = sorted((c for c in calls if isinstance(c.process, int)), key=lambda c: c.invoke_index)
    try:
        if hint_cut is not None and fails(_truncate(calls, hint_cut)):
            calls = _truncate(calls, hint_cut)
        elif not fails(calls):
            return None
    except _OutOfTime:
        return None
    core = calls
    try:
        events = sorted({c.invoke_index for c in calls} | {c.complete_index for c in calls
                                                           if c.complete_index is not None})
        lo, hi = 0, len(events) - 1  # failing cut lies in events[lo..hi]; cut at events[hi]+1 fails
        while lo < hi:
            mid = (lo + hi) // 2
            if fails(_truncate(calls, events[mid] + 1)):
                hi = mid
            else:
                lo = mid + 1
        core = _truncate(calls, events[hi] + 1)
        if closed:
            ok = _closure(core, init)
            core = _ddmin(core, lambda sub: ok(sub) and fails(sub))
        else:
            core = _ddmin(core, fails)
        minimal = True
    except _OutOfTime:
        minimal = False
    return Core(core, minimal, checks, time.monotonic() - start)


def _ddmin(core: list[Call], fails: Callable[[list[Call]], bool]) -> list[Call]:
    n = 2
    while len(core) >= 2:
        size = math.ceil(len(core) / n)
        chunks = [core[i:i + size] for i in range(0, len(core), size)]
        for chunk in chunks:
            drop = {id(c) for c in chunk}
            rest = [c for c in core if id(c) not in drop]
            if rest and fails(rest):
                core = rest
                n = max(n - 1, 2)
                break
        else:
            if size == 1:
                return core
            n = min(len(core), 2 * n)
    return core


def what_reads_could_see(core: list[Call], model: Any, init: Any, budget_s: float = 5.0) -> dict[int, list[Any]]:
    """For each ok read of the core, the values that would have made the core linearizable."""
    from splitbrain.checkers.linearizable import is_linearizable

    deadline = time.monotonic() + budget_s
    cands: list[Any] = [init]
    for c in core:
        if c.f == "write":
            cands.append(c.value)
        elif c.f == "cas" and isinstance(c.value, (list, tuple)) and len(c.value) == 2:
            cands.append(c.value[1])
    uniq: list[Any] = []
    for v in cands:
        if v not in uniq:
            uniq.append(v)
    out: dict[int, list[Any]] = {}
    for i, c in enumerate(core):
        if c.type != "ok" or c.f not in ("read", "get"):
            continue
        seen = []
        for v in uniq:
            if v == c.output or time.monotonic() > deadline:
                continue
            trial = list(core)
            trial[i] = dataclasses.replace(c, output=v)
            try:
                if is_linearizable(trial, model, init, timeout_s=1.0) is True:
                    seen.append(v)
            except Exception:  # noqa: BLE001 - a candidate of the wrong shape is simply not one
                continue
        out[c.invoke_index] = seen
    return out
