"""The counter checker: every read lies within what the increments allow.

Ops (per ``key``): ``add`` integer -> integer (``incr`` is accepted as a synonym),
``read`` null -> integer. The counter starts at ``init`` (default 0; a ``null`` read
means "never incremented" and counts as ``init``).

For a read invoked at position p0 and returning at p1, Jepsen's rule is that the
value must be at least the sum of acknowledged adds completed before p0 and at most
the sum of all adds (``ok`` or ``info``; ``fail`` ones never happened) invoked
before p1. That rule assumes increments are positive; with negative ones an
uncertain add can pull the value *down*, so in general, with D the adds that
certainly precede the read and P the other adds that may have taken effect:

    lower = init + sum(D) + sum(min(0, v) for v in P)
    upper = init + sum(D) + sum(max(0, v) for v in P)

With ``final_only`` (eventually consistent counters: Maelstrom's g-counter and
pn-counter) only the *final* reads are judged: those invoked after every add was
invoked and every add that completed had completed, i.e. once the adds stopped.
Reads during the run may lag behind; the final ones may not.

Both reduce to prefix sums over adds sorted by invocation and by completion, so a
read costs two binary searches: the whole check is O(n log n).
"""

from __future__ import annotations

import bisect
import time
from itertools import accumulate
from typing import Any

from splitbrain.checkers._common import (
    MAX_ANOMALIES_PER_KIND,
    bad_shape,
    call_ops,
    client_calls,
    inv_pos,
    is_int,
    ret_pos,
    sort_key,
)
from splitbrain.checkers.result import Anomaly, Result, Valid
from splitbrain.checkers.values import freeze
from splitbrain.history import Call, History

ADD_FS = ("add", "incr")


def _prefix(vals: list[int]) -> list[int]:
    return [0, *accumulate(vals)]


def _final(adds: list[Call], reads: list[Call]) -> list[Call]:
    quiet = max((max(inv_pos(c), c.complete_index or -1) for c in adds), default=-1)
    return [r for r in reads if inv_pos(r) > quiet]


def _check_key(history: History, key: Any, adds: list[Call], reads: list[Call], init: int,
               out: list[Anomaly], errors: list[int]) -> dict[str, Any]:
    possible = sorted((c for c in adds if c.type != "fail"), key=inv_pos)
    acked = sorted((c for c in adds if c.type == "ok"), key=ret_pos)
    all_inv = [inv_pos(c) for c in possible]
    all_pos = _prefix([max(0, c.value) for c in possible])
    all_neg = _prefix([min(0, c.value) for c in possible])
    ack_ret = [ret_pos(c) for c in acked]
    ack_pos = _prefix([max(0, c.value) for c in acked])
    ack_neg = _prefix([min(0, c.value) for c in acked])
    bad = 0
    for r in sorted(reads, key=inv_pos):
        v = init if r.output is None else r.output
        if not is_int(v):
            raise bad_shape(history, r, f"a counter read must return an integer, got {v!r}")
        n_def = bisect.bisect_left(ack_ret, inv_pos(r))
        n_all = bisect.bisect_left(all_inv, ret_pos(r))
        lower = init + ack_pos[n_def] + all_neg[n_all]
        upper = init + all_pos[n_all] + ack_neg[n_def]
        if not lower <= v <= upper:
            bad += 1
            errors[0] += 1
            if errors[0] <= MAX_ANOMALIES_PER_KIND:
                side = "below the lower" if v < lower else "above the upper"
                out.append(Anomaly(
                    kind="out-of-bounds",
                    explanation=f"read {r.invoke_index} returned {v}, {side} bound: it must lie in "
                                f"[{lower}, {upper}] ({n_def} acknowledged adds completed before it began, "
                                f"{n_all} adds begun before it ended)",
                    ops=call_ops(r), key=key,
                    data={"read": v, "lower": lower, "upper": upper,
                          "acknowledged_before": n_def, "possible_before": n_all},
                ))
    return {
        "reads": len(reads),
        "adds": len(adds),
        "acknowledged": len(acked),
        "indeterminate": len(possible) - len(acked),
        "failed": len(adds) - len(possible),
        "acknowledged_sum": ack_pos[-1] + ack_neg[-1],
        "possible_range": [init + ack_pos[-1] + all_neg[-1], init + all_pos[-1] + ack_neg[-1]],
        "out_of_bounds": bad,
    }


def check_counter(history: History, *, init: Any = 0, final_only: bool = False, **_opts: Any) -> Result:
    """Judge every ``ok`` read of a counter (or only the final ones) against the bounds the adds allow."""
    t0 = time.monotonic()
    if init is None:
        init = 0
    if not is_int(init):
        from splitbrain.errors import UsageError

        raise UsageError(f"counter --init must be an integer, got {init!r}")
    keys: dict[Any, tuple[Any, list[Call], list[Call]]] = {}
    for c in client_calls(history):
        if c.f not in ADD_FS and c.f != "read":
            continue
        fk = freeze(c.key)
        entry = keys.setdefault(fk, (c.key, [], []))
        if c.f in ADD_FS:
            if not is_int(c.value):
                raise bad_shape(history, c, f"a counter add takes an integer, got {c.value!r}")
            entry[1].append(c)
        elif c.type == "ok":
            entry[2].append(c)
    anomalies: list[Anomaly] = []
    errors = [0]
    per_key: dict[str, Any] = {}
    for fk in sorted(keys, key=sort_key):
        key, adds, reads = keys[fk]
        if final_only:
            reads = _final(adds, reads)
        per_key["" if key is None else str(key)] = _check_key(history, key, adds, reads, init, anomalies, errors)
    total_reads = sum(s["reads"] for s in per_key.values())
    stats: dict[str, Any] = {
        "keys": len(keys),
        "reads": total_reads,
        "adds": sum(s["adds"] for s in per_key.values()),
        "acknowledged": sum(s["acknowledged"] for s in per_key.values()),
        "out_of_bounds": errors[0],
        "per_key": per_key,
    }
    unread = [k for k, s in per_key.items() if s["reads"] == 0 and s["adds"] > 0]
    valid: Valid
    if errors[0]:
        valid, summary = False, f"{errors[0]} of {total_reads} reads out of bounds"
    elif not keys:
        valid, summary = "unknown", "no counter operations in the history"
    elif total_reads == 0 or unread:
        valid, summary = "unknown", "counter never read: nothing to judge"
    else:
        valid, summary = True, f"all {total_reads} reads within bounds"
    return Result(checker="counter", valid=valid, summary=summary, anomalies=anomalies, stats=stats,
                  seconds=time.monotonic() - t0)
