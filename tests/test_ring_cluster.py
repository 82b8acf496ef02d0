"""Real multi-process ring clusters: quorums over real sockets, kill -9, SIGSTOP."""

from __future__ import annotations

import asyncio
import signal

import pytest
from test_paxos_cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_ring_cluster_serves_every_op_through_kills_and_pauses(tmp_path):
    async def body(c: Cluster) -> None:
        for i, n in enumerate(c.names):
            await c.until_ok(n, "write", "x", i)
            assert (await c.until_ok(c.names[(i + 2) % 5], "read", "x"))["value"] == i
        assert (await c.call("n1", "cas", "x", [4, 5]))["error"] == "unsupported"
        c.kill("n2")
        c.signal("n3", signal.SIGSTOP)  # two of five down: every key keeps a quorum of its 3 replicas
        for i in range(10):
            await c.until_ok(c.names[i % 5 if i % 5 not in (1, 2) else 0], "add", "s", i)
            await c.until_ok("n4", "incr", "c", 1)
        c.signal("n3", signal.SIGCONT)
        c.start("n2")
        assert (await c.until_ok("n2", "read", "s"))["value"] == list(range(10))
        assert (await c.until_ok("n3", "read", "c"))["value"] == 10
        assert (await c.until_ok("n5", "read", "x"))["value"] == 4
        ids = [(await c.until_ok(n, "generate"))["value"] for n in c.names for _ in range(3)]
        assert len(set(ids)) == 15

    with Cluster("ring", tmp_path, n=5, options={"vnodes": 32}) as c:
        asyncio.run(body(c))
