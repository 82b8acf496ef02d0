"""Paxos hard cases, message by message, on the pure protocol objects."""

from __future__ import annotations

from splitbrain.systems.paxos.core import NOOP, Acceptor, Leadership, Learner

NODES = ["n1", "n2", "n3", "n4", "n5"]


def run_phase1(lead: Leadership, acceptors: dict[str, Acceptor], names: list[str]):
    out = None
    for n in names:
        ok, _ = acceptors[n].on_prepare(lead.ballot, lead.first_slot)
        if ok:
            r = lead.on_promise(n, acceptors[n].promise_payload(lead.first_slot))
            out = r if r is not None else out
    return out


def accept_at(lead: Leadership, acceptors: dict[str, Acceptor], names: list[str], slot: int, value):
    chosen = None
    for n in names:
        ok, _ = acceptors[n].on_accept(lead.ballot, slot, value)
        if ok:
            chosen = lead.on_accepted(n, slot) or chosen
    return chosen


def cluster(bug=None):
    return {n: Acceptor(bug=bug) for n in NODES}


def test_chosen_value_survives_a_new_ballot():
    acc = cluster()
    l1 = Leadership((1, "n1"), 0, 5)
    assert run_phase1(l1, acc, NODES) == []
    slot = l1.propose({"op": "write", "value": "A"})
    # accepted by a bare majority: chosen, then n1 dies before telling anyone
    assert accept_at(l1, acc, ["n1", "n2", "n3"], slot, {"op": "write", "value": "A"}) is not None
    # a new leader whose quorum overlaps the majority in one node only
    l2 = Leadership((2, "n5"), 0, 5)
    proposals = run_phase1(l2, acc, ["n3", "n4", "n5"])
    assert proposals == [(0, {"op": "write", "value": "A"})]
    assert l2.next_slot == 1
    assert accept_at(l2, acc, ["n3", "n4", "n5"], 0, proposals[0][1]) == {"op": "write", "value": "A"}


def test_highest_ballot_value_wins_and_gaps_become_noops():
    acc = cluster()
    acc["n1"].on_accept((1, "n1"), 0, "old")
    acc["n2"].on_accept((2, "n2"), 0, "newer")
    acc["n2"].on_accept((2, "n2"), 2, "x")
    l3 = Leadership((3, "n3"), 0, 5)
    proposals = run_phase1(l3, acc, ["n1", "n2", "n3"])
    assert proposals == [(0, "newer"), (1, NOOP), (2, "x")]
    assert l3.next_slot == 3


def test_competing_proposers_never_choose_two_values():
    acc = cluster()
    la = Leadership((1, "n1"), 0, 5)
    lb = Leadership((1, "n2"), 0, 5)  # higher: same round, larger node id
    assert run_phase1(la, acc, ["n1", "n2", "n3"]) == []
    sa = la.propose("A")
    # n2 prepares on n3, n4, n5 before A's accepts arrive: n3 now refuses A
    assert run_phase1(lb, acc, ["n3", "n4", "n5"]) == []
    assert accept_at(la, acc, ["n1", "n2", "n3", "n4", "n5"], sa, "A") is None
    sb = lb.propose("B")
    assert accept_at(lb, acc, NODES, sb, "B") == "B"
    # a duelling retry by n1 with a higher ballot must re-propose B, not A
    la2 = Leadership((2, "n1"), 0, 5)
    assert run_phase1(la2, acc, ["n1", "n2", "n4"]) == [(0, "B")]


def test_promise_refused_below_promised_ballot():
    a = Acceptor()
    assert a.on_prepare((5, "n2"), 0)[0]
    assert not a.on_prepare((4, "n9"), 0)[0]
    assert not a.on_accept((4, "n9"), 0, "v")[0]
    assert 0 not in a.accepted


def test_acceptor_state_rebuilt_from_its_records():
    a = Acceptor()
    records = []
    records += a.on_prepare((2, "n1"), 0)[1]
    records += a.on_accept((2, "n1"), 0, {"op": "write", "value": 1})[1]
    records += a.on_accept((3, "n2"), 1, "y")[1]
    b = Acceptor()
    for r in records:
        b.replay(r)
    assert b.promised == (3, "n2")
    assert b.accepted == a.accepted
    assert not b.on_prepare((2, "n5"), 0)[0]


def test_bug_accept_lower_ballot_accepts_below_promise():
    a = Acceptor(bug="accept-lower-ballot")
    a.on_prepare((5, "n2"), 0)
    ok, _ = a.on_accept((1, "n1"), 0, "stale")
    assert ok and a.accepted[0][1] == "stale" and a.promised == (5, "n2")


def test_bug_ignore_promised_values_overwrites_a_chosen_slot():
    acc = cluster()
    l1 = Leadership((1, "n1"), 0, 5)
    run_phase1(l1, acc, NODES)
    accept_at(l1, acc, ["n1", "n2", "n3"], l1.propose("A"), "A")
    l2 = Leadership((2, "n5"), 0, 5, bug="ignore-promised-values")
    assert run_phase1(l2, acc, ["n3", "n4", "n5"]) == []
    slot = l2.propose("B")
    assert slot == 0
    assert accept_at(l2, acc, ["n3", "n4", "n5"], slot, "B") == "B"


def test_learner_applies_in_slot_order_only():
    lr = Learner()
    lr.learn(1, "b")
    assert lr.ready() == []
    lr.learn(0, "a")
    assert lr.ready() == [(0, "a"), (1, "b")]
    assert not lr.learn(1, "other")
    assert lr.first_unlearned == 2
