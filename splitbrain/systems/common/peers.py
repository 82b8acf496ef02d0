"""One-way peer messaging: the shape that lets the harness cut a single directed link.

Each node dials every peer at ``config.peers[name]`` (on the local backend, a link
proxy the harness owns) and keeps that one outbound connection, reconnecting with
backoff. It only *reads* from connections others opened on its peer port. An answer
therefore travels back on the answerer's own outbound connection, so cutting the
link a->b stops exactly the messages from a to b.

Sending never blocks the node: each peer has a bounded queue, and when it is full the
oldest message is dropped (consensus protocols retransmit; a stalled peer must not
stall the whole node).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Callable
from typing import Any

MAX_LINE = 4 << 20
BACKOFF_MIN_S = 0.02
BACKOFF_MAX_S = 0.5


class PeerNet:
    def __init__(
        self,
        name: str,
        listen: tuple[str, int],
        peers: dict[str, tuple[str, int]],
        on_message: Callable[[dict[str, Any]], None],
        log: logging.Logger,
        queue_max: int = 2000,
    ) -> None:
        self.name = name
        self.listen = listen
        self.peers = dict(peers)
        self.on_message = on_message
        self.log = log
        self.queue_max = queue_max
        self._queues: dict[str, collections.deque[bytes]] = {p: collections.deque() for p in peers}
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._server: asyncio.AbstractServer | None = None
        self._inbound: set[asyncio.StreamWriter] = set()
        self.dropped = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_inbound, self.listen[0], self.listen[1], limit=MAX_LINE, reuse_address=True
        )
        for p in self.peers:
            self._wake[p] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._sender(p), name=f"send-{p}"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
        if self._server is not None:
            self._server.close()
        for w in list(self._inbound):
            w.close()

    def send(self, peer: str, msg: dict[str, Any]) -> None:
        """Queue ``msg`` for ``peer`` (``from`` is filled in); never blocks."""
        q = self._queues.get(peer)
        if q is None:
            return
        msg["from"] = self.name
        if len(q) >= self.queue_max:
            q.popleft()
            self.dropped += 1
            if self.dropped % 100 == 1:
                self.log.warning("peer queue to %s full: dropped oldest (%d dropped so far)", peer, self.dropped)
        q.append((json.dumps(msg, separators=(",", ":")) + "\n").encode())
        ev = self._wake.get(peer)
        if ev is not None:
            ev.set()

    def broadcast(self, msg: dict[str, Any]) -> None:
        for p in self.peers:
            self.send(p, dict(msg))

    async def _sender(self, peer: str) -> None:
        host, port = self.peers[peer]
        q, wake = self._queues[peer], self._wake[peer]
        backoff = BACKOFF_MIN_S
        connected_before = False
        while True:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
            except (TimeoutError, OSError):
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = BACKOFF_MIN_S
            if not connected_before:
                self.log.info("connected to peer %s at %s:%d", peer, host, port)
                connected_before = True
            try:
                while True:
                    await wake.wait()
                    wake.clear()
                    while q:
                        batch: list[bytes] = []
                        while q and len(batch) < 256:
                            batch.append(q.popleft())
                        writer.write(b"".join(batch))
                        await writer.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                writer.close()
            await asyncio.sleep(BACKOFF_MIN_S)

    async def _on_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._inbound.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if isinstance(msg, dict):
                    try:
                        self.on_message(msg)
                    except Exception:  # noqa: BLE001 - one bad message must not kill the link
                        self.log.exception("handling peer message %s", msg.get("type"))
        except (OSError, ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            self._inbound.discard(writer)
            writer.close()
