"""paxos node process: ``python3 -m splitbrain.systems.paxos --config JSON``.

Wires the transport-agnostic :class:`~.node.PaxosNode` to a process: peer messages over
the lossy link paxos is measured under (:meth:`PeerNet.lossy`), each handled in its own
task; acceptor records in a group-committed log (a promise leaves only once it is
fsync'd); chosen values in a best-effort log that catch-up repairs when it is lost.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from splitbrain.systems import wire
from splitbrain.systems.base import NodeConfig
from splitbrain.systems.common.machine import StateMachine
from splitbrain.systems.common.node import run_node, tick_forever
from splitbrain.systems.common.peers import PeerNet
from splitbrain.systems.common.storage import GroupCommitLog
from splitbrain.systems.paxos.node import HEARTBEAT_S, PaxosNode

TICK_S = HEARTBEAT_S


class PaxosServer:
    def __init__(self, config: NodeConfig, log: logging.Logger) -> None:
        self.config, self.log = config, log
        data = Path(config.data_dir)
        self.acceptor_log = GroupCommitLog(data / "acceptor.jsonl", sync=config.bug != "acceptor-no-fsync")
        # written only by append_nowait, never fsync'd: a power loss may leave any of it, and
        # reading it strictly would stop a correct node over what catch-up repairs anyway
        self.chosen_log = GroupCommitLog(data / "chosen.jsonl", sync=False)
        self.machine = StateMachine()
        self.net = PeerNet.lossy(config.name, (config.peer_host, config.peer_port), config.peers,
                                 self._on_peer, log)
        self.node = PaxosNode(
            config.name,
            list(config.peers),
            send=self.net.send,
            persist=self.acceptor_log.append,
            apply=self._apply,
            remember=lambda slot, value: self.chosen_log.append_nowait([[slot, value]]),
            log=log,
            bug=config.bug,
        )
        self._ticker: asyncio.Task[None] | None = None

    def _apply(self, cmd: dict[str, Any], slot: int) -> dict[str, Any]:
        ok, out = self.machine.apply(cmd, slot)  # generated ids are log slots: unique, agreed
        return {"ok": True, "value": out} if ok else {"ok": False, "error": out, "definite": True}

    async def _on_peer(self, msg: dict[str, Any]) -> None:
        await self.node.on_message(msg)

    async def start(self) -> None:
        node = self.node
        chosen = [(int(s), v) for s, v in self.chosen_log.read()]
        node.restore(self.acceptor_log.read(), chosen)
        self.log.info("paxos %s restored promise %s, %d accepted slots, applied through slot %s%s",
                      self.config.name, list(node.acceptor.promised), len(node.acceptor.accepted),
                      node.learner.applied, f"; seeded bug {self.config.bug}" if self.config.bug else "")
        await self.net.start()
        self._ticker = asyncio.create_task(tick_forever(TICK_S, node.tick, self.log))

    def status(self) -> dict[str, Any]:
        """The ``status`` op: leader if this node holds a ballot through phase 1, its ballot
        round as the term, the leader it follows, and its first unlearned slot as commit."""
        return self.node.status()

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op not in wire.OPS:
            return wire.error(req, "unsupported", True)
        try:
            result = await self.node.submit({"op": op, "key": req.get("key"), "value": req.get("value")})
        except TimeoutError:
            return wire.error(req, "timeout", False)
        if result.get("ok"):
            return wire.reply(req, result.get("value"))
        return wire.error(req, result.get("error", "failed"), bool(result.get("definite")))

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await self.net.stop()
        self.acceptor_log.close()
        self.chosen_log.close()


if __name__ == "__main__":
    sys.exit(run_node(PaxosServer))
