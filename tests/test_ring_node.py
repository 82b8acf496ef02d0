"""RingNode in one event loop over a simulated network: quorums, ABD write-back, restarts."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import pytest
from _helpers import run_ticking

from splitbrain.systems.ring import reconfig
from splitbrain.systems.ring.node import SUSPECT_S, RingNode, Unavailable
from splitbrain.systems.ring.placement import HashRing

NAMES = ["n1", "n2", "n3", "n4", "n5"]


class Sim:
    def __init__(self, names: list[str], bug: str | None = None, options: dict[str, Any] | None = None) -> None:
        self.names = names
        self.bug = bug
        self.options = options or {}
        self.cut: set[tuple[str, str]] = set()
        self.down: set[str] = set()
        #: message types the network loses (a change's step held back)
        self.lose: set[str] = set()
        self.disk: dict[str, list[tuple[str, Any]]] = {n: [] for n in names}
        self.nodes: dict[str, RingNode] = {}
        for n in names:
            self.start(n)

    def start(self, name: str) -> None:
        self.down.discard(name)

        async def persist(key: str, rec: Any, name: str = name) -> None:
            self.disk[name].append((key, rec))

        node = RingNode(
            name,
            [p for p in self.names if p != name],
            send=lambda dst, msg, src=name: self.deliver(src, dst, msg),
            persist=persist,
            options=self.options,
            bug=self.bug,
        )
        node.restore(list(self.disk[name]))
        self.nodes[name] = node

    def deliver(self, src: str, dst: str, msg: dict[str, Any]) -> None:
        if src in self.down or dst in self.down or (src, dst) in self.cut or msg.get("t") in self.lose:
            return
        node = self.nodes[dst]
        asyncio.get_running_loop().call_later(0.001, lambda: asyncio.ensure_future(node.on_message(msg)))

    async def run(self) -> None:
        while True:
            for n, node in self.nodes.items():
                if n not in self.down:
                    node.tick()
            await asyncio.sleep(0.05)


def with_sim(body, **kw):
    run_ticking(Sim(NAMES, **kw), body)


def key_replicas(sim: Sim, key: Any) -> list[str]:
    return sim.nodes["n1"].ring.replicas(json.dumps(key), 3)


def test_write_then_read_from_every_coordinator():
    async def body(sim: Sim) -> None:
        for i, via in enumerate(NAMES):
            assert await sim.nodes[via].handle("write", "x", i) == i
            for other in NAMES:
                assert await sim.nodes[other].handle("read", "x", None) == i

    with_sim(body)


def test_quorum_read_after_partial_write_returns_newest_and_writes_it_back():
    async def body(sim: Sim) -> None:
        await sim.nodes["n1"].handle("write", "k", "old")
        r1, r2, r3 = key_replicas(sim, "k")
        k = json.dumps("k")
        # a writer that crashed after reaching one replica only
        await sim.nodes[r1].store(k, {"tag": [99, "zz"], "value": "new"})
        coord = next(n for n in NAMES if n not in (r1, r2, r3))
        # the reader cannot reach r3: its quorum is {r1, r2}, which includes the new value
        sim.cut |= {(coord, r3), (r3, coord)}
        assert await sim.nodes[coord].handle("read", "k", None) == "new"
        # written back: a quorum now holds it, so a reader avoiding r1 sees it too
        assert sim.nodes[r2].data[k]["value"] == "new"
        sim.cut = {(coord, r1), (r1, coord)}
        assert await sim.nodes[coord].handle("read", "k", None) == "new"

    with_sim(body)


def test_without_write_back_a_later_read_goes_back_in_time():
    async def body(sim: Sim) -> None:
        await sim.nodes["n1"].handle("write", "k", "old")
        r1, r2, r3 = key_replicas(sim, "k")
        await sim.nodes[r1].store(json.dumps("k"), {"tag": [99, "zz"], "value": "new"})
        coord = next(n for n in NAMES if n not in (r1, r2, r3))
        sim.cut = {(coord, r3), (r3, coord)}
        assert await sim.nodes[coord].handle("read", "k", None) == "new"
        sim.cut = {(coord, r1), (r1, coord)}
        assert await sim.nodes[coord].handle("read", "k", None) == "old"

    with_sim(body, bug="no-write-back")


def test_no_quorum_of_the_keys_replicas_means_unavailable_even_with_other_nodes_up():
    async def body(sim: Sim) -> None:
        reps = key_replicas(sim, "k")
        coord = next(n for n in NAMES if n not in reps)
        sim.down |= set(reps[:2])
        with pytest.raises(Unavailable):
            await sim.nodes[coord].handle("write", "k", 1)

    with_sim(body)


def test_sloppy_quorum_accepts_writes_on_non_replicas():
    async def body(sim: Sim) -> None:
        reps = key_replicas(sim, "k")
        others = [n for n in NAMES if n not in reps]
        sim.down |= set(reps[:2])
        await asyncio.sleep(SUSPECT_S + 0.3)  # let the failure detector notice
        assert await sim.nodes[others[0]].handle("write", "k", 1) == 1
        holders = [n for n in NAMES if json.dumps("k") in sim.nodes[n].data]
        assert set(holders) - set(reps)

    with_sim(body, bug="sloppy-quorum")


def test_set_and_counter_survive_restart_of_every_node():
    async def body(sim: Sim) -> None:
        for i in range(6):
            await sim.nodes[NAMES[i % 5]].handle("add", "s", i)
            await sim.nodes[NAMES[i % 5]].handle("incr", "c", 2)
        for n in NAMES:
            sim.start(n)  # from what was persisted only
        assert await sim.nodes["n3"].handle("read", "s", None) == list(range(6))
        assert await sim.nodes["n4"].handle("read", "c", None) == 12
        ids = {await sim.nodes[n].handle("generate", None, None) for n in NAMES for _ in range(3)}
        for n in NAMES:
            sim.start(n)
        ids |= {await sim.nodes[n].handle("generate", None, None) for n in NAMES}
        assert len(ids) == 20

    with_sim(body)


def test_lww_clock_loses_concurrent_set_adds():
    async def body(sim: Sim) -> None:
        await asyncio.gather(*(sim.nodes[n].handle("add", "s", i) for i, n in enumerate(NAMES)))
        got = await sim.nodes["n1"].handle("read", "s", None)
        assert len(got) < 5

    with_sim(body, bug="lww-clock")


def test_detector_suspects_a_silent_node_and_trusts_it_again():
    async def body(sim: Sim) -> None:
        await asyncio.sleep(0.3)
        fd = sim.nodes["n1"].detector
        assert not fd.suspected("n2", time.monotonic())
        sim.down.add("n2")  # stopped: sends and receives nothing, state kept
        await asyncio.sleep(SUSPECT_S + 0.4)
        assert fd.suspected("n2", time.monotonic())
        sim.down.discard("n2")
        await asyncio.sleep(0.3)
        assert not fd.suspected("n2", time.monotonic())

    with_sim(body)


def test_join_hands_data_over_then_moves_ownership_and_leave_empties_a_node():
    async def body(sim: Sim) -> None:
        keys = [f"k{i}" for i in range(60)]
        for i, k in enumerate(keys):
            await sim.nodes[NAMES[i % 4]].handle("write", k, i)
        before = {k: set(key_replicas(sim, k)) for k in keys}
        assert "n5" not in set().union(*before.values())
        members = await sim.nodes["n2"].handle("admin", None, {"action": "join", "node": "n5"})
        assert members == NAMES
        after = {k: set(key_replicas(sim, k)) for k in keys}
        gained = [k for k in keys if "n5" in after[k]]
        assert 0 < len(gained) < len(keys)
        assert all(json.dumps(k) in sim.nodes["n5"].data for k in gained)
        # the newcomer plus one old replica form a quorum that still sees every value
        for k in gained:
            old_only = sorted(after[k] - {"n5"})
            sim.down.add(old_only[0])
            assert await sim.nodes["n5"].handle("read", k, None) == keys.index(k)
            sim.down.discard(old_only[0])
        await sim.nodes["n3"].handle("admin", None, {"action": "leave", "node": "n1"})
        sim.down.add("n1")  # gone for good
        for i, k in enumerate(keys):
            assert await sim.nodes[NAMES[1 + i % 4]].handle("read", k, None) == i
        for n in NAMES[1:]:
            assert "n1" not in sim.nodes[n].ring.members

    with_sim(body, options={"members": NAMES[:4], "vnodes": 16})


def _both_ways(a: str, others: list[str]) -> set[tuple[str, str]]:
    return {(a, b) for b in others} | {(b, a) for b in others}


def test_a_read_in_flight_across_a_removal_is_not_answered_by_the_removed_replica():
    """The ring's stale reads under membership,partition,kill (seed 9 of a sweep): a coordinator picked
    a key's replicas, a removal committed while its read was re-sent, and the removed replica, which
    had dropped its copy at the commit, answered with nothing; with the coordinator's own stale copy
    that was a quorum of the old ring, and the read missed acknowledged elements. The removed replica
    refuses the old configuration now, and the coordinator asks the new ring's replicas."""
    async def body(sim: Sim) -> None:
        c, r2, r3 = key_replicas(sim, "s")
        x = next(n for n in NAMES if n not in (c, r2, r3))
        sim.cut = {(x, c)}  # the adds reach r2 and r3 only: c's copy is stale
        for i in range(5):
            await sim.nodes[x].handle("add", "s", i)
        sim.cut = _both_ways(c, [r2, r3])
        read = asyncio.create_task(sim.nodes[c].handle("read", "s", None))
        await asyncio.sleep(0.1)  # its replica groups are picked: the ring of five
        assert await sim.nodes[x].handle("admin", None, {"action": "leave", "node": r3}) == sorted(
            n for n in NAMES if n != r3)
        assert json.dumps("s") not in sim.nodes[r3].data  # dropped at the commit
        sim.cut = _both_ways(c, [r2])  # the next re-send reaches the removed replica
        assert await read == list(range(5))

    with_sim(body)


