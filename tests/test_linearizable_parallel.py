"""Partitions searched in worker processes decide what one process decides (and what brute force says).

Keys' histories are drawn as in ``test_linearizable_props`` (arbitrary results, reused values,
cas, info/fail/pending ops), so the searches, not the zones, decide them.
"""

from __future__ import annotations

import dataclasses
import os
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.checkers._partitions import PARALLEL_MIN_OPS, Job, _deal, decide, usable_cpus
from splitbrain.checkers.linearizable import check_history
from splitbrain.checkers.models import get_model
from splitbrain.history import History, Op
from tests.test_linearizable_props import PROPS, brute_force, random_history, simulate


def _kv(parts: list[History]) -> History:
    ops: list[Op] = []
    procs: dict[Any, int] = {}
    for key, h in enumerate(parts):
        for op in h.ops:
            pid = procs.setdefault((key, op.process), len(procs))
            ops.append(Op(index=len(ops), process=pid, type=op.type, f=op.f, value=op.value, key=str(key)))
    return History(ops)


@settings(PROPS, max_examples=60)
@given(seed=st.integers(0, 2**32), keys=st.integers(2, 4), n=st.integers(1, 6), clients=st.integers(1, 3))
def test_workers_agree_with_one_process_and_brute_force(seed: int, keys: int, n: int, clients: int) -> None:
    rng = random.Random(seed)
    parts = [random_history(rng, n, clients) for _ in range(keys)]
    expected = all(brute_force(h, "cas-register") for h in parts)
    h = _kv(parts)
    one = check_history(h, "kv", workers=1)
    two = check_history(h, "kv", workers=2)
    assert one.valid is expected and two.valid is expected, h.to_jsonl()
    if two.stats.get("partitions", 0) - two.stats.get("by_zones", 0) >= 2 and expected is True:
        assert two.stats["workers"] == 2


def test_large_valid_kv_is_spread_and_valid() -> None:
    rng = random.Random(7)
    h = _kv([simulate(rng, 2500, 4) for _ in range(4)])
    res = check_history(h, "kv", timeout_s=300)
    assert res.valid is True and res.stats["workers"] == min(2, usable_cpus())
    assert check_history(h, "kv", workers=2, timeout_s=300).stats["workers"] == 2


def test_dealing_balances_by_size() -> None:
    jobs = [Job([0.0] * k, [], [], [None] * k, lambda s, i, o: (True, s), None, []) for k in (9, 1, 5, 5)]
    for j, k in zip(jobs, (9, 1, 5, 5), strict=True):
        j.inputs = [("r",)] * k
    assert sorted(map(sorted, _deal(jobs, 2))) == [[0, 1], [2, 3]]
    assert PARALLEL_MIN_OPS > 1000  # the corpora's small kv files stay in one process


def test_an_illegal_partition_ends_the_parallel_check_early() -> None:
    rng = random.Random(3)
    good = [simulate(rng, 800, 4) for _ in range(3)]
    bad = History([Op(0, 0, "invoke", "write", 1), Op(1, 0, "ok", "write", 1),
                   Op(2, 0, "invoke", "cas", [1, 2]), Op(3, 0, "ok", "cas", [1, 2]),
                   Op(4, 1, "invoke", "read", None), Op(5, 1, "ok", "read", 1)])
    res = check_history(_kv([*good, bad]), "kv", workers=2)
    assert res.valid is False and res.details["key"] == "3"


def test_decide_without_jobs_is_valid() -> None:
    assert decide([], 1e18, None).valid is True


@pytest.mark.timeout(120)
def test_a_worker_that_dies_makes_the_check_unknown_and_never_hangs() -> None:
    """A worker killed mid-search (the OOM killer, a crash) never sends its share's decision: the
    check says so (unknown, and why) instead of waiting for it for ever, as a Pool's map did."""
    parent, kv = os.getpid(), get_model("kv")

    def step(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
        if os.getpid() != parent:
            os._exit(3)
        return kv.step(state, inp, out)

    rng = random.Random(5)
    h = _kv([simulate(rng, 300, 3) for _ in range(2)])
    res = check_history(h, dataclasses.replace(kv, step=step), workers=2)
    assert res.valid == "unknown" and "worker died (exit code 3)" in str(res.stats.get("limit")), res.stats
