"""ring node process: ``python3 -m splitbrain.systems.ring --config JSON``.

``config.options``: ``replicas`` (N, default 3), ``vnodes`` (per node, default
64), ``members`` (the initial ring, default every configured node). Besides the
wire ops, ``{"op": "admin", "value": {"action": "join"|"leave", "node": NAME}}``
changes membership for good.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from splitbrain.systems import wire
from splitbrain.systems.base import NodeConfig
from splitbrain.systems.common.node import parse_config
from splitbrain.systems.paxos.glue import DurableLog, NodeLog, Peers, tick_forever
from splitbrain.systems.ring.node import HEARTBEAT_S, RingNode, Unavailable

SUPPORTED = ("read", "write", "add", "incr", "generate", "admin")
HANDOFF_S = 1.0


async def main(config: NodeConfig) -> None:
    log = NodeLog(config)
    store = DurableLog(Path(config.data_dir) / "replica.jsonl")
    node: RingNode | None = None

    async def on_peer(msg: dict[str, Any]) -> None:
        if node is not None:
            await node.on_message(msg)

    peers = Peers(config, on_peer)

    async def persist(key: str, rec: Any) -> None:
        await store.append([[key, rec]])

    node = RingNode(config.name, list(config.peers), send=peers.send, persist=persist,
                    options=config.options, log=log, bug=config.bug)
    node.restore([(k, r) for k, r in store.read()])
    log("INFO", f"ring {config.name}: members {list(node.ring.members)}, N={node.n}, vnodes={node.vnodes}, "
                f"{len(node.data)} records restored" + (f"; seeded bug {config.bug}" if config.bug else ""))
    await peers.start()

    async def handle(req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op not in SUPPORTED:
            return wire.error(req, "unsupported", True)
        assert node is not None
        try:
            return wire.reply(req, await node.handle(str(op), req.get("key"), req.get("value")))
        except Unavailable as e:
            # Reads change nothing; a write may have reached some replicas.
            return wire.error(req, "unavailable", op in ("read", "generate"), detail=str(e))
        except ValueError as e:
            return wire.error(req, f"bad-request: {e}", True)

    server = await wire.serve_clients(config.client_host, config.client_port, handle, config.name)
    log("INFO", f"ring {config.name} serving clients on {config.client_host}:{config.client_port}")
    tasks = [asyncio.create_task(tick_forever(HEARTBEAT_S, node.tick, log))]
    if config.bug == "sloppy-quorum":
        tasks.append(asyncio.create_task(tick_forever(HANDOFF_S, node.handoff, log)))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_config()))
    except KeyboardInterrupt:
        pass
