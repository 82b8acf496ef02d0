"""The unique-ids checker: no id is handed out twice.

Ops: ``generate`` null -> id. Only ``ok`` completions carry an id; an ``info``
generate may have consumed one, which cannot hurt uniqueness. Every id returned
more than once is one ``duplicate`` anomaly naming all the ops that returned it.
A history with no acknowledged generate proves nothing and ends ``unknown``.
"""

from __future__ import annotations

import time
from typing import Any

from splitbrain.checkers._common import (
    MAX_ANOMALIES_PER_KIND,
    bad_shape,
    call_ops,
    client_calls,
    is_int,
    sort_key,
)
from splitbrain.checkers.result import Anomaly, Result, Valid
from splitbrain.checkers.values import freeze, thaw
from splitbrain.history import Call, History


def check_unique_ids(history: History, **_opts: Any) -> Result:
    """Report every id that more than one acknowledged ``generate`` returned."""
    t0 = time.monotonic()
    owners: dict[Any, list[Call]] = {}
    attempts = ok = 0
    for c in client_calls(history):
        if c.f != "generate":
            continue
        attempts += 1
        if c.type != "ok":
            continue
        if c.output is None:
            raise bad_shape(history, c, "an ok generate must return an id, got null")
        ok += 1
        owners.setdefault(freeze(c.output), []).append(c)
    dups = sorted(((i, cs) for i, cs in owners.items() if len(cs) > 1), key=lambda x: sort_key(x[0]))
    anomalies = []
    for ident, cs in dups[:MAX_ANOMALIES_PER_KIND]:
        ops = sorted(i for c in cs for i in call_ops(c))
        anomalies.append(Anomaly(
            kind="duplicate",
            explanation=f"id {thaw(ident)!r} was returned {len(cs)} times "
                        f"(by ops {', '.join(str(c.invoke_index) for c in cs[:10])})",
            ops=ops,
            data={"id": thaw(ident), "count": len(cs), "invocations": [c.invoke_index for c in cs]},
        ))
    stats: dict[str, Any] = {
        "attempts": attempts,
        "acknowledged": ok,
        "distinct": len(owners),
        "duplicated_ids": len(dups),
        "duplicate_returns": sum(len(cs) - 1 for _, cs in dups),
    }
    ints = [i for i in owners if is_int(i)]
    if ints:
        stats["range"] = [min(ints), max(ints)]
    valid: Valid
    if dups:
        valid, summary = False, f"{len(dups)} ids returned more than once (of {ok} acknowledged generates)"
    elif ok == 0:
        valid, summary = "unknown", "no generate was acknowledged: nothing to judge"
    else:
        valid, summary = True, f"all {ok} acknowledged ids distinct"
    return Result(checker="unique-ids", valid=valid, summary=summary, anomalies=anomalies, stats=stats,
                  seconds=time.monotonic() - t0)
