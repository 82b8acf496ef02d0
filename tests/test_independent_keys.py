"""Independent keys: bounded ops and clients per key, fresh keys as they fill, unique writes per key."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.errors import UsageError
from splitbrain.harness.generator import Context
from splitbrain.workloads.independent import (
    FINAL_KEYS,
    KEY_STARTS,
    LINGER_EVERY,
    LINGER_READS,
    MAX_OPS_FACTOR,
    IndependentKeys,
    KeySpec,
    first_key,
    key_spec_for,
    min_lifetime_s,
)
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


def ask(gen: IndependentKeys, thread: int, t_s: float):
    return gen.next(Context(time_s=t_s, process=thread, thread=thread))


def test_a_full_key_stays_live_until_its_minimum_lifetime_then_lingers_for_reads():
    """At 100 ops/s, 200 ops fill a key in 2 s, sooner than a fault window and its heal: the key
    must stay the group's until it has lived ``min_s``, and be read after the group left it."""
    spec = KeySpec(ops_per_key=50, clients_per_key=4, prefix="r", min_s=10.0)
    gen = IndependentKeys(REGISTER.key_stream, random.Random(5), 4, spec)
    live = [ask(gen, i % 4, i * 0.05) for i in range(199)]  # 199 ops in 9.9 s: 4x ops_per_key
    assert {r.key for r in live} == {"r0"}
    later = [ask(gen, i % 4, 10.0 + i * 0.05) for i in range(100)]  # r0 is 10 s old: move on
    assert {r.key for r in later} == {"r0", "r1"} and gen.live_keys() == ["r1"]
    old = [r for r in later if r.key == "r0"]
    # after it was left, r0 gets reads only (lingering): one op in LINGER_EVERY
    assert all(r.f == "read" for r in old) and len(old) >= len(later) // LINGER_EVERY - 1


def test_a_key_is_left_at_the_hard_bound_whatever_its_age():
    """At an unlimited rate the minimum lifetime would make a key too long to check."""
    spec = KeySpec(ops_per_key=10, clients_per_key=2, prefix="r", min_s=60.0)
    gen = IndependentKeys(RW.key_stream, random.Random(3), 2, spec)
    reqs = [ask(gen, i % 2, i * 0.001) for i in range(400)]
    per_key = Counter(r.key for r in reqs)
    assert per_key["r0"] <= 10 * MAX_OPS_FACTOR + LINGER_READS and len(per_key) >= 6


def test_lingering_reads_end_after_the_lifetime_and_writes_stay_unique_per_key():
    spec = KeySpec(ops_per_key=5, clients_per_key=2, prefix="r", min_s=1.0)
    gen = IndependentKeys(REGISTER.key_stream, random.Random(9), 6, spec)
    left_s: dict[str, float] = {}
    lingering, reqs = [], []
    for i in range(3000):  # 30 s, 3 groups
        t_s, live = i * 0.01, set(gen.live_keys())
        r = ask(gen, i % 6, t_s)
        left_s.update({k: t_s for k in live - set(gen.live_keys())})
        if r.key in left_s:
            lingering.append((r, t_s - left_s[r.key]))
        reqs.append(r)
    assert len(lingering) >= 3000 // LINGER_EVERY // 2
    assert all(r.f == "read" and 0 <= age <= spec.min_s for r, age in lingering)
    writes = Counter((r.key, r.value if r.f == "write" else r.value[1]) for r in reqs if r.f in ("write", "cas"))
    assert all(c == 1 for c in writes.values()), "a value written twice on one key"
    per_key = Counter(r.key for r in reqs)
    assert max(per_key.values()) <= 5 * MAX_OPS_FACTOR + LINGER_READS and len(per_key) >= 3 * 29


def test_no_minimum_lifetime_and_no_lingering_without_faults():
    gen = IndependentKeys(REGISTER.key_stream, random.Random(1), 4, KeySpec(5, 4, "r"))
    reqs = [ask(gen, i % 4, i * 0.01) for i in range(100)]
    per_key = Counter(r.key for r in reqs)
    assert set(per_key.values()) == {5}  # Jepsen's rule: exactly ops_per_key each, no reads of old keys
    assert min_lifetime_s(5.0) == 10.0 and key_spec_for(REGISTER, None, None, 10.0).min_s == 10.0


