"""Independent keys: bounded ops and clients per key, fresh keys as they fill, unique writes per key."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.errors import UsageError
from splitbrain.harness.generator import Context
from splitbrain.workloads.independent import FINAL_KEYS, IndependentKeys, KeySpec, key_spec_for
from splitbrain.workloads.kv import WORKLOAD as KV
from splitbrain.workloads.register import WORKLOAD as REGISTER
from splitbrain.workloads.rw_register import WORKLOAD as RW
from splitbrain.workloads.set import WORKLOAD as SET


def drive(gen: IndependentKeys, concurrency: int, n: int, rng: random.Random) -> list[tuple[int, object]]:
    """``n`` requests, each asked by a random thread; returns (thread, request)."""
    out = []
    for i in range(n):
        thread = rng.randrange(concurrency)
        req = gen.next(Context(time_s=i * 0.01, process=thread, thread=thread))
        out.append((thread, req))
    return out


@settings(max_examples=60, deadline=None)
@given(concurrency=st.integers(1, 24), per_key=st.integers(1, 12), ops=st.integers(1, 60), seed=st.integers(0, 99))
def test_every_key_gets_at_most_ops_per_key_from_one_group_of_clients(concurrency, per_key, ops, seed):
    rng = random.Random(seed)
    gen = IndependentKeys(REGISTER.key_stream, random.Random(seed), concurrency, KeySpec(ops, per_key, "r"))
    reqs = drive(gen, concurrency, 400, rng)
    by_key: dict[object, list[int]] = defaultdict(list)
    for thread, req in reqs:
        by_key[req.key].append(thread)
    group = min(per_key, concurrency)
    for key, threads in by_key.items():
        assert len(threads) <= ops
        assert len({t // group for t in threads}) == 1, (key, threads)  # one group per key
    writes = Counter((req.key, req.value) for _, req in reqs if req.f == "write")
    cas_new = Counter((req.key, req.value[1]) for _, req in reqs if req.f == "cas")
    assert all(c == 1 for c in (writes + cas_new).values()), "a value written twice on one key"
    assert gen.keys_used == len(by_key)


def test_keys_rotate_as_they_fill_and_final_reads_cover_the_live_keys():
    gen = IndependentKeys(RW.key_stream, random.Random(1), 4, KeySpec(5, 2, "r"))
    reqs = drive(gen, 4, 40, random.Random(2))
    per_key = Counter(r.key for _, r in reqs)
    live = set(gen.live_keys())
    assert all(n == 5 for k, n in per_key.items() if k not in live)  # a key is left only once full
    assert len(per_key) >= 8 and len(live) == 2
    finals = gen.final_requests()
    assert {f.f for f in finals} == {"read"} and len(gen.live_keys()) == 2
    # every key used, not only the live ones: a group has often moved on from the key a fault hit
    assert [f.key for f in finals] == sorted(per_key, key=lambda k: (len(k), k)) and live <= {f.key for f in finals}


def test_final_reads_cover_the_most_recent_keys_and_the_live_ones():
    gen = IndependentKeys(RW.key_stream, random.Random(1), 4, KeySpec(2, 1, "r"))
    drive(gen, 4, 400, random.Random(2))
    keys = [f.key for f in gen.final_requests()]
    assert gen.keys_used > FINAL_KEYS and set(gen.live_keys()) <= set(keys)
    recent = {f"r{i}" for i in range(gen.keys_used - FINAL_KEYS, gen.keys_used)}
    assert recent <= set(keys) and len(keys) == len(recent | set(gen.live_keys()))


def test_zero_ops_per_key_never_moves_on():
    gen = IndependentKeys(REGISTER.key_stream, random.Random(1), 10, KeySpec(0, 10, "r"))
    assert {r.key for _, r in drive(gen, 10, 500, random.Random(3))} == {"r0"}


def test_which_workloads_have_independent_keys_and_user_overrides():
    assert key_spec_for(REGISTER, None, None) == REGISTER.key_spec
    assert key_spec_for(KV, 50, 3) == KeySpec(50, 3, "k")
    assert key_spec_for(SET, None, None) is None
    with pytest.raises(UsageError, match="--ops-per-key must be >= 0 and --clients-per-key >= 1"):
        key_spec_for(RW, -1, None)
