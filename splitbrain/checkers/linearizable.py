"""Linearizability: is there one order of the operations, consistent with real time,
that the model's sequential specification accepts?

The search is Porcupine's (see :mod:`splitbrain.checkers._search`), with its
P-compositionality: a model that partitions (kv: one register per key) has each
partition searched on its own. Partitions are searched *interleaved*, a slice of
steps each in turn, and the first illegal one ends the check: one partition may
take minutes while another is illegal in milliseconds. (Processes are not used:
on a small shared machine forking the memo-heavy searches costs more than it
saves.)

A time limit or memory cap ends in ``valid="unknown"``, never in a wrong ``True``.
When a history is not linearizable the Result says where the search got
stuck: the longest linearizable prefix it found (history indices of the
invocations, in linearization order), the states reached there, and the ops
that could not be placed after it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Generator, Hashable
from dataclasses import dataclass
from typing import Any

from splitbrain.checkers._search import Outcome, search
from splitbrain.checkers.models import UNKNOWN, Model, get_model, thaw
from splitbrain.checkers.result import Anomaly, Result, Valid
from splitbrain.errors import BadInputError
from splitbrain.history import Call, History

__all__ = ["check_history", "drop_unseen_pending", "is_linearizable", "Partition", "prepare"]

#: a memo entry's rough cost (tuple, bitset int, set slot, stack and cache share), for the memory cap
_MEMO_ENTRY_BYTES = 200
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


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


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _ret(c: Call) -> float:
    return math.inf if c.type == "info" or c.complete_index is None else float(c.complete_index)


def _run(parts: list[Partition], model: Model, init: Any, timeout_s: float | None,
         max_memory_mb: float | None) -> tuple[Valid, Partition | None, Outcome | None, dict[str, Any]]:
    deadline = math.inf if not timeout_s or timeout_s <= 0 else time.monotonic() + timeout_s
    cap = math.inf if not max_memory_mb or max_memory_mb <= 0 else max_memory_mb * 1024 * 1024
    base = _rss_bytes()
    live: list[tuple[Partition, Generator[int, None, Outcome]]] = []
    for p in parts:
        call_pos = [float(c.invoke_index) for c in p.calls]
        ro = [model.readonly(i, o) for i, o in zip(p.inputs, p.outputs, strict=True)]
        rets = [_ret(c) for c in p.calls]
        live.append((p, search(call_pos, rets, p.inputs, p.outputs, model.step, init, ro)))
    stats: dict[str, Any] = {"partitions": len(parts), "steps": 0, "memo": 0}
    rounds = 0
    while live:
        still = []
        held = 0  # memo entries of the live searches
        for p, gen in live:
            try:
                held += next(gen)
                still.append((p, gen))
            except StopIteration as done:
                out: Outcome = done.value
                stats["steps"] += out.steps
                stats["memo"] += out.memo
                if not out.ok:
                    return False, p, out, stats
        live = still
        rounds += 1
        if live and time.monotonic() > deadline:
            stats["limit"] = f"time limit of {timeout_s} s"
            return "unknown", None, None, stats
        if live and max(held * _MEMO_ENTRY_BYTES, _rss_bytes() - base if rounds % 8 == 0 else 0) > cap:
            stats["limit"] = f"memory cap of {max_memory_mb} MB"
            return "unknown", None, None, stats
    return True, None, None, stats


def is_linearizable(calls: list[Call], model: str | Model = "cas-register", init: Any = None,
                    timeout_s: float | None = 10.0, max_memory_mb: float | None = 1024) -> Valid:
    """Verdict alone over any subset of calls: the primitive a counterexample shrinker needs."""
    m = get_model(model)
    valid, _, _, _ = _run(prepare(calls, m), m, m.init(init), timeout_s, max_memory_mb)
    return valid


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
                  timeout_s: float | None = 60.0, max_memory_mb: float | None = 1024,
                  **_opts: Any) -> Result:
    """Linearizability of ``history`` under ``model`` (checker name ``linearizable``)."""
    start = time.monotonic()
    m = get_model(model)
    calls = history.calls(strict=True)
    init_state = m.init(init)
    parts = prepare(calls, m, history)
    valid, bad, out, stats = _run(parts, m, init_state, timeout_s, max_memory_mb)
    stats["ops"] = len(calls)
    res = Result(checker="linearizable", valid=valid, stats=stats)
    if valid is True:
        res.summary = f"linearizable under {m.name} ({len(calls)} ops, {len(parts)} partition(s))"
    elif valid == "unknown":
        res.summary = f"could not decide: {stats.get('limit')} reached"
        res.error = res.summary
    else:
        assert bad is not None and out is not None
        prefix = [bad.calls[k].invoke_index for k in out.prefix]
        unplaceable = [bad.calls[k].invoke_index for k in out.blocked]
        ops: list[int] = []
        for k in out.blocked:
            c = bad.calls[k]
            ops += [c.invoke_index] + ([c.complete_index] if c.complete_index is not None else [])
        expected = _expected(m, bad, out)
        key = thaw(bad.key)
        where = "" if m.partition is None else f" on key {key!r}"
        res.summary = f"not linearizable{where}: {expected}"
        res.anomalies = [Anomaly(kind="nonlinearizable", explanation=expected, ops=ops, key=key,
                                 data={"longest_prefix": prefix, "unplaceable": unplaceable})]
        res.details = {"key": key, "model": m.name, "longest_prefix": prefix,
                       "final_states": [m.describe(s) for s in out.states], "unplaceable": unplaceable,
                       "expected": expected}
    res.seconds = time.monotonic() - start
    return res
