"""The ring's pure parts: placement with vnodes, value merging, the failure detector."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from splitbrain.systems.ring.detector import FailureDetector
from splitbrain.systems.ring.placement import HashRing
from splitbrain.systems.ring.values import client_value, merge, newest

NODES = ["n1", "n2", "n3", "n4", "n5"]
KEYS = [f"key-{i}" for i in range(4000)]


def test_replicas_are_distinct_and_deterministic():
    ring = HashRing(NODES, vnodes=32)
    again = HashRing(reversed(NODES), vnodes=32)
    for k in KEYS[:200]:
        reps = ring.replicas(k, 3)
        assert len(set(reps)) == 3
        assert reps == again.replicas(k, 3)


def test_vnodes_spread_primaries_evenly():
    ring = HashRing(NODES, vnodes=128)
    counts = {n: 0 for n in NODES}
    for k in KEYS:
        counts[ring.replicas(k, 1)[0]] += 1
    assert min(counts.values()) > len(KEYS) / len(NODES) * 0.6


def test_joining_node_moves_about_one_in_n_keys():
    before = HashRing(NODES, vnodes=128)
    after = before.with_member("n6")
    moved = [k for k in KEYS if before.replicas(k, 1) != after.replicas(k, 1)]
    # every moved key moved to the newcomer, and only about 1/6 of keys moved
    assert all(after.replicas(k, 1)[0] == "n6" for k in moved)
    assert 0.08 < len(moved) / len(KEYS) < 0.26
    # replica sets change by at most the newcomer displacing one old replica
    for k in KEYS[:500]:
        old, new = set(before.replicas(k, 3)), set(after.replicas(k, 3))
        assert len(old - new) <= 1 and new - old <= {"n6"}


def test_removed_node_keys_go_to_the_survivors_only():
    before = HashRing(NODES, vnodes=64)
    after = before.without_member("n3")
    for k in KEYS[:500]:
        old, new = before.replicas(k, 3), after.replicas(k, 3)
        if "n3" not in old:
            assert old == new


def test_register_merge_keeps_the_larger_tag():
    a = {"tag": [3, "n1"], "value": "a"}
    b = {"tag": [3, "n2"], "value": "b"}
    c = {"tag": [2, "n5"], "value": "c"}
    assert newest([a, None, b, c]) == b
    assert client_value(newest([c, a])) == "a"
    assert client_value(None) is None


def test_set_and_counter_merges():
    assert client_value(merge({"set": [1, 3]}, {"set": [2, 3]})) == [1, 2, 3]
    assert client_value(merge({"slots": {"n1": 4, "n2": 1}}, {"slots": {"n1": 2, "n3": 5}})) == 10


@given(st.lists(st.one_of(st.none(), st.builds(lambda c, n, v: {"tag": [c, n], "value": v},
                                                st.integers(0, 5), st.sampled_from(NODES), st.integers())),
                max_size=6))
def test_register_merge_is_order_independent(records):
    assert newest(records) == newest(list(reversed(records))) or (
        newest(records) is not None and newest(records)["tag"] == newest(list(reversed(records)))["tag"]
    )


@given(st.lists(st.lists(st.integers(0, 20), max_size=5), min_size=1, max_size=5))
def test_set_merge_is_union_in_any_order(sets):
    recs = [{"set": s} for s in sets]
    want = sorted(set().union(*map(set, sets)))
    assert client_value(newest(recs)) == want
    assert client_value(newest(list(reversed(recs)))) == want


def test_detector_suspects_silence_and_trusts_the_next_heartbeat():
    fd = FailureDetector(["n2", "n3"], timeout_s=1.0, now=100.0)
    fd.heard("n2", 100.5)
    assert not fd.suspected("n3", 100.9)
    assert fd.suspected("n3", 101.2) and not fd.suspected("n2", 101.2)
    assert fd.order(["n3", "n1", "n2"], 101.2, me="n1") == ["n1", "n2", "n3"]
    fd.heard("n3", 101.3)
    assert not fd.suspected("n3", 101.4)