def test_a_write_that_arrives_after_the_handover_is_refused_until_its_coordinator_is_joint():
    """A put sent under the old ring that reaches its replicas after they handed their data over (and
    before the commit) would be acknowledged by a quorum of the old ring alone and missing from the
    new one. Those replicas refuse it; the coordinator, joint by then, writes to both rings."""
    async def body(sim: Sim) -> None:
        r1, r2, r3 = key_replicas(sim, "s")
        after = HashRing([n for n in NAMES if n != r1], 64).replicas(json.dumps("s"), 3)
        (y,) = set(after) - {r2, r3}
        c = next(n for n in NAMES if n not in (r1, r2, r3, y))
        sim.cut = _both_ways(c, [r1, r2, r3])
        add = asyncio.create_task(sim.nodes[c].handle("add", "s", 42))
        await asyncio.sleep(0.1)
        sim.lose = {"commit", "hb"}  # joint and handover go through; the commit (and its gossip) waits
        leave = asyncio.create_task(sim.nodes[y].handle("admin", None, {"action": "leave", "node": r1}))
        for _ in range(100):
            if all((sim.nodes[n].pending or {}).get("handover") for n in (r1, r2, r3)):
                break
            await asyncio.sleep(0.02)
        sim.cut = _both_ways(c, [r3])  # the add's re-sends reach r1 and r2, handed over already
        assert await add == 42
        sim.lose = set()
        await leave
        sim.cut = _both_ways(y, [r2])  # a quorum of the new ring without r2
        assert 42 in await sim.nodes[y].handle("read", "s", None)

    with_sim(body)


