"""paxos node process: ``python3 -m splitbrain.systems.paxos --config JSON``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from splitbrain.systems import wire
from splitbrain.systems.base import NodeConfig
from splitbrain.systems.common.machine import StateMachine
from splitbrain.systems.common.node import parse_config
from splitbrain.systems.paxos.glue import DurableLog, NodeLog, Peers, tick_forever
from splitbrain.systems.paxos.node import HEARTBEAT_S, PaxosNode

TICK_S = HEARTBEAT_S


async def main(config: NodeConfig) -> None:
    log = NodeLog(config)
    data = Path(config.data_dir)
    acceptor_log = DurableLog(data / "acceptor.jsonl")
    chosen_log = DurableLog(data / "chosen.jsonl")
    machine = StateMachine()

    def apply(cmd: dict[str, Any], slot: int) -> dict[str, Any]:
        ok, out = machine.apply(cmd, slot)  # generated ids are log slots: unique, agreed
        return {"ok": True, "value": out} if ok else {"ok": False, "error": out, "definite": True}
    node: PaxosNode | None = None

    async def on_peer(msg: dict[str, Any]) -> None:
        if node is not None:
            await node.on_message(msg)

    peers = Peers(config, on_peer)
    node = PaxosNode(
        config.name,
        list(config.peers),
        send=peers.send,
        persist=acceptor_log.append,
        apply=apply,
        remember=lambda slot, value: chosen_log.append_nowait([[slot, value]]),
        log=log,
        bug=config.bug,
    )
    acceptor_records = acceptor_log.read()
    chosen = [(int(s), v) for s, v in chosen_log.read()]
    node.restore(acceptor_records, chosen)
    log("INFO", f"paxos {config.name} restored promise {list(node.acceptor.promised)}, "
                f"{len(node.acceptor.accepted)} accepted slots, applied through slot {node.learner.applied}"
                + (f"; seeded bug {config.bug}" if config.bug else ""))
    await peers.start()

    async def handle(req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op not in wire.OPS:
            return wire.error(req, "unsupported", True)
        assert node is not None
        try:
            result = await node.submit({"op": op, "key": req.get("key"), "value": req.get("value")})
        except TimeoutError:
            return wire.error(req, "timeout", False)
        if result.get("ok"):
            return wire.reply(req, result.get("value"))
        return wire.error(req, result.get("error", "failed"), bool(result.get("definite")))

    server = await wire.serve_clients(config.client_host, config.client_port, handle, config.name)
    log("INFO", f"paxos {config.name} serving clients on {config.client_host}:{config.client_port}")
    ticker = asyncio.create_task(tick_forever(TICK_S, node.tick, log))
    async with server:
        await server.serve_forever()
    ticker.cancel()


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_config()))
    except KeyboardInterrupt:
        pass
