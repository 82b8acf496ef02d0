"""The ring's membership changes against real node processes (local backend), under set adds.

Session 8's loss, staged: removals sent through a partition's small side, given up by their
client (the harness's 3 s bound), are completed by the ring once the cut heals, unwatched; an
operator who still counts the nodes as members goes on removing others, and the ring shrinks
below N members, where a key's replicas no longer move to a new node but shrink to fewer
nodes. The handover skipped every key whose new replicas were a subset of its old ones, so
an element acknowledged by two of three replicas was left on one of the two survivors, and the
next removal dropped it (a correct ring lost 330 of 664 acknowledged set elements).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from typing import Any

import pytest
from test_membership_raft import NODES, call, change

from splitbrain.backends.base import ClusterSpec
from splitbrain.backends.local import LocalBackend
from splitbrain.nemesis import grudges
from splitbrain.registry import SYSTEMS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
KEYS = [f"s{i}" for i in range(4)]


async def until(what: str, probe: Any, timeout_s: float = 30.0) -> Any:
    """Call ``probe()`` until it returns something true; its last answer in the failure."""
    deadline = time.monotonic() + timeout_s
    while not (got := await probe()):
        assert time.monotonic() < deadline, f"{what}: {got}"
        await asyncio.sleep(0.3)
    return got


async def view(b: LocalBackend) -> dict[str, Any]:
    return dict((await call(b, "n1", {"op": "members"}))["value"])


def test_removals_given_up_on_a_small_side_complete_unwatched_and_lose_no_acknowledged_element(tmp_path) -> None:
    async def go() -> None:
        b = LocalBackend({})
        await b.setup(ClusterSpec(system=SYSTEMS.get("ring"), nodes=NODES, run_dir=str(tmp_path), run_id="r",
                                  options={"vnodes": 16}))
        acked: dict[str, set[int]] = {k: set() for k in KEYS}
        ids, rng, adding = itertools.count(), random.Random(7), True

        async def adder() -> None:
            while adding:
                key, e = rng.choice(KEYS), next(ids)
                try:
                    if (await call(b, rng.choice(NODES), {"op": "add", "key": key, "value": e})).get("ok"):
                        acked[key].add(e)
                except (TimeoutError, ConnectionError, OSError):
                    pass
                await asyncio.sleep(0.01)

        adders = [asyncio.create_task(adder()) for _ in range(8)]
        try:
            await asyncio.sleep(1.0)
            await b.partition(grudges.complete([["n1", "n2"], ["n3", "n4", "n5"]]))
            given_up = await asyncio.gather(change(b, "n1", "leave", "n3"), change(b, "n1", "leave", "n4"),
                                            return_exceptions=True)
            assert not any(isinstance(a, dict) and a.get("ok") for a in given_up), given_up
            await asyncio.sleep(7.0)  # past the admin request's own deadline: nobody drives the change
            assert (await view(b))["pending"], "the small side's removal should be left joint"
            await b.partition({})
            # the ring completes it by itself (complete_stuck), with no request to watch it
            settled = await until("the abandoned removal completed", lambda: _settled_without(b, "n3"))
            # an operator who still counts every node removes them down to one member
            for node in [n for n in settled if n != "n1"]:
                await until(f"leave {node}", lambda node=node: _ok(change(b, "n1", "leave", node)))
            assert (await view(b))["members"] == ["n1"]
            adding = False
            await asyncio.gather(*adders)
            for node in NODES[1:]:
                await until(f"join {node}", lambda node=node: _ok(change(b, "n1", "join", node)))
            for key in KEYS:
                got = await until(f"read {key}", lambda key=key: _ok(call(b, "n2", {"op": "read", "key": key})))
                lost = acked[key] - set(got["value"] or [])
                assert not lost, f"{key}: {len(lost)} of {len(acked[key])} acknowledged elements lost"
            assert sum(map(len, acked.values())) > 60
        finally:
            adding = False
            await asyncio.gather(*adders, return_exceptions=True)
            await b.teardown()

    asyncio.run(go())


async def _ok(request: Any) -> dict[str, Any] | None:
    """The answer of a request that succeeded; None for an error or no answer (asked again)."""
    try:
        answer = await request
    except (TimeoutError, ConnectionError, OSError):
        return None
    return answer if answer.get("ok") else None


async def _settled_without(b: LocalBackend, node: str) -> list[str] | None:
    """The members once no change is pending and ``node`` is gone, else None."""
    v = await view(b)
    return None if v["pending"] or node in v["members"] else list(v["members"])
