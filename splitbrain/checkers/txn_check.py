"""The part of an Elle-style check that every transactional workload shares.

A workload-specific checker (list-append, rw-register) infers a data
dependency graph and finds its own non-cycle anomalies; then :func:`judge`
adds the order edges the expectation needs, searches every strongly connected
component for cycles (bounded per class, see :mod:`splitbrain.checkers.txn_cycles`),
explains each cycle step by step, and turns the anomalies found into a verdict
the way Elle does:

* invalid when an anomaly the expected models prohibit was found;
* unknown when only ``empty-transaction-graph`` (nothing could be inferred)
  or ``cycle-search-timeout`` (a prohibited class could not be decided) was;
* valid otherwise (anomalies the models allow are kept in ``stats``);

and ``details`` carries ``anomaly-types``, ``not`` (the weakest models the
anomalies found rule out) and ``also-not`` (the stronger ones).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from splitbrain.checkers._common import MAX_ANOMALIES_PER_KIND, call_ops
from splitbrain.checkers.consistency import Expectation, boundary
from splitbrain.checkers.result import Anomaly, Result, Valid
from splitbrain.checkers.txn_cycles import CYCLE_TYPES, Step, components, search_component
from splitbrain.checkers.txn_graph import PROCESS, REALTIME, TxnGraph, add_process, add_realtime, render_step
from splitbrain.checkers.values import thaw
from splitbrain.history import Call


@dataclass
class Found:
    """Anomalies by kind (all of them, reportable or not) with exact counts."""

    by_kind: dict[str, list[Anomaly]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, explanation: str, ops: list[int], key: Any = None, **data: Any) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        lst = self.by_kind.setdefault(kind, [])
        if len(lst) < MAX_ANOMALIES_PER_KIND:
            lst.append(Anomaly(kind=kind, explanation=explanation, ops=sorted(set(ops)), key=thaw(key), data=data))


@dataclass
class TxnView:
    """How to name a transaction in an explanation."""

    call: Call
    value: Any  # the micro-ops as recorded (reads filled when ok)


def _short(value: Any, limit: int = 240) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 20] + " ... " + text[-15:]


def _txn_json(t: TxnView) -> dict[str, Any]:
    c = t.call
    return {"index": c.invoke_index, "complete": c.complete_index, "type": c.type, "process": c.process,
            "value": t.value}


def _evidence(g: TxnGraph, a: int, b: int, rel: str, txns: dict[int, TxnView]) -> dict[str, Any]:
    if rel == REALTIME:  # order edges are stored bare (there are many): the evidence is the calls
        return {"completed": txns[a].call.complete_index, "invoked": txns[b].call.invoke_index}
    if rel == PROCESS:
        return {"process": txns[a].call.process}
    return g.why[(a, b)][rel]


def _cycle_anomaly(found: Found, kind: str, steps: list[Step], g: TxnGraph, txns: dict[int, TxnView]) -> None:
    order = [a for a, _, _ in steps]
    names = {t: f"T{i + 1}" for i, t in enumerate(order)}
    lines = [f"  {names[t]} = op {txns[t].call.invoke_index} (process {txns[t].call.process!r}, "
             f"{txns[t].call.type}): {_short(txns[t].value)}" for t in order]
    expl = []
    for i, (a, b, rel) in enumerate(steps):
        why = _evidence(g, a, b, rel, txns)
        text = f"{names[a]} < {names[b]}, because {render_step(rel, why, names[a], names[b])}"
        expl.append(f"  - However, {text}: a contradiction!" if i == len(steps) - 1 else f"  - {text}.")
    explanation = f"{kind} cycle.\nLet:\n" + "\n".join(lines) + "\nThen:\n" + "\n".join(expl)
    step_data = []
    for a, b, rel in steps:
        why = _evidence(g, a, b, rel, txns)
        step_data.append({"type": rel, "from": txns[a].call.invoke_index, "to": txns[b].call.invoke_index,
                          **{k: thaw(v) for k, v in why.items()}})
    found.add(kind, explanation, [i for t in order for i in call_ops(txns[t].call)],
              cycle=[_txn_json(txns[t]) for t in order], edges=step_data)


def judge(checker: str, expect: Expectation, g: TxnGraph, nodes: set[int], calls: list[Call],
          txns: dict[int, TxnView], found: Found, stats: dict[str, Any], t0: float,
          timeout_s: float | None, cycle_search_timeout_s: float) -> Result:
    """Order edges, cycle search, verdict (see the module docstring)."""
    overall = time.monotonic() + (timeout_s if timeout_s and timeout_s > 0 else 1e9)
    if expect.wants("-realtime"):
        add_realtime(g, calls, nodes)
    elif expect.wants("-process"):
        add_process(g, calls, nodes)
    if len(g) == 0:
        found.add("empty-transaction-graph", "no dependency between transactions could be inferred "
                                             "(nothing to check cycles on)", [])
    adj = g.labelled_adjacency()
    comps = components(g)
    # Search every class (as Elle does) so "not" is complete; only prohibited ones decide validity.
    kinds = CYCLE_TYPES
    prohibited = expect.prohibited()
    timeouts: list[dict[str, Any]] = []
    for members in comps:
        outcome = search_component(g, adj, members, cycle_search_timeout_s, overall, kinds)
        for kind, steps in outcome.cycles.items():
            _cycle_anomaly(found, kind, steps, g, txns)
        if outcome.timed_out:
            timeouts.append({"scc_size": outcome.size, "timed_out": outcome.timed_out,
                             "does_not_contain": outcome.ruled_out})
        undecided = [k for k in outcome.timed_out if k in prohibited]
        if undecided and not (set(outcome.cycles) & prohibited):
            found.add("cycle-search-timeout",
                      f"the cycle search in a component of {outcome.size} transactions ran out of time for "
                      f"{', '.join(undecided)} (it ruled out {', '.join(outcome.ruled_out) or 'nothing'})",
                      [], anomaly_spec_type=undecided[0], scc_size=outcome.size,
                      does_not_contain=outcome.ruled_out, timed_out=outcome.timed_out)
    stats["graph"] = {"nodes": len(nodes), "edges": len(g), "components": len(comps),
                      "largest_component": max(map(len, comps), default=0),
                      **{f"{r}_edges": g.count(r) for r in ("ww", "wr", "rw", PROCESS, REALTIME)},
                      "timeouts": timeouts}
    return verdict(checker, expect, found, stats, t0)


def verdict(checker: str, expect: Expectation, found: Found, stats: dict[str, Any], t0: float) -> Result:
    kinds = set(found.counts)
    bad = kinds & expect.prohibited()
    reportable = kinds & expect.reportable()
    valid: Valid = False if bad else "unknown" if reportable else True
    is_not, also_not = boundary(kinds)
    types = sorted(reportable)
    unreported = {k: n for k, n in found.counts.items() if k not in reportable}
    stats.update(anomaly_counts=dict(found.counts), unreported=unreported)
    if valid is True:
        summary = (f"no anomaly prohibited by {', '.join(expect.models) or 'the models asked for'}"
                   f"{' or ' + ', '.join(expect.anomalies) if expect.anomalies else ''}")
        if unreported:
            summary += f" (allowed anomalies seen: {', '.join(sorted(unreported))})"
    else:
        summary = ", ".join(f"{found.counts[k]} {k}" for k in types)
        if is_not:
            summary += f"; not {', '.join(is_not)}"
    anomalies = [a for k in types for a in found.by_kind.get(k, [])]
    return Result(checker=checker, valid=valid, summary=summary, anomalies=anomalies, stats=stats,
                  details={"anomaly-types": types, "not": is_not, "also-not": also_not,
                           "consistency-models": list(expect.models), "anomalies": list(expect.anomalies)},
                  seconds=time.monotonic() - t0)
