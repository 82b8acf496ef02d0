"""Linearizability: is there one order of the operations, consistent with real time,
that the model's sequential specification accepts?

Each partition (a model that partitions, like kv, has one register per key) is
decided on its own, by the cheapest exact method that applies:

* a register partition of reads and writes whose written values are all distinct
  is decided in O(n log n) by zones (:mod:`splitbrain.checkers._zones`), which is
  what splitbrain's own register workloads produce;
* a read of a value that nothing wrote is illegal at once;
* anything else gets Porcupine's search (:mod:`splitbrain.checkers._search`), guided
  towards the state the next read saw and, for kv keys with appends, held to the
  orders the gets' values imply (:mod:`splitbrain.checkers._appends`),
  partitions interleaved and, when it pays, spread over worker processes
  (:mod:`splitbrain.checkers._partitions`); the first illegal one ends the check.

A time limit or memory cap (the process's resident memory, see
:mod:`splitbrain.checkers.memory`) ends in ``valid="unknown"`` with how far the
check got, never in a wrong ``True``. When a history is not linearizable the
Result says where: the longest linearizable prefix found (history indices of the
invocations, in linearization order), the states reached there, and the ops that
could not be placed after it.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from splitbrain.checkers._appends import Precedence, precedence
from splitbrain.checkers._partitions import Job, decide
from splitbrain.checkers._search import Outcome, search
from splitbrain.checkers._zones import ZoneOutcome, check_zones, qualifies, unwritten_read
from splitbrain.checkers.memory import MemoryCap
from splitbrain.checkers.models import UNKNOWN, Model, get_model
from splitbrain.checkers.result import Anomaly, Result, Valid
from splitbrain.checkers.values import thaw
from splitbrain.errors import BadInputError
from splitbrain.history import Call, History

__all__ = ["check_history", "drop_unseen_pending", "is_linearizable", "Partition", "prepare"]

#: seconds the general search may spend finding a longest prefix for a partition the zones judged illegal
EXPLAIN_BUDGET_S = 2.0


@dataclass
class Partition:
    key: Any
    calls: list[Call]
    inputs: list[Any]
    outputs: list[Any]


def _line_of(history: History | None, c: Call) -> int | None:
    if history is None:
        return None
    lines = getattr(history, "lines", None)
    idx = c.complete_index if c.complete_index is not None else c.invoke_index
    if lines is not None and 0 <= idx < len(lines):
        return int(lines[idx])
    return idx + 1 if history.source and history.source.endswith(".jsonl") else None


def prepare(calls: list[Call], model: Model, history: History | None = None) -> list[Partition]:
    """Turn calls into per-partition search inputs; a wrong value shape is bad input."""
    parts: dict[Hashable, Partition] = {}
    last_ret = max((c.complete_index for c in calls if c.type != "info" and c.complete_index is not None),
                   default=-1)
    for c in calls:
        if not isinstance(c.process, int):
            continue
        try:
            io = model.prepare(c)
            key = model.partition(c) if model.partition is not None else None
        except (ValueError, TypeError) as e:
            where = f"op {c.invoke_index} ({c.f} by process {c.process})"
            raise BadInputError(f"{where}: {e}", history.source if history else None,
                                _line_of(history, c)) from None
        if io is None:
            continue
        if c.type == "info" and c.invoke_index > last_ret:
            continue  # invoked after every definite return: it can always go last, or never
        p = parts.get(key)
        if p is None:
            p = parts[key] = Partition(key, [], [], [])
        p.calls.append(c)
        p.inputs.append(io[0])
        p.outputs.append(io[1])
    out = list(parts.values())
    return [drop_unseen_pending(p) for p in out] if model.unseen_pending else out


def drop_unseen_pending(p: Partition) -> Partition:
    """``p`` without the pending writes (and cas) whose new value no read returned and no cas expected.

    Every timed-out write is a branch point: it may take effect at any later instant
    or never, and a faulty run leaves dozens of them open, which is what makes a
    search blow up. Yet if nothing ever observed its value, "never" is always a
    valid choice: removing it from any linearization only changes the register
    between it and the next write, where no read or successful cas can sit (each
    would have named its value). So dropping it preserves the verdict, for register
    models whose failed ops constrain nothing. Appends are left alone (a read can see
    an appended value inside a longer string).
    """
    if any(inp[0] == "a" for inp in p.inputs):
        return p
    seen = {o for inp, o in zip(p.inputs, p.outputs, strict=True) if inp[0] in ("r", "g")}
    seen |= {inp[1] for inp in p.inputs if inp[0] == "cas"}
    keep = [k for k, (c, inp) in enumerate(zip(p.calls, p.inputs, strict=True))
            if not (_ret(c) == math.inf and inp[0] in ("w", "cas") and inp[-1] not in seen)]
    if len(keep) == len(p.calls):
        return p
    return Partition(p.key, [p.calls[k] for k in keep], [p.inputs[k] for k in keep], [p.outputs[k] for k in keep])


def _ret(c: Call) -> float:
    return math.inf if c.type == "info" or c.complete_index is None else float(c.complete_index)


def _positions(p: Partition) -> tuple[list[float], list[float]]:
    return [float(c.invoke_index) for c in p.calls], [_ret(c) for c in p.calls]


def _run(parts: list[Partition], model: Model, init: Any, timeout_s: float | None, cap: MemoryCap,
         workers: int | None = None) -> tuple[Valid, Partition | None, Outcome | ZoneOutcome | None, dict[str, Any]]:
    """Decide every partition: unique-write registers by zones, the rest by searches (see :mod:`._partitions`)."""
    deadline = math.inf if not timeout_s or timeout_s <= 0 else time.monotonic() + timeout_s
    stats: dict[str, Any] = {"partitions": len(parts), "partitions_decided": 0, "by_zones": 0, "steps": 0,
                             "memo": 0}
    searched: list[Partition] = []
    jobs: list[Job] = []
    for p in parts:
        call_pos, rets = _positions(p)
        if model.register_like and qualifies(p.inputs, init):
            z = check_zones(call_pos, rets, p.inputs, p.outputs, init)
            stats["by_zones"] += 1
            stats["partitions_decided"] += 1
            if not z.ok:
                return False, p, z, stats
            continue
        bad = unwritten_read(p.inputs, p.outputs, init) if model.register_like else None
        if bad is not None:
            return False, p, bad, stats
        ro = [model.readonly(i, o) for i, o in zip(p.inputs, p.outputs, strict=True)]
        tg = ro if model.target is None else [model.target(i, o) for i, o in zip(p.inputs, p.outputs, strict=True)]
        searched.append(p)
        pre = precedence(call_pos, rets, p.inputs, p.outputs, init) if model.register_like else Precedence()
        if pre.conflict:
            stats["partitions_decided"] += 1
            return False, p, ZoneOutcome(False, pre.conflict, pre.ops, search_explains=False), stats
        after = pre.after
        jobs.append(Job(call_pos, rets, p.inputs, p.outputs, model.step, init, ro, tg, model.toward, after))
    if not jobs:
        return True, None, None, stats
    d = decide(jobs, deadline, cap.limit_mb if cap.active else None, workers)
    stats["partitions_decided"] += d.decided
    stats.update(steps=d.steps, memo=d.memo, workers=d.workers)
    if d.valid is False:
        assert d.bad is not None
        return False, searched[d.bad], d.outcome, stats
    if d.valid != True:  # noqa: E712 - "unknown" is truthy
        stats["limit"] = {"time": f"time limit of {timeout_s:g} s reached; raise it with --timeout S",
                          "memory": f"memory cap of {cap.limit_mb:.0f} MB reached; raise it with --max-memory MB",
                          }.get(d.limit, d.limit)
        stats["rss_mb"] = round(max(d.rss_mb, cap.seen_mb))
        stats["longest_prefix_linearized"] = d.longest_prefix
        stats["ops_in_undecided"] = d.undecided_ops
        return "unknown", None, None, stats
    return True, None, None, stats


def is_linearizable(calls: list[Call], model: str | Model = "cas-register", init: Any = None,
                    timeout_s: float | None = 10.0, max_memory_mb: float | None = None) -> Valid:
    """Verdict alone over any subset of calls: the primitive a counterexample shrinker needs."""
    m = get_model(model)
    valid, _, _, _ = _run(prepare(calls, m), m, m.init(init), timeout_s, MemoryCap.default(max_memory_mb))
    return valid


def _search_explanation(p: Partition, model: Model, init: Any, budget_s: float) -> Outcome | None:
    """The general search's longest prefix for a partition the zones found illegal, if it fits the budget."""
    deadline = time.monotonic() + budget_s
    call_pos, rets = _positions(p)
    ro = [model.readonly(i, o) for i, o in zip(p.inputs, p.outputs, strict=True)]
    tg = ro if model.target is None else [model.target(i, o) for i, o in zip(p.inputs, p.outputs, strict=True)]
    after = precedence(call_pos, rets, p.inputs, p.outputs, init).after if model.register_like else None
    gen = search(call_pos, rets, p.inputs, p.outputs, model.step, init, ro, tg, model.toward, after)
    while time.monotonic() < deadline:
        try:
            next(gen)
        except StopIteration as done:
            out: Outcome = done.value
            return None if out.ok else out
    return None


