"""The perf checker: honest latency/throughput summaries, unknown when nothing was measured."""

from __future__ import annotations

from splitbrain.checkers.perf import check_perf
from splitbrain.history import History, Op


def op(i: int, p, typ: str, f: str, t_ms: float, value=None) -> Op:
    return Op(index=i, process=p, type=typ, f=f, value=value, time=int(t_ms * 1e6))


def test_latency_quantiles_per_f_and_outcome() -> None:
    ops = []
    for i in range(100):  # 100 sequential reads taking i+1 ms each, one every 200 ms
        ops += [op(2 * i, 0, "invoke", "read", i * 200), op(2 * i + 1, 0, "ok", "read", i * 200 + i + 1)]
    n = len(ops)
    ops += [op(n, 1, "invoke", "write", 0), op(n + 1, 1, "info", "write", 5000), op(n + 2, 2, "invoke", "write", 1)]
    ops.append(Op(index=n + 3, process="nemesis", type="info", f="start-kill", time=0))
    res = check_perf(History(ops))
    assert res.valid is True
    ok = res.stats["by_f"]["read"]["ok"]
    assert ok["count"] == 100 and ok["p50_ms"] == 50 and ok["p99_ms"] == 99 and ok["max_ms"] == 100
    assert res.stats["by_f"]["write"]["info"]["max_ms"] == 5000
    assert res.stats["outcomes"] == {"ok": 100, "fail": 0, "info": 2} and res.stats["pending_at_end"] == 1
    assert abs(res.stats["duration_s"] - 19.9) < 0.01
    tp = res.details["throughput"]
    assert sum(tp["counts"]["ok"]) == 100 and sum(tp["counts"]["info"]) == 1
    assert len(res.details["latency_points"]) == 101


def test_nothing_completed_is_unknown() -> None:
    assert check_perf(History([])).valid == "unknown"
    res = check_perf(History([op(0, 0, "invoke", "read", 0)]))
    assert res.valid == "unknown" and res.stats["pending_at_end"] == 1


def test_points_are_bounded() -> None:
    ops = []
    for i in range(12000):
        ops += [op(2 * i, 0, "invoke", "read", i), op(2 * i + 1, 0, "ok", "read", i + 0.5)]
    res = check_perf(History(ops))
    assert len(res.details["latency_points"]) <= 5000 and res.stats["completed"] == 12000
    assert len(res.details["throughput"]["counts"]["ok"]) <= 600
