"""The final phase's ops: after the last heal, what the workload reads to close its history.

Jepsen's final generator: once every fault is healed and the cluster had time to
recover, the workload's final ops (a set's final read, a counter's last read) are
retried until one succeeds or the recovery deadline passes, each on a fresh
process and a fresh connection (an op that hung in the main phase must not block
them). With independent keys the keys used last are read on every node in turn,
because a replica that diverged shows only where a client asks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from splitbrain.harness.client import Workers, open_client
from splitbrain.harness.config import Test
from splitbrain.systems.base import System
from splitbrain.workloads.base import Workload

FINAL_RETRY_S = 0.5
FINAL_TRIES_PER_NODE = 2  # a final read that fails on a node is tried there once more


@dataclass
class FinalOps:
    """One run's final ops, after its final heal; ``keyed``: the run's independent keys, if any."""

    test: Test
    system: System
    workload: Workload
    address: Callable[[str], tuple[str, int]]
    workers: Workers
    stop: asyncio.Event
    keyed: Any = None

    def requests(self) -> list[Any]:
        if self.keyed is not None:
            return list(self.keyed.final_requests())
        return list(self.workload.final_requests(self.test.rng("final")))

    async def run(self, finals: list[Any]) -> None:
        """Each final op until it succeeds (on the next node each time) or the recovery time passes."""
        if self.keyed is not None:
            await self._everywhere(finals)
            return
        deadline = time.monotonic() + self.test.recovery_s
        for i, req in enumerate(finals):
            node_i = i
            while not self.stop.is_set():
                outcome = await self.op(self.test.nodes[node_i % len(self.test.nodes)], req)
                if outcome == "ok" or time.monotonic() >= deadline:
                    break
                node_i += 1
                await asyncio.sleep(FINAL_RETRY_S)

    async def op(self, node: str, req: Any) -> str:
        """One final op on ``node``, as a fresh process on a fresh connection; returns its outcome."""
        process = self.workers.fresh_process()
        client = open_client(self.system, self.address(node))
        try:
            return await self.workers.invoke(client, process, node, req)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 1.0)

    async def _everywhere(self, finals: list[Any]) -> None:
        """Independent keys: read each final key on every node, one after another, and on the first
        node once more. Replicas that diverged then disagree in sequential reads with no write
        between them, whichever node diverged (the extra read puts a healthy node after it).
        Newest keys first; bounded by twice the recovery time."""
        nodes = list(self.test.nodes)
        order = [*nodes, nodes[0]] if len(nodes) > 1 else nodes
        deadline = time.monotonic() + 2 * self.test.recovery_s
        for req in reversed(finals):
            for node in order:
                for _ in range(FINAL_TRIES_PER_NODE):
                    if self.stop.is_set() or time.monotonic() >= deadline:
                        return
                    if await self.op(node, req) == "ok":
                        break
                    await asyncio.sleep(FINAL_RETRY_S)