def test_the_run_gives_keys_a_lifetime_of_two_nemesis_intervals(tmp_path):
    from splitbrain.harness.build import build_test
    from splitbrain.harness.runner import Run

    def spec_of(nemesis: str, interval: float) -> KeySpec:
        test, system, wl, _ = build_test("raft", None, nemesis, None, "local", 30, None, 100, 1, None,
                                         str(tmp_path), None, 3.0, interval, {})
        runner = Run(test, system, wl, None)
        gen = runner._requests()
        assert isinstance(gen, IndependentKeys)
        return gen.spec

    assert spec_of("partition", 5.0).min_s == 10.0 and spec_of("kill", 2.0).min_s == 4.0
    assert spec_of("none", 5.0).min_s == 0.0


def test_raft_shares_a_key_between_two_clients_unless_told_otherwise(tmp_path):
    """raft's own default (SystemTraits.clients_per_key): two clients a key, on two nodes; the user's
    --clients-per-key wins, --ops-per-key 0 keeps one key for the run, other systems keep the workload's."""
    from splitbrain.harness.build import build_test
    from splitbrain.harness.runner import Run

    def built(system: str, workload: str | None = None, ops: int | None = None, per_key: int | None = None):
        test, sysobj, wl, _ = build_test(system, workload, "partition", None, "local", 30, None, 100, 1, None,
                                         str(tmp_path), None, 3.0, 5.0, {}, ops_per_key=ops, clients_per_key=per_key)
        return test, Run(test, sysobj, wl, None)

    test, runner = built("raft")
    gen = runner._requests()
    assert isinstance(gen, IndependentKeys) and test.clients_per_key == 2 and gen.group_size == 2
    assert "--clients-per-key 2" in test.rerun_command()
    reqs = drive(gen, test.concurrency, 800, random.Random(4))  # 8 s: no key is left yet
    writers: dict[object, set[int]] = defaultdict(set)
    for thread, req in reqs:
        if req.f != "read":
            writers[req.key].add(thread)
    # 10 clients, 5 nodes (thread t talks to node t % 5): five keys at a time, each written by two
    # clients on two different nodes
    assert len(writers) == 5 and all(len(w) == 2 and len({t % 5 for t in w}) == 2 for w in writers.values())
    assert built("raft", per_key=5)[0].clients_per_key == 5
    one_key, runner = built("raft", ops=0)
    assert one_key.clients_per_key is None
    assert {r.key for _, r in drive(runner._requests(), 10, 500, random.Random(3))} == {f"r{first_key(one_key.rng('keys'))}"}  # type: ignore[arg-type]
    assert built("raft", "set")[0].clients_per_key is None  # no independent keys: nothing to set
    assert built("paxos")[0].clients_per_key is None and built("etcd")[0].clients_per_key is None


def test_keys_are_numbered_from_a_start_drawn_from_the_seed():
    """A hash-placed store (the ring) puts a key on the replicas its name hashes to: keys numbered
    from 0 in every run tested the same replica sets in every run."""
    gen = IndependentKeys(REGISTER.key_stream, random.Random(1), 4, KeySpec(5, 2, "r"), first=4000)
    keys = [r.key for _, r in drive(gen, 4, 60, random.Random(2))]
    assert keys[0] in ("r4000", "r4001") and set(keys) <= {f"r{4000 + i}" for i in range(20)}
    assert len(set(keys)) > 2 and gen.keys_used == len(set(keys))
    assert gen.final_keys() == [f"r{4000 + i}" for i in range(gen.keys_used)]
    from splitbrain.harness.config import Test

    def start(seed: int) -> int:
        return first_key(Test("ring", seed=seed).rng("keys"))

    assert start(7) == start(7)  # the same seed, the same keys (replays, hunt)
    starts = {start(seed) for seed in range(401, 421)}
    assert len(starts) >= 18 and all(0 <= s < KEY_STARTS for s in starts)


def test_the_ring_keeps_one_key_of_ten_clients(tmp_path):
    """No clients_per_key trait on the ring: its unrepaired reads need many reads of one key in a
    0.25 s wave (five a key caught no-write-back less often); its key names still come from the seed."""
    from splitbrain.harness.build import build_test
    from splitbrain.harness.runner import Run

    test, system, wl, _ = build_test("ring", None, "partition", None, "local", 30, None, 100, 9, None,
                                     str(tmp_path), None, 3.0, 5.0, {})
    gen = Run(test, system, wl, None)._requests()
    assert test.clients_per_key is None and isinstance(gen, IndependentKeys) and gen.group_size == 10
    assert {gen.next(Context(time_s=0.0, process=t, thread=t)).key for t in range(10)} == {f"r{first_key(test.rng('keys'))}"}