def test_a_replica_that_handed_over_stays_joint_across_a_restart():
    """Persisted with the ring: a replica restarted between its handover and the commit keeps
    refusing old-ring writes (the handover cannot have seen them), and the commit ends it."""
    async def body(sim: Sim) -> None:
        sim.lose = {"commit", "hb"}  # joint and handover go through; the commit (and its gossip) waits
        leave = asyncio.create_task(sim.nodes["n2"].handle("admin", None, {"action": "leave", "node": "n1"}))
        for _ in range(100):
            if all((sim.nodes[n].pending or {}).get("handover") for n in NAMES):
                break
            await asyncio.sleep(0.02)
        sim.start("n3")
        assert (sim.nodes["n3"].pending or {}).get("handover") and sim.nodes["n3"].next_ring is not None
        sim.lose = set()
        await leave
        await asyncio.sleep(0.3)
        assert sim.nodes["n3"].pending is None and sim.nodes["n3"].epoch == 1
        sim.start("n3")
        assert sim.nodes["n3"].pending is None and "n1" not in sim.nodes["n3"].ring.members

    with_sim(body)


def test_a_change_its_coordinator_left_joint_is_completed_without_another_request():
    """Every node joint and handed over, nothing committed, no coordinator at it any more: the state
    a removal sent through a partition's small side left behind (seed 5 under
    membership,partition,kill: everyone acknowledged the joint step once the cut healed, and the
    handover outlasted the admin request). The ring stayed joint until some later admin request,
    and with none coming never settled (the final heal's 60 s ran out: exit 255). A node joint that
    long drives the change to its end itself; the data reaches the new replicas."""
    async def body(sim: Sim) -> None:
        keys = [f"k{i}" for i in range(30)]
        for i, k in enumerate(keys):
            await sim.nodes[NAMES[i % 5]].handle("write", k, i)
        members = NAMES[1:]
        for node in sim.nodes.values():
            node.pending = {"members": members, "epoch": 1, "cid": "n2:1:7", "since": time.monotonic(),
                            "handover": True}
            node.next_ring = HashRing(members, node.vnodes)
        limit = time.monotonic() + reconfig.STUCK_S + reconfig.STUCK_JITTER_S + 3.0
        while time.monotonic() < limit and any(n.pending is not None for n in sim.nodes.values()):
            await asyncio.sleep(0.05)
        assert [n.pending for n in sim.nodes.values()] == [None] * 5
        assert all(n.epoch == 1 and list(n.ring.members) == members for n in sim.nodes.values())
        sim.down.add("n1")  # removed: what it held was handed over first
        for i, k in enumerate(keys):
            assert await sim.nodes[members[i % 4]].handle("read", k, None) == i

    with_sim(body)


