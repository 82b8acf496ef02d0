"""The perf checker: latency and throughput, summarised for the report.

It judges nothing about correctness, so on any history with measurements it is
valid. It is honest about having nothing to say: a history in which no client
operation completed ends ``unknown`` (a run that measured nothing must not pass
for one that measured something).

Latency is completion time minus invocation time, per ``f`` and outcome
(``ok``/``fail``/``info``). An ``info`` with no completion at all (still pending when
the history ends) has no latency and is only counted. ``details`` carries what the
report plots: throughput per time bucket and outcome, and a bounded sample of
(time, latency) points.
"""

from __future__ import annotations

import math
import time
from typing import Any

from splitbrain.checkers.result import Result
from splitbrain.history import History

#: most latency points kept for the scatter plot
MAX_POINTS = 5000
#: most throughput buckets (the bucket width grows for long runs)
MAX_BUCKETS = 600

QUANTILES = (0.5, 0.9, 0.95, 0.99)


def _quantile(sorted_vals: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted, non-empty list."""
    i = min(len(sorted_vals) - 1, max(0, math.ceil(q * len(sorted_vals)) - 1))
    return sorted_vals[i]


def _summary(lat_ms: list[float]) -> dict[str, Any]:
    if not lat_ms:
        return {"count": 0}
    s = sorted(lat_ms)
    out: dict[str, Any] = {"count": len(s), "min_ms": s[0], "mean_ms": sum(s) / len(s), "max_ms": s[-1]}
    for q in QUANTILES:
        out[f"p{round(q * 100)}_ms"] = _quantile(s, q)
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}


def check_perf(history: History, **_opts: Any) -> Result:
    """Latency quantiles per f/outcome, throughput over time; valid unless nothing was measured."""
    t0 = time.monotonic()
    times = {op.index: op.time for op in history.ops}
    calls = history.calls(strict=False)
    lat: dict[tuple[str, str], list[float]] = {}
    pending_at_end = 0
    points: list[tuple[float, float, str, str]] = []
    completions: list[tuple[int, str]] = []
    for c in calls:
        if c.complete_index is None:
            pending_at_end += 1
            continue
        done = times.get(c.complete_index, c.call_time)
        ms = max(0, done - c.call_time) / 1e6
        lat.setdefault((c.f, c.type), []).append(ms)
        points.append((c.call_time / 1e9, ms, c.f, c.type))
        completions.append((done, c.type))
    client_times = [op.time for op in history.ops if op.is_client]
    duration_s = (max(client_times) - min(client_times)) / 1e9 if client_times else 0.0
    by_f: dict[str, dict[str, Any]] = {}
    for (f, typ), vals in sorted(lat.items()):
        by_f.setdefault(f, {})[typ] = _summary(vals)
    all_ok = [v for (_, typ), vals in lat.items() if typ == "ok" for v in vals]
    counts = {typ: sum(len(v) for (_, t), v in lat.items() if t == typ) for typ in ("ok", "fail", "info")}
    counts["info"] += pending_at_end
    completed = sum(len(v) for v in lat.values())
    stats: dict[str, Any] = {
        "calls": len(calls),
        "completed": completed,
        "pending_at_end": pending_at_end,
        "outcomes": counts,
        "duration_s": round(duration_s, 3),
        "throughput_ops_s": round(completed / duration_s, 3) if duration_s > 0 else None,
        "ok_throughput_ops_s": round(counts["ok"] / duration_s, 3) if duration_s > 0 else None,
        "latency_ok": _summary(all_ok),
        "by_f": by_f,
    }
    details: dict[str, Any] = {}
    if completions:
        start = min(client_times)
        width_s = max(1.0, math.ceil(duration_s / MAX_BUCKETS)) if duration_s > 0 else 1.0
        n = int(duration_s // width_s) + 1
        buckets = {typ: [0] * n for typ in ("ok", "fail", "info")}
        for done, typ in completions:
            i = min(n - 1, int(((done - start) / 1e9) // width_s))
            buckets[typ][i] += 1
        details["throughput"] = {"bucket_s": width_s, "start_s": start / 1e9, "counts": buckets}
        step = max(1, math.ceil(len(points) / MAX_POINTS))
        details["latency_points"] = [[round(t, 4), round(ms, 3), f, typ] for t, ms, f, typ in points[::step]]
        details["latency_points_step"] = step
    if completed == 0:
        valid: Any = "unknown"
        summary = "no client operation completed: nothing measured"
    else:
        valid = True
        lo = stats["latency_ok"]
        med = f"ok p50 {lo['p50_ms']} ms, p99 {lo['p99_ms']} ms" if lo["count"] else "no ok ops"
        tput = f"{stats['throughput_ops_s']} ops/s" if stats["throughput_ops_s"] is not None else "instantaneous"
        summary = f"{completed} ops completed ({counts['ok']} ok, {counts['fail']} fail, {counts['info']} info); {med}; {tput}"
    return Result(checker="perf", valid=valid, summary=summary, stats=stats, details=details,
                  seconds=time.monotonic() - t0)