def _short(v: Any, width: int = 60) -> str:
    r = repr(v)
    return r if len(r) <= width else r[: width - 4] + "...'"


def _expected(model: Model, p: Partition, out: Outcome) -> str:
    """What the blocked op should have seen, in words: the states a longest prefix reached."""
    shown = [_short(model.describe(s)) for s in out.states[:3]]
    more = f" (or {len(out.states) - 3} more)" if len(out.states) > 3 else ""
    states = (" or ".join(shown) + more) if shown else "none"
    parts = []
    for k in out.blocked[:3]:
        c = p.calls[k]
        seen = p.outputs[k]
        if c.type == "ok" and c.f in ("read", "get") and seen is not UNKNOWN:
            parts.append(f"{c.f} (op {c.invoke_index}) returned {_short(thaw(seen))}, but after the longest "
                         f"linearizable prefix the state was {states}")
        else:
            arg = "" if c.value is None else f" {_short(c.value)}"
            parts.append(f"{c.f}{arg} (op {c.invoke_index}, {c.type}) cannot take effect after the longest "
                         f"linearizable prefix (state {states})")
    return "; ".join(parts)


def check_history(history: History, model: str | Model = "cas-register", init: Any = None,
                  timeout_s: float | None = 60.0, max_memory_mb: float | None = None,
                  workers: int | None = None, **_opts: Any) -> Result:
    """Linearizability of ``history`` under ``model`` (checker name ``linearizable``).

    ``max_memory_mb`` caps the whole process's resident memory (default: half of what
    is available, see :mod:`splitbrain.checkers.memory`; 0 for no cap). ``workers``: processes
    for the partitions' searches (default: chosen by :func:`splitbrain.checkers._partitions.decide`).
    """
    start = time.monotonic()
    m = get_model(model)
    cap = MemoryCap.default(max_memory_mb)
    calls = history.calls(strict=True)
    init_state = m.init(init)
    parts = prepare(calls, m, history)
    valid, bad, out, stats = _run(parts, m, init_state, timeout_s, cap, workers)
    stats["ops"] = len(calls)
    res = Result(checker="linearizable", valid=valid, stats=stats)
    if valid is True:
        how = f", {stats['by_zones']} by unique-write zones" if stats.get("by_zones") else ""
        keys = f"{len(parts)} key(s) checked independently" if len(parts) > 1 else "one key"
        res.summary = f"linearizable under {m.name} ({len(calls)} ops, {keys}{how})"
    elif valid == "unknown":
        res.summary = (f"could not decide: {stats.get('limit')} (decided {stats['partitions_decided']} of "
                       f"{stats['partitions']} independent key(s); longest linearized prefix "
                       f"{stats.get('longest_prefix_linearized', 0)} ops of the {stats.get('ops_in_undecided', 0)} "
                       "left)")
        res.error = res.summary
    else:
        assert bad is not None and out is not None
        if isinstance(out, ZoneOutcome) and out.search_explains and len(bad.calls) <= 20_000:
            out = _search_explanation(bad, m, init_state, EXPLAIN_BUDGET_S) or out
        key = thaw(bad.key)
        where = "" if m.partition is None else f" on key {key!r}"
        if isinstance(out, ZoneOutcome):
            prefix: list[int] = []
            blocked = out.ops
            expected = _zone_words(bad, out)
            states: list[Any] = []
        else:
            prefix = [bad.calls[k].invoke_index for k in out.prefix]
            blocked = out.blocked
            expected = _expected(m, bad, out)
            states = [m.describe(s) for s in out.states]
        unplaceable = [bad.calls[k].invoke_index for k in blocked]
        ops: list[int] = []
        for k in blocked:
            c = bad.calls[k]
            ops += [c.invoke_index] + ([c.complete_index] if c.complete_index is not None else [])
        res.summary = f"not linearizable{where}: {expected}"
        res.anomalies = [Anomaly(kind="nonlinearizable", explanation=expected, ops=ops, key=key,
                                 data={"longest_prefix": prefix, "unplaceable": unplaceable})]
        res.details = {"key": key, "model": m.name, "longest_prefix": prefix, "final_states": states,
                       "unplaceable": unplaceable, "expected": expected}
    res.seconds = time.monotonic() - start
    return res


def _zone_words(p: Partition, z: ZoneOutcome) -> str:
    """The zone explanation with partition positions turned into history indices."""
    return re.sub(r"op (\d+)", lambda mm: f"op {p.calls[int(mm.group(1))].invoke_index}", z.explanation)
