"""Helpers for backend and nemesis tests: a cluster of ``peer_node.py`` processes.

"n1 hears n2" (n1 got a gossip message from n2 in the last half second) is a
direct measurement of the link n2 -> n1.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

from splitbrain.backends.base import ClusterSpec
from splitbrain.backends.local.backend import LocalBackend, proc_state
from splitbrain.systems.base import NodeConfig

NODE = str(Path(__file__).with_name("peer_node.py"))


@dataclass(frozen=True)
class PeerSystem:
    name: str = "peer"

    def node_command(self, config: NodeConfig, python: str) -> list[str]:
        return [python, NODE, "--config", config.to_json()]


async def ask(backend: LocalBackend, node: str, op: str) -> dict:
    r, w = await asyncio.open_connection(*backend.client_address(node))
    w.write(json.dumps({"op": op}).encode() + b"\n")
    await w.drain()
    line = await asyncio.wait_for(r.readline(), 5)
    w.close()
    return json.loads(line)


async def hears(backend: LocalBackend, node: str, peer: str, fresh_s: float = 0.5) -> bool:
    heard = await ask(backend, node, "heard")
    return peer in heard and heard[peer][1] < fresh_s


async def eventually(pred, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await pred():
            return True
        await asyncio.sleep(0.1)
    return False


def spec(tmp_path, n: int = 3, **options) -> ClusterSpec:
    return ClusterSpec(system=PeerSystem(), nodes=[f"n{i}" for i in range(1, n + 1)], run_dir=str(tmp_path),
                       run_id="t", options=options)


def gone(pid: int) -> bool:
    return proc_state(pid) in (None, "Z")
