"""A tiny stdlib node for backend tests: gossips sequence numbers to its peers.

Every 50 ms it sends ``{"from": name, "seq": n}`` as one JSON line to each peer
(through the address the backend gave it, i.e. a link proxy) on a connection it
opened, and records the last sequence number heard from each sender on its
peer port. Its client port answers one JSON line per request line:
``{"op": "heard"}`` -> {sender: [last seq, monotonic age_s]}, ``{"op": "clock"}``
-> {"time", "monotonic"}. ``--exit-at-start`` makes it die at once (log first).
"""

import asyncio
import json
import sys
import time

from splitbrain.systems.base import NodeConfig


async def main(cfg: NodeConfig) -> None:
    heard: dict[str, list[float]] = {}
    print(f"{time.time():.6f} INFO {cfg.name} starting pid", flush=True)

    async def on_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            msg = json.loads(line)
            heard[msg["from"]] = [msg["seq"], time.monotonic()]

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            req = json.loads(line)
            if req["op"] == "heard":
                now = time.monotonic()
                out = {k: [v[0], now - v[1]] for k, v in heard.items()}
            else:
                out = {"time": time.time(), "monotonic": time.monotonic()}
            writer.write(json.dumps(out).encode() + b"\n")
            await writer.drain()

    async def gossip(peer: str, addr: tuple[str, int]) -> None:
        seq = 0
        while True:
            try:
                _, w = await asyncio.open_connection(*addr)
                while True:
                    seq += 1
                    w.write(json.dumps({"from": cfg.name, "seq": seq}).encode() + b"\n")
                    await w.drain()
                    await asyncio.sleep(0.05)
            except OSError:
                await asyncio.sleep(0.1)

    await asyncio.start_server(on_peer, cfg.peer_host, cfg.peer_port)
    await asyncio.start_server(on_client, cfg.client_host, cfg.client_port)
    print(f"{time.time():.6f} INFO {cfg.name} up", flush=True)
    await asyncio.gather(*(gossip(p, a) for p, a in cfg.peers.items()))


if __name__ == "__main__":
    cfg = NodeConfig.from_json(sys.argv[sys.argv.index("--config") + 1])
    if cfg.options.get("exit_at_start"):
        print(f"{time.time():.6f} ERROR {cfg.name} refusing to start: planted failure", flush=True)
        sys.exit(3)
    asyncio.run(main(cfg))
