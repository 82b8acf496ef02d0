"""pbkv: a small primary-backup key-value server that replicates asynchronously.

Standard library only, and it does not import splitbrain: it is "your system",
shipped to every node as one file.

Protocol (splitbrain's wire protocol, docs/wire-protocol.md): JSON lines on
the client port; ``read``, ``write``, ``cas`` on register keys, ``add`` and
``read`` on set keys. Only the node that believes it is the primary serves
requests; the others answer ``not-primary`` (definitely failed).

Replication: the primary acknowledges an update at once and pushes its whole
state to every backup every 250 ms. A backup that hears nothing from a
primary for about a second promotes itself with a higher epoch; a primary
that hears a higher epoch steps down and adopts that state.

The flaw (on purpose): acknowledging before replicating. When the primary is
cut off or killed, the updates it acknowledged in its last 250 ms, and every
update a cut-off old primary keeps acknowledging, are gone once the new
primary's state wins. splitbrain's set checker reports them as lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

SYNC_INTERVAL_S = 0.25
FAILOVER_S = 1.0


class Node:
    def __init__(self, name: str, names: list[str], peers: dict[str, tuple[str, int]], data_dir: str,
                 failover_s: float = FAILOVER_S) -> None:
        self.name, self.names, self.peers, self.data_dir = name, names, peers, data_dir
        self.failover_s = failover_s
        self.epoch, self.primary = 0, min(names)
        self.state: dict[str, Any] = {}
        self.last_heard = time.monotonic()
        self.writers: dict[str, asyncio.StreamWriter] = {}
        self._load()

    # ---------------------------------------------------------------- durability (best effort)
    def _path(self) -> str:
        return os.path.join(self.data_dir, "state.json")

    def _load(self) -> None:
        try:
            with open(self._path()) as fh:
                saved = json.load(fh)
            self.epoch, self.primary, self.state = saved["epoch"], saved["primary"], saved["state"]
        except (OSError, ValueError, KeyError):
            pass

    def save(self) -> None:
        tmp = self._path() + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"epoch": self.epoch, "primary": self.primary, "state": self.state}, fh)
        os.replace(tmp, self._path())

    # ---------------------------------------------------------------- clients
    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op, key, value = req.get("op"), str(req.get("key")), req.get("value")
        if op not in ("read", "write", "cas", "add"):
            return {"ok": False, "error": "unsupported", "definite": True}
        if self.primary != self.name:
            return {"ok": False, "error": f"not-primary (primary is {self.primary})", "definite": True}
        if op == "read":
            return {"ok": True, "value": self.state.get(key)}
        if op == "write":
            self.state[key] = value
        elif op == "cas":
            if self.state.get(key) != value[0]:
                return {"ok": False, "error": "cas-mismatch", "definite": True}
            self.state[key] = value[1]
        else:
            elements = self.state.setdefault(key, [])
            if value not in elements:
                elements.append(value)
                elements.sort()
        return {"ok": True, "value": value}  # acknowledged now, replicated later: the flaw

    async def on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    req = json.loads(line)
                    resp = self.handle(req)
                except (ValueError, TypeError, IndexError, AttributeError) as e:
                    req, resp = {}, {"ok": False, "error": f"bad request: {e}", "definite": True}
                resp.update(id=req.get("id"), node=self.name)
                writer.write((json.dumps(resp) + "\n").encode())
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    # ---------------------------------------------------------------- replication
    async def on_peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Messages from other nodes arrive on connections they opened (one-way links)."""
        try:
            while line := await reader.readline():
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                self.on_sync(msg)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def on_sync(self, msg: dict[str, Any]) -> None:
        epoch, sender = int(msg.get("epoch", -1)), str(msg.get("primary"))
        newer = epoch > self.epoch or (epoch == self.epoch and sender < self.primary)
        if newer or (epoch == self.epoch and sender == self.primary):
            self.epoch, self.primary, self.state = epoch, sender, msg.get("state") or {}
            self.last_heard = time.monotonic()

    async def send(self, peer: str, msg: dict[str, Any]) -> None:
        w = self.writers.get(peer)
        try:
            if w is None or w.is_closing():
                host, port = self.peers[peer]
                _, w = await asyncio.wait_for(asyncio.open_connection(host, port), 0.5)
                self.writers[peer] = w
            w.write((json.dumps(msg) + "\n").encode())
            await asyncio.wait_for(w.drain(), 0.5)
        except (OSError, TimeoutError):
            self.writers.pop(peer, None)
            if w is not None:
                w.close()

    async def tick(self) -> None:
        rank = sorted(self.names).index(self.name)
        while True:
            await asyncio.sleep(SYNC_INTERVAL_S)
            if self.primary == self.name:
                msg = {"epoch": self.epoch, "primary": self.name, "state": self.state}
                await asyncio.gather(*(self.send(p, msg) for p in self.peers))
            elif time.monotonic() - self.last_heard > self.failover_s * (1 + 0.5 * rank):
                self.epoch, self.primary = self.epoch + 1, self.name  # promote, keeping what we have
            self.save()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--nodes", required=True, help="all node names, comma-separated")
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--peer-listen", default="127.0.0.1")
    ap.add_argument("--peer-port", type=int, required=True)
    ap.add_argument("--peers", default="", help="name=host:port,... for every other node")
    ap.add_argument("--data", required=True)
    ap.add_argument("--failover", type=float, default=FAILOVER_S, help="seconds without a primary before promoting")
    a = ap.parse_args()
    peers: dict[str, tuple[str, int]] = {}
    for item in filter(None, a.peers.split(",")):
        name, _, addr = item.partition("=")
        host, _, port = addr.rpartition(":")
        peers[name] = (host, int(port))
    os.makedirs(a.data, exist_ok=True)
    node = Node(a.name, a.nodes.split(","), peers, a.data, a.failover)
    await asyncio.start_server(node.on_peer, a.peer_listen, a.peer_port)
    await asyncio.start_server(node.on_client, a.listen, a.port)
    print(f"pbkv {a.name} serving on {a.listen}:{a.port}, primary {node.primary} (epoch {node.epoch})", flush=True)
    await node.tick()


if __name__ == "__main__":
    asyncio.run(main())
