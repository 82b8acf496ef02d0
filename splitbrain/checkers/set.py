"""The set checker: did every acknowledged add survive, and nothing appear from nowhere?

Ops (per ``key``, several independent sets allowed): ``add`` element -> element,
``read`` null -> list of elements. As in Jepsen's set checker, the verdict rests on
the *final read* of each key -- the last ``ok`` read to complete:

* **lost**: an add acknowledged (``ok``) before the final read began is missing
  from it. Acks that raced with the final read are not judged (``unresolved``).
* **unexpected**: an element in a read that nobody had tried to add before that
  read returned (any read, not only the final one).
* **failed-present**: an element whose every add *failed* shows up in a read --
  ``fail`` promised it never took effect.
* **duplicate**: a read lists the same element twice.
* **recovered** (not an error): an add that ended ``info`` (unknown) is present.

Like Jepsen's set-full it also looks at the intermediate reads: an acknowledged
element absent from some read begun after its ack, yet present at the end, is
**stale**. Stale reads are counted, and are anomalies only with
``linearizable=True`` (a linearizable set never un-sees an element).

A key that was added to but never read ends ``unknown``: nothing can be judged.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from splitbrain.checkers._common import (
    MAX_ANOMALIES_PER_KIND,
    call_ops,
    client_calls,
    inv_pos,
    ret_pos,
    sort_key,
)
from splitbrain.checkers._common import bad_shape as _bad
from splitbrain.checkers.result import Anomaly, Result, Valid
from splitbrain.checkers.values import freeze, thaw
from splitbrain.history import Call, History

#: longest element list per key and kind kept in ``details``
MAX_DETAIL = 1000


@dataclass
class _Elem:
    first_inv: float
    first: Call
    ok_ret: float = float("inf")  # earliest acknowledgement
    ok: bool = False
    info: bool = False
    fail: bool = False


@dataclass
class _Key:
    adds: dict[Any, _Elem] = field(default_factory=dict)
    reads: list[tuple[Call, list[Any]]] = field(default_factory=list)
    attempts: int = 0


def _collect(history: History) -> dict[Any, tuple[Any, _Key]]:
    keys: dict[Any, tuple[Any, _Key]] = {}
    for c in client_calls(history):
        if c.f not in ("add", "read"):
            continue
        fk = freeze(c.key)
        if fk not in keys:
            keys[fk] = (c.key, _Key())
        k = keys[fk][1]
        if c.f == "add":
            k.attempts += 1
            e = freeze(c.value)
            el = k.adds.get(e)
            if el is None:
                el = k.adds[e] = _Elem(first_inv=inv_pos(c), first=c)
            if c.type == "ok":
                el.ok = True
                el.ok_ret = min(el.ok_ret, ret_pos(c))
            elif c.type == "info":
                el.info = True
            else:
                el.fail = True
        elif c.type == "ok":
            out = c.output
            if out is None:
                out = []
            if not isinstance(out, list):
                raise _bad(history, c, f"a set read must return a list of elements, got {type(out).__name__}")
            k.reads.append((c, [freeze(x) for x in out]))
    return keys


def _anomaly(kind: str, key: Any, e: Any, ops: list[int], text: str, **data: Any) -> Anomaly:
    return Anomaly(kind=kind, explanation=text, ops=sorted(set(ops)), key=key, data={"element": thaw(e), **data})


def _check_key(key: Any, k: _Key, linearizable: bool, out: list[Anomaly], counts: dict[str, int]) -> tuple[Valid, dict[str, Any]]:
    def emit(a: Anomaly) -> None:
        counts[a.kind] = counts.get(a.kind, 0) + 1
        if counts[a.kind] <= MAX_ANOMALIES_PER_KIND:
            out.append(a)

    found: dict[str, list[Any]] = {"lost": [], "unexpected": [], "failed-present": [], "duplicate": [],
                                   "recovered": [], "stale": [], "unresolved": []}
    reads = sorted(k.reads, key=lambda r: inv_pos(r[0]))
    # Checks on every read: duplicates, elements nobody tried to add, elements whose adds all failed.
    seen_bad: set[tuple[str, Any]] = set()
    read_starts = [inv_pos(rc) for rc, _ in reads]
    # For stale reads: the rank of the first read begun after each ack, and how many of the
    # reads from there on show the element (O(elements) memory, one pass over the reads).
    first_after = {e: bisect.bisect_right(read_starts, el.ok_ret) for e, el in k.adds.items() if el.ok}
    shown_after: Counter[Any] = Counter()
    for rank, (rc, elems) in enumerate(reads):
        if len(set(elems)) != len(elems):
            dup = sorted((e for e, n in Counter(elems).items() if n > 1), key=sort_key)
            for e in dup:
                found["duplicate"].append(e)
                emit(_anomaly("duplicate", key, e, call_ops(rc), f"read {rc.invoke_index} lists {thaw(e)!r} more than once"))
        for e in dict.fromkeys(elems):
            if first_after.get(e, len(reads)) <= rank:
                shown_after[e] += 1
            el = k.adds.get(e)
            if el is None or el.first_inv > ret_pos(rc):
                if ("u", e) not in seen_bad:
                    seen_bad.add(("u", e))
                    found["unexpected"].append(e)
                    why = "was never added" if el is None else f"was first added at op {el.first.invoke_index}, after the read returned"
                    emit(_anomaly("unexpected", key, e, call_ops(rc) + ([] if el is None else call_ops(el.first)),
                                  f"read {rc.invoke_index} saw {thaw(e)!r}, which {why}"))
            elif el.fail and not el.ok and not el.info and ("f", e) not in seen_bad:
                seen_bad.add(("f", e))
                found["failed-present"].append(e)
                emit(_anomaly("failed-present", key, e, call_ops(rc) + call_ops(el.first),
                              f"read {rc.invoke_index} saw {thaw(e)!r}, whose add failed (definitely not applied)"))
    if not reads:
        return "unknown", {"attempts": k.attempts, "reads": 0, **{n: 0 for n in found}}

    final_call, final_elems = max(k.reads, key=lambda r: ret_pos(r[0]))
    final = set(final_elems)
    r0 = inv_pos(final_call)
    for e, el in k.adds.items():
        if e in final:
            if not el.ok and el.info:
                found["recovered"].append(e)
            if el.ok:
                if len(reads) - first_after[e] > shown_after[e]:
                    found["stale"].append(e)
                    if linearizable:
                        emit(_anomaly("stale", key, e, call_ops(el.first),
                                      f"{thaw(e)!r} was acknowledged, then missing from a later read, then present again"))
        elif el.ok:
            if el.ok_ret < r0:
                found["lost"].append(e)
                emit(_anomaly("lost", key, e, call_ops(el.first) + call_ops(final_call),
                              f"add of {thaw(e)!r} was acknowledged, but the final read {final_call.invoke_index} "
                              "(begun after the acknowledgement) does not contain it"))
            else:
                found["unresolved"].append(e)
    bad = found["lost"] or found["unexpected"] or found["failed-present"] or found["duplicate"] or (
        linearizable and found["stale"])
    stats: dict[str, Any] = {
        "attempts": k.attempts,
        "elements": len(k.adds),
        "acknowledged": sum(1 for el in k.adds.values() if el.ok),
        "failed": sum(1 for el in k.adds.values() if el.fail and not el.ok and not el.info),
        "indeterminate": sum(1 for el in k.adds.values() if el.info and not el.ok),
        "reads": len(reads),
        "final_read_size": len(final),
        "final_read": final_call.invoke_index,
        "ok": len(final & set(k.adds)),
        **{n: len(v) for n, v in found.items()},
    }
    stats["_lists"] = {n: [thaw(e) for e in sorted(v, key=sort_key)[:MAX_DETAIL]] for n, v in found.items() if v}
    return (False if bad else True), stats


def check_set(history: History, *, linearizable: bool = False, **_opts: Any) -> Result:
    """Judge a set history per key on its final read (see the module docstring)."""
    t0 = time.monotonic()
    keys = _collect(history)
    anomalies: list[Anomaly] = []
    counts: dict[str, int] = {}
    per_key: dict[str, Any] = {}
    verdicts: list[Valid] = []
    for fk in sorted(keys, key=sort_key):
        key, k = keys[fk]
        v, st = _check_key(key, k, linearizable, anomalies, counts)
        verdicts.append(v)
        per_key[str(key) if key is not None else ""] = st
    totals: dict[str, int] = {}
    for st in per_key.values():
        for n, x in st.items():
            if isinstance(x, int) and n not in ("final_read", "final_read_size"):
                totals[n] = totals.get(n, 0) + x
    details = {"keys": {k: st.pop("_lists", {}) for k, st in per_key.items()}}
    stats: dict[str, Any] = {**totals, "keys": len(keys), "per_key": per_key, "anomaly_counts": counts}

    unread = [k for k, st in per_key.items() if st["reads"] == 0]
    if any(v is False for v in verdicts):
        valid: Valid = False
        summary = ", ".join(f"{counts[n]} {n}" for n in sorted(counts))
    elif not keys:
        valid, summary = "unknown", "no set operations in the history"
    elif unread:
        valid, summary = "unknown", f"set{'s' if len(unread) > 1 else ''} never read: {', '.join(map(repr, unread[:5]))}"
    else:
        valid = True
        summary = (f"all {totals.get('acknowledged', 0)} acknowledged adds present; "
                   f"{totals.get('recovered', 0)} recovered, {totals.get('stale', 0)} stale")
    if valid is False:
        summary += f" (of {totals.get('acknowledged', 0)} acknowledged adds over {len(keys)} key(s))"
    return Result(checker="set", valid=valid, summary=summary, anomalies=anomalies, stats=stats,
                  details=details, seconds=time.monotonic() - t0)
