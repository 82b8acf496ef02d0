"""ring node process: ``python3 -m splitbrain.systems.ring --config JSON``.

``config.options``: ``replicas`` (N, default 3), ``vnodes`` (per node, default
64), ``members`` (the initial ring, default every configured node). Besides the
wire ops, ``{"op": "admin", "value": {"action": "join"|"leave", "node": NAME}}``
changes membership for good and ``{"op": "members"}`` answers this node's view
(``members``, ``version`` = the ring's epoch, ``pending``, ``member``). A node outside
the committed ring answers every client op with the definite error ``not-member``.

Wires the transport-agnostic :class:`~.node.RingNode` to a process: peer messages over
the lossy link ring is measured under (:meth:`PeerNet.lossy`), each handled in its own
task; every record merged into a group-committed log before its ack leaves.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from splitbrain.systems import wire
from splitbrain.systems.base import NodeConfig
from splitbrain.systems.capabilities import WIPED_MARKER
from splitbrain.systems.common.node import run_node, tick_forever
from splitbrain.systems.common.peers import PeerNet
from splitbrain.systems.common.storage import GroupCommitLog
from splitbrain.systems.ring.node import HEARTBEAT_S, RingNode, Unavailable
from splitbrain.systems.ring.reconfig import ChangeRefused, NotMember

SUPPORTED = ("read", "write", "add", "incr", "generate", "admin", "members")
HANDOFF_S = 1.0


class RingServer:
    def __init__(self, config: NodeConfig, log: logging.Logger) -> None:
        self.config, self.log = config, log
        self.store = GroupCommitLog(Path(config.data_dir) / "replica.jsonl", sync=config.bug != "no-fsync")
        self.net = PeerNet.lossy(config.name, (config.peer_host, config.peer_port), config.peers,
                                 self._on_peer, log)
        self.node = RingNode(config.name, list(config.peers), send=self.net.send, persist=self._persist,
                             options=config.options, log=log, bug=config.bug)
        self._tasks: list[asyncio.Task[None]] = []

    async def _on_peer(self, msg: dict[str, Any]) -> None:
        await self.node.on_message(msg)

    async def _persist(self, key: str, rec: Any) -> None:
        await self.store.append([[key, rec]])

    async def start(self) -> None:
        node = self.node
        node.restore([(k, r) for k, r in self.store.read()],
                     wiped=(Path(self.config.data_dir) / WIPED_MARKER).exists())
        self.log.info("ring %s: members %s, N=%d, vnodes=%d, %d records restored%s",
                      self.config.name, list(node.ring.members), node.n, node.vnodes, len(node.data),
                      f"; seeded bug {self.config.bug}" if self.config.bug else "")
        await self.net.start()
        self._tasks.append(asyncio.create_task(tick_forever(HEARTBEAT_S, node.tick, self.log)))
        if self.config.bug == "sloppy-quorum":
            self._tasks.append(asyncio.create_task(tick_forever(HANDOFF_S, node.handoff, self.log)))

    def status(self) -> dict[str, Any]:
        """The ``status`` op: ring has no leader; its epoch (membership version) is the term."""
        return self.node.status()

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op not in SUPPORTED:
            return wire.error(req, "unsupported", True)
        try:
            return wire.reply(req, await self.node.handle(str(op), req.get("key"), req.get("value")))
        except Unavailable as e:
            # Reads change nothing; a write may have reached some replicas.
            return wire.error(req, "unavailable", op in ("read", "generate"), detail=str(e))
        except NotMember as e:
            return wire.error(req, "not-member", True, detail=str(e))
        except ChangeRefused as e:
            return wire.error(req, f"refused: {e}", True)
        except ValueError as e:
            return wire.error(req, f"bad-request: {e}", True)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await self.net.stop()
        self.store.close()


if __name__ == "__main__":
    sys.exit(run_node(RingServer))
