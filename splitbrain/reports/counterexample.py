"""The counterexample section's data: a linearizability anomaly shrunk to its core.

For every checker result that carries linearizability details (``model``,
``key``), the run's calls on that key are shrunk (:mod:`splitbrain.reports.shrink`)
and the core re-checked so the page can show the model states the search
reached, the longest linearizable prefix, and what each read should have seen.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from splitbrain.history import History
from splitbrain.reports.rundata import RunData
from splitbrain.reports.shrink import shrink, what_reads_could_see

log = logging.getLogger("splitbrain.reports")


def _j(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, default=str)


def _label(c: Any) -> str:
    arg = "" if c.value is None else " " + _j(c.value)
    ret = " -> " + _j(c.output) if c.type == "ok" and c.f not in ("write",) else ""
    return f"{c.f}{arg}{ret}"


def counterexamples(run: RunData, budget_s: float = 20.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + budget_s
    for name, res in ((run.results or {}).get("checkers") or {}).items():
        if not isinstance(res, dict) or res.get("valid") is not False:
            continue
        details = res.get("details") or {}
        if not isinstance(details, dict) or "model" not in details:
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            blamed = [i for a in res.get("anomalies") or [] if isinstance(a, dict)
                      for i in a.get("ops") or [] if isinstance(i, int)]
            out.append(core_view(run.history, str(name), details["model"], details.get("key"),
                                 run.test.get("init"), left, hint_cut=max(blamed) + 1 if blamed else None))
        except Exception as e:  # noqa: BLE001 - a report without a core beats no report
            log.warning("shrinking %s's anomaly failed: %s: %s", name, type(e).__name__, e)
    return [c for c in out if c]


def core_view(history: History, checker: str, model: str, key: Any, init: Any, budget_s: float,
              hint_cut: int | None = None) -> dict[str, Any]:
    from splitbrain.checkers.linearizable import check_history

    calls = [c for c in history.calls(strict=False) if isinstance(c.process, int)]
    if key is not None:
        keyed = [c for c in calls if c.key == key]
        calls = keyed or calls
    core = shrink(calls, model, init, budget_s=budget_s * 0.5, closed=True, hint_cut=hint_cut)
    if core is None:
        return {}
    literal = shrink(core.calls, model, init, budget_s=budget_s * 0.2)
    by_index = {op.index: op for op in history.ops}
    idx = sorted({c.invoke_index for c in core.calls} | {c.complete_index for c in core.calls
                                                          if c.complete_index is not None})
    sub = History([by_index[i] for i in idx if i in by_index])
    res = check_history(sub, model=model, init=init, timeout_s=max(1.0, budget_s * 0.1))
    should = what_reads_could_see(core.calls, model, init, budget_s=max(0.5, budget_s * 0.1))
    ops = []
    for c in core.calls:
        end = by_index[c.complete_index].time / 1e9 if c.complete_index is not None and c.complete_index in by_index \
            else None
        exp = None
        if c.invoke_index in should:
            vals = should[c.invoke_index]
            exp = "one of " + ", ".join(_j(v) for v in vals) if vals else "no single value fixes it"
        ops.append({"index": c.invoke_index, "process": c.process, "type": c.type, "label": _label(c)[:200],
                    "start": by_index[c.invoke_index].time / 1e9 if c.invoke_index in by_index else 0.0,
                    "end": end, **({"expected": exp} if exp is not None else {})})
    d = res.details or {}
    return {"checker": checker, "model": model, "init": _j(init), "key": "" if key is None else _j(key),
            "minimal": core.minimal, "checks": core.checks, "seconds": round(core.seconds, 3),
            "ops": ops, "op_indices": idx, "minimal_core": [f"#{c.invoke_index} process {c.process} {_label(c)[:200]} ({c.type})"
                                         for c in (literal.calls if literal else [])],
            "verdict": res.valid, "longest_prefix": d.get("longest_prefix", []),
            "final_states": _j(d.get("final_states", [])), "unplaceable": d.get("unplaceable", []),
            "expected": str(d.get("expected", ""))}
