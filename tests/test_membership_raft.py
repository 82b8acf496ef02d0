"""Raft's single-server membership changes against real node processes (local backend).

Two changes sent to the leader at once: the correct leader takes one and refuses the other
(``change-in-progress``) until the first is committed; with the seeded bug ``unsafe-membership``
it takes both, and the configuration drops by two nodes in one step, the state in which two
majorities need not overlap. A removed node answers ``not-member``; a wiped node comes back as
a newcomer and catches up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from splitbrain.backends.base import ClusterSpec
from splitbrain.backends.local import LocalBackend
from splitbrain.registry import SYSTEMS
from splitbrain.systems.wire import ClientConnection

pytestmark = pytest.mark.timeout(180)
NODES = ["n1", "n2", "n3", "n4", "n5"]


async def call(b: LocalBackend, node: str, req: dict[str, Any], timeout_s: float = 3.0) -> dict[str, Any]:
    conn = ClientConnection(*b.client_address(node))
    try:
        return await conn.request(req, timeout_s)
    finally:
        await conn.close()


async def leader_of(b: LocalBackend) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = await call(b, "n1", {"op": "write", "key": "k", "value": 1})
        if r.get("ok"):
            return str(r.get("leader") or r.get("node"))
        await asyncio.sleep(0.2)
    raise AssertionError("no leader")


async def change(b: LocalBackend, node: str, action: str, target: str) -> dict[str, Any]:
    return await call(b, node, {"op": "admin", "value": {"action": action, "node": target}})


@pytest.mark.parametrize("bug", [None, "unsafe-membership"])
def test_raft_takes_one_membership_change_at_a_time_unless_seeded(tmp_path, bug) -> None:
    system = SYSTEMS.get("raft")

    async def go() -> None:
        b = LocalBackend({})
        await b.setup(ClusterSpec(system=system, nodes=NODES, run_dir=str(tmp_path), run_id="m", bug=bug))
        try:
            leader = await leader_of(b)
            others = [n for n in NODES if n != leader]
            x, y = others[-1], others[-2]
            answers = await asyncio.gather(change(b, leader, "leave", x), change(b, leader, "leave", y))
            view = (await call(b, leader, {"op": "members"}))["value"]
            if bug is None:
                assert sorted(bool(a.get("ok")) for a in answers) == [False, True], answers
                refused = next(a for a in answers if not a.get("ok"))
                assert refused["definite"] and "change-in-progress" in refused["error"]
                assert len(view["members"]) == 4
            else:
                assert all(a.get("ok") for a in answers), answers
                assert sorted(view["members"]) == sorted(set(NODES) - {x, y})
            gone = next(n for n in (x, y) if n not in view["members"])
            # the removed node learns it (entries reach every node) and refuses its clients
            deadline = time.monotonic() + 10
            while True:
                r = await call(b, gone, {"op": "read", "key": "k"})
                if r.get("error") == "not-member" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert r.get("error") == "not-member" and r.get("definite") is True
            # wiped and added back: it joins as new, catches up and serves again
            await b.kill(gone)
            await b.wipe(gone)
            await b.start(gone)
            deadline = time.monotonic() + 20
            while not (await change(b, leader, "join", gone)).get("ok"):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.3)
            deadline = time.monotonic() + 20
            while not (r := await call(b, gone, {"op": "read", "key": "k"})).get("ok"):
                assert time.monotonic() < deadline, r
                await asyncio.sleep(0.3)
            assert r["value"] == 1
        finally:
            await b.teardown()

    asyncio.run(go())


@pytest.mark.parametrize("bug", [None, "unsafe-membership"])
def test_two_changes_in_flight_let_two_leaders_commit(tmp_path, bug) -> None:
    """The bug's consequence, staged: the leader and one follower cut off from the other three,
    which the leader is asked to remove two of. With two changes in flight its configuration
    shrinks to three nodes it has a majority of, while the other side, which never saw the
    changes, elects its own leader under the old five: both commit. The correct leader takes
    one change, cannot commit it, and commits nothing."""
    from splitbrain.nemesis import grudges

    system = SYSTEMS.get("raft")

    async def go() -> None:
        b = LocalBackend({})
        await b.setup(ClusterSpec(system=system, nodes=NODES, run_dir=str(tmp_path), run_id="m2", bug=bug))
        try:
            leader = await leader_of(b)
            w, x, y, z = [n for n in NODES if n != leader]
            await b.partition(grudges.complete([[leader, w], [x, y, z]]))
            await asyncio.gather(change(b, leader, "leave", x), change(b, leader, "leave", y),
                                 return_exceptions=True)
            small = await call(b, leader, {"op": "write", "key": "k", "value": 2})
            deadline = time.monotonic() + 20
            while not (big := await call(b, z, {"op": "write", "key": "k", "value": 3})).get("ok"):
                assert time.monotonic() < deadline, big
                await asyncio.sleep(0.3)
            assert big.get("leader", big.get("node")) != leader
            if bug is None:
                assert not small.get("ok"), small  # the cut-off leader commits nothing
            else:
                assert small.get("ok"), small  # two leaders, both committing: split brain
        finally:
            await b.teardown()

    asyncio.run(go())