def test_a_stuck_change_that_another_node_is_busy_with_a_different_one_is_aborted_not_kept():
    """Two changes half-joint at once (a coordinator cut off after some nodes took its joint step, the
    other nodes joint for another change): neither can complete, and neither may stay joint for
    good. The completers abort what never committed anywhere; the ring settles, and a new change
    goes through."""
    async def body(sim: Sim) -> None:
        for name, cid, gone in (("n1", "a", "n4"), ("n2", "a", "n4"), ("n3", "b", "n5"), ("n4", "b", "n5")):
            node = sim.nodes[name]
            members = sorted(set(NAMES) - {gone})
            node.pending = {"members": members, "epoch": 1, "cid": cid, "since": time.monotonic()}
            node.next_ring = HashRing(members, node.vnodes)
        limit = time.monotonic() + 2 * (reconfig.STUCK_S + reconfig.STUCK_JITTER_S + reconfig.COMPLETE_S)
        while time.monotonic() < limit and any(sim.nodes[n].pending is not None for n in NAMES):
            await asyncio.sleep(0.05)
        assert [sim.nodes[n].pending for n in NAMES] == [None] * 5
        epochs = {sim.nodes[n].epoch for n in NAMES}
        assert len(epochs) == 1, epochs  # one settled ring everywhere (a completed change, or none)
        ring = list(sim.nodes["n1"].ring.members)  # n4 or n5 gone if a change completed; n1-n3 stay
        assert await sim.nodes["n1"].handle("admin", None, {"action": "leave", "node": "n3"}) == \
            sorted(set(ring) - {"n3"})
        assert all(sim.nodes[n].pending is None and "n3" not in sim.nodes[n].ring.members
                   for n in ring if n != "n3")

    with_sim(body)


