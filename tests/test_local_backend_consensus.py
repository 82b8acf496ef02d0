"""The local backend's partitions against real consensus clusters (raft, paxos).

A node cut off from every peer is a minority of one: whatever it believes
(leader or not), it must not commit a write, while the majority side keeps
committing. If it did commit, either the system is broken or the partition
silently leaked: both are what these tests exist to catch.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from splitbrain.backends.base import ClusterSpec
from splitbrain.backends.local.backend import LocalBackend
from splitbrain.nemesis import grudges
from splitbrain.registry import SYSTEMS

pytestmark = pytest.mark.timeout(180)
NODES = ["n1", "n2", "n3", "n4", "n5"]


def system_or_skip(name):
    try:
        return SYSTEMS.get(name)
    except (ImportError, AttributeError) as e:
        pytest.skip(f"{name} not available yet: {e}")


async def write(system, backend, node, value, timeout_s=2.0):
    client = system.client(*backend.client_address(node))
    try:
        return await client.invoke("write", "k", value, timeout_s)
    except (TimeoutError, ConnectionError, OSError) as e:
        return {"ok": False, "error": type(e).__name__}
    finally:
        await client.close()


async def until_ok(system, backend, nodes, value, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for node in nodes:
            r = await write(system, backend, node, value)
            if r.get("ok"):
                return r
        await asyncio.sleep(0.2)
    raise AssertionError(f"no write of {value} committed on {nodes} within {timeout_s} s")


@pytest.mark.parametrize("name", ["raft", "paxos"])
def test_isolated_leader_cannot_commit_while_the_majority_can(tmp_path, name):
    system = system_or_skip(name)

    async def go():
        b = LocalBackend({})
        await b.setup(ClusterSpec(system=system, nodes=NODES, run_dir=str(tmp_path), run_id="c"))
        try:
            first = await until_ok(system, b, NODES, 1)
            # Isolate whoever served the write: raft's leader (the answer names it).
            lone = first.get("leader") or first.get("node") or "n1"
            rest = [n for n in NODES if n != lone]
            await b.partition(grudges.complete([[lone], rest]))
            v = await b.verify()
            assert len(v.cut) == 8 and v.leaking == []
            lonely = await asyncio.gather(*(write(system, b, lone, 100 + i, 3.0) for i in range(3)))
            assert not any(r.get("ok") for r in lonely), lonely
            await until_ok(system, b, rest, 2)
            v = await b.verify()
            assert v.leaking == []
            assert sum(v.links[f"{p}->{lone}"].counters["dropped_msgs"] + v.links[f"{lone}->{p}"].counters["dropped_msgs"]
                       for p in rest) > 0
            await b.heal()
            await until_ok(system, b, [lone], 3)
        finally:
            await b.teardown()

    asyncio.run(go())


def test_shared_peer_address_system_is_partitioned_by_source(tmp_path):
    """etcd members must agree on peer URLs, so it gets per-destination proxies that
    identify the caller; a cut must still be exact and measured."""
    import shutil

    if shutil.which("etcd") is None:
        pytest.skip("etcd binary not installed")
    system = system_or_skip("etcd")
    nodes = NODES[:3]

    async def go():
        b = LocalBackend({})
        await b.setup(ClusterSpec(system=system, nodes=nodes, run_dir=str(tmp_path), run_id="e"))
        try:
            await until_ok(system, b, nodes, 1)
            await b.partition(grudges.complete([["n1"], nodes[1:]]))
            assert not (await write(system, b, "n1", 100, 3.0)).get("ok")
            await until_ok(system, b, nodes[1:], 2)
            v = await b.verify()
            assert len(v.cut) == 4 and v.leaking == []
            await b.heal()
            await until_ok(system, b, ["n1"], 3)
        finally:
            await b.teardown()

    asyncio.run(go())


def test_leader_found_from_link_counters_on_a_shared_peer_address_system(tmp_path):
    """etcd on the local backend runs through per-destination source proxies, not link proxies; their
    counters have the same shape, so faults aimed at the leader find etcd's leader (the busiest
    sender) instead of silently falling back to a random node. The leader is etcd's own word
    (its ``etcd_server_is_leader`` metric)."""
    import random
    import shutil
    import urllib.request

    from splitbrain.nemesis.base import NemesisContext, leaderish

    if shutil.which("etcd") is None:
        pytest.skip("etcd binary not installed")
    system = system_or_skip("etcd")
    nodes = NODES[:3]

    def etcd_leader(b):
        for n in nodes:
            host, port = b.client_address(n)
            try:
                text = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=2).read().decode()
            except OSError:
                continue
            if "\netcd_server_is_leader 1" in text:
                return n
        return None

    async def go():
        b = LocalBackend({})
        await b.setup(ClusterSpec(system=system, nodes=nodes, run_dir=str(tmp_path), run_id="el"))
        try:
            await until_ok(system, b, nodes, 1)
            ctx = NemesisContext(backend=b, nodes=nodes, rng=random.Random(0))
            seen = []
            for _ in range(5):  # a leader change between the two reads (a loaded machine) reads again
                before = await asyncio.to_thread(etcd_leader, b)
                found, how = await leaderish(ctx, "fallback", window_s=1.0)
                after = await asyncio.to_thread(etcd_leader, b)
                seen.append((before, found, how, after))
                if before == after and before is not None:
                    break
            before, found, how, after = seen[-1]
            assert how == "busiest-sender" and found == before == after, seen
        finally:
            await b.teardown()

    asyncio.run(go())
