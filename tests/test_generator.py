"""Generators: deterministic for a seed, rates, time limits, phases, per-process streams."""

from __future__ import annotations

import random

from splitbrain.harness import generator as g
from splitbrain.registry import WORKLOADS
from splitbrain.workloads.base import Request


def simulate(gen: g.Generator, until_s: float, step_s: float = 0.001, in_flight: int = 0) -> list[tuple[float, Request]]:
    """Ask ``gen`` on a simulated clock, as an idle worker would; returns (time, request) pairs."""
    out = []
    t = 0.0
    while t < until_s:
        ans = gen.next(g.Context(time_s=t, in_flight=in_flight))
        if ans is None:
            break
        if isinstance(ans, g.Wait):
            t = max(t + step_s, ans.until_s)
            continue
        out.append((round(t, 6), ans))
    return out


def workload_gen(seed: int, rate: float) -> g.Generator:
    wl = WORKLOADS.get("register")
    return g.TimeLimit(g.rate(g.FromIter(wl.requests(random.Random(seed))), rate, random.Random(seed + 1)), 5.0)


def test_same_seed_same_schedule_different_seed_differs():
    a = simulate(workload_gen(7, 50), 10)
    b = simulate(workload_gen(7, 50), 10)
    c = simulate(workload_gen(8, 50), 10)
    assert a == b
    assert a != c
    assert {r.f for _, r in a} == {"read", "write", "cas"}


def test_rate_is_close_to_target_on_average():
    ops = simulate(workload_gen(3, 200), 10)
    # 5 s at 200 ops/s: stagger gaps are uniform on [0, 2/rate), mean 1/rate
    assert 850 <= len(ops) <= 1150
    times = [t for t, _ in ops]
    assert all(b >= a for a, b in zip(times, times[1:], strict=False))


def test_time_limit_stops_the_stream():
    ops = simulate(workload_gen(1, 100), 30)
    assert ops and max(t for t, _ in ops) < 5.0


def test_unlimited_rate_and_op_limit():
    gen = g.Limit(g.rate(g.Fn(lambda r: Request("read"), random.Random(0)), 0, random.Random(0)), 25)
    ops = simulate(gen, 1)
    assert len(ops) == 25 and all(t == 0.0 for t, _ in ops)


def test_phases_wait_for_in_flight_ops_before_the_next_phase():
    gen = g.Phases(g.Limit(g.Fn(lambda r: Request("write", 1), random.Random(0)), 2), g.Once(Request("read")))
    ctx = g.Context(time_s=0.0, in_flight=0)
    assert gen.next(ctx) == Request("write", 1)
    assert gen.next(ctx) == Request("write", 1)
    busy = g.Context(time_s=0.1, in_flight=1)
    assert isinstance(gen.next(busy), g.Wait)  # the first phase is exhausted but an op is still running
    assert gen.next(g.Context(time_s=0.2, in_flight=0)) == Request("read")
    assert gen.next(g.Context(time_s=0.3)) is None


def test_sleep_then_ops():
    gen = g.Phases(g.Sleep(2.0), g.Once(Request("read")))
    ops = simulate(gen, 10)
    assert ops == [(2.0, Request("read"))]


def test_mix_draws_from_every_generator_until_all_are_exhausted():
    rng = random.Random(5)
    gen = g.Mix([g.Limit(g.Fn(lambda r: Request("read"), rng), 30),
                 g.Limit(g.Fn(lambda r: Request("write", 1), rng), 10)], rng)
    ops = [r for _, r in simulate(gen, 1)]
    assert [r.f for r in ops].count("read") == 30 and [r.f for r in ops].count("write") == 10
    # interleaved, not one after the other
    assert ops[:10] != [Request("read")] * 10 or ops[-10:] != [Request("write", 1)] * 10


def test_each_process_gets_its_own_stream():
    gen = g.EachProcess(lambda p: g.Limit(g.Fn(lambda r, p=p: Request("write", p), random.Random(p)), 2))
    for p in (0, 1):
        assert gen.next(g.Context(0.0, process=p)) == Request("write", p)
    assert gen.next(g.Context(0.0, process=0)) == Request("write", 0)
    assert gen.next(g.Context(0.0, process=0)) is None
    assert gen.next(g.Context(0.0, process=1)) == Request("write", 1)


def test_until_ends_the_stream_when_asked():
    stopped = []
    gen = g.Until(g.Fn(lambda r: Request("read"), random.Random(0)), lambda: bool(stopped))
    assert gen.next(g.Context(0.0)) == Request("read")
    stopped.append(True)
    assert gen.next(g.Context(0.0)) is None
