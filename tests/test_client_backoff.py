"""Client workers back off from a node that cannot serve, so the rate goes to nodes that can.

Two real wire servers in process: one answers every op ``not-leader`` at once
(a follower cut off from any leader), the other serves reads after a few
milliseconds. Under a rate limit the op slots go to whichever worker asks
first; without the back-off the refusing node's workers, free again within a
millisecond, took most of them.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from pathlib import Path
from typing import Any

from splitbrain.harness import generator as g
from splitbrain.harness.client import Recorder, Workers
from splitbrain.history import HistoryWriter, read_jsonl
from splitbrain.registry import SYSTEMS, WORKLOADS
from splitbrain.systems import wire
from splitbrain.workloads.base import Request


async def _refuse(req: dict[str, Any]) -> dict[str, Any]:
    return wire.error(req, "not-leader", True)


async def _mismatch(req: dict[str, Any]) -> dict[str, Any]:
    return wire.error(req, "cas-mismatch", True)


async def _serve(req: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(0.003)
    return wire.reply(req, None)


async def _drive(tmp_path: Path, first: Any) -> Counter[tuple[str, str]]:
    servers = {"n1": await wire.serve_clients("127.0.0.1", 0, first, "n1"),
               "n2": await wire.serve_clients("127.0.0.1", 0, _serve, "n2")}
    ports = {n: s.sockets[0].getsockname()[1] for n, s in servers.items()}
    writer = HistoryWriter(tmp_path / "history.jsonl")
    workers = Workers(system=SYSTEMS.get("memkv"), workload=WORKLOADS.get("register"), recorder=Recorder(writer),
                      nodes=["n1", "n2"], address=lambda n: ("127.0.0.1", ports[n]), concurrency=4,
                      op_timeout_s=2.0)
    reads = (Request("read", None, "k") for _ in itertools.count())
    try:
        await workers.run(g.TimeLimit(g.rate(g.FromIter(reads), 200, random.Random(1)), 2.0))
    finally:
        await asyncio.sleep(0.05)
        for s in servers.values():
            s.close()
        writer.close()
    return Counter((op.node or "", op.type) for op in read_jsonl(tmp_path / "history.jsonl") if op.type != "invoke")


def test_workers_on_a_node_that_refuses_back_off_and_leave_the_slots_to_the_others(tmp_path):
    done = asyncio.run(_drive(tmp_path, _refuse))
    served, refused = done[("n2", "ok")], done[("n1", "fail")]
    assert served > 50, done  # up to 2 s at 200 ops/s (fewer on a loaded machine), most on the node that serves
    assert refused < served / 3, done  # without the back-off: 165 refused to 200 served


def test_an_answer_like_cas_mismatch_is_not_a_reason_to_back_off(tmp_path):
    done = asyncio.run(_drive(tmp_path, _mismatch))
    assert done[("n1", "fail")] > done[("n2", "ok")] / 2, done  # both nodes get their share