def test_a_nodes_wait_before_completing_a_stuck_change_is_drawn_once_per_change():
    """The jitter that keeps joint nodes from all completing a stuck change at once was drawn anew
    every tick, so a node went as soon as any one draw came out small: within a few ticks of STUCK_S,
    on every node alike. Drawn once per change, a node whose draw is 1.5 s waits it out."""
    async def body(sim: Sim) -> None:
        node = sim.nodes["n1"]
        node.rng = random.Random(0)
        draw = random.Random(0).uniform(0.0, reconfig.STUCK_JITTER_S)
        assert draw > 1.5  # the seed's first draw: well past the 0.5 s this change has waited
        members = NAMES[1:]
        node.pending = {"members": members, "epoch": 1, "cid": "n2:1:9",
                        "since": time.monotonic() - reconfig.STUCK_S - 0.5}
        node.next_ring = HashRing(members, node.vnodes)
        for _ in range(50):  # fifty ticks: a fresh draw each would have gone below 0.5 s long since
            node.complete_stuck()
        assert node._completer is None
        node.pending["since"] -= draw  # its own wait now over
        node.complete_stuck()
        assert node._completer is not None

    with_sim(body)


def test_a_ring_shrinking_below_n_members_hands_over_what_the_survivors_lack():
    """Three members, three replicas a key: a removal leaves every key's replicas a subset of its old
    ones, and the handover skipped such keys as having no new replica. An element on two of the three
    was then on one of the two left, short of their majority, and the next removal dropped it."""
    async def body(sim: Sim) -> None:
        sim.cut = _both_ways("n3", ["n1"])  # the adds reach n1 and n2 only
        for i in range(5):
            await sim.nodes["n1"].handle("add", "s", i)
        sim.cut = set()
        await sim.nodes["n1"].handle("admin", None, {"action": "leave", "node": "n2"})
        assert sim.nodes["n3"].data[json.dumps("s")] == {"set": list(range(5))}  # handed over to both left
        await sim.nodes["n3"].handle("admin", None, {"action": "leave", "node": "n1"})
        assert await sim.nodes["n3"].handle("read", "s", None) == list(range(5))

    with_sim(body, options={"members": NAMES[:3], "vnodes": 16})


def test_a_joint_coordinators_read_is_not_completed_by_a_replica_the_commit_removed():
    """Membership,partition seed 20: a coordinator joint for a removal read a key from the small
    side; the new replicas there answered before the handover, without what the other side wrote.
    At the heal the change committed and the removed replica, its copies dropped, completed the
    old ring's quorum with nothing: 17 acknowledged elements missed. It refuses now."""
    async def body(sim: Sim) -> None:
        a, b, c = key_replicas(sim, "s")
        (d,) = set(HashRing([n for n in NAMES if n != b], 64).replicas(json.dumps("s"), 3)) - {a, c}
        (x,) = set(NAMES) - {a, b, c, d}
        sim.cut = {(x, a)}  # the adds reach b and c only
        for i in range(5):
            await sim.nodes[x].handle("add", "s", i)
        sim.cut = _both_ways(d, [b, c])
        sim.lose = {"handover"}
        leave = asyncio.create_task(sim.nodes[x].handle("admin", None, {"action": "leave", "node": b}))
        while sim.nodes[d].pending is None:
            await asyncio.sleep(0.02)
        read = asyncio.create_task(sim.nodes[d].handle("read", "s", None))
        await asyncio.sleep(0.2)  # a and d answered: the new ring's quorum, before any handover
        sim.lose = set()
        await leave
        assert json.dumps("s") not in sim.nodes[b].data  # dropped at the commit
        sim.cut = _both_ways(d, [c])  # the next re-send reaches the removed replica
        assert await read == list(range(5))

    with_sim(body)
