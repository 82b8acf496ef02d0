"""Process plumbing shared by the paxos and ring node processes (stdlib only).

One-way peer messaging (a node *sends* only on connections it opened to
``config.peers[dst]``, which may be a harness proxy for the directed link, and
only *reads* from connections others opened), an fsync'd append-only record
log with group commit, and the node log format (``epoch LEVEL message``).

Why not :mod:`splitbrain.systems.common`'s PeerNet/AppendLog: these protocols
handle each peer message in its own task and *await* durability inside the
handler (an acceptor's promise leaves only after its fsync), with concurrent
handlers sharing one fsync (group commit). common's state machine is used.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO

from splitbrain.systems.base import NodeConfig

QUEUE_MAX = 10_000
RECONNECT_S = 0.1


class NodeLog:
    def __init__(self, config: NodeConfig) -> None:
        self.fh: TextIO = open(config.log_file, "a") if config.log_file else sys.stderr  # noqa: SIM115

    def __call__(self, level: str, msg: str) -> None:
        self.fh.write(f"{time.time():.6f} {level} {msg}\n")
        self.fh.flush()


class Peers:
    """Fire-and-forget messages to peers, one outbound connection each, dropped when the link is down."""

    def __init__(self, config: NodeConfig, on_message: Callable[[dict[str, Any]], Coroutine[Any, Any, None]]) -> None:
        self.config = config
        self.on_message = on_message
        self.queues: dict[str, asyncio.Queue[bytes]] = {p: asyncio.Queue(QUEUE_MAX) for p in config.peers}
        self._tasks: list[asyncio.Task[None]] = []
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._inbound, self.config.peer_host, self.config.peer_port, limit=1 << 24, reuse_address=True
        )
        for p in self.config.peers:
            self._tasks.append(asyncio.create_task(self._outbound(p)))

    def send(self, dst: str, msg: dict[str, Any]) -> None:
        q = self.queues.get(dst)
        if q is None:
            return
        try:
            q.put_nowait((json.dumps(msg, separators=(",", ":")) + "\n").encode())
        except asyncio.QueueFull:
            pass  # a lossy link: the protocols retransmit

    async def _outbound(self, peer: str) -> None:
        host, port = self.config.peers[peer]
        q = self.queues[peer]
        while True:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
            except (OSError, TimeoutError):
                while not q.empty():  # nobody to send to: these messages are lost
                    q.get_nowait()
                await asyncio.sleep(RECONNECT_S)
                continue
            try:
                while True:
                    line = await q.get()
                    if writer.is_closing():
                        break  # the peer went away: this message is lost, reconnect
                    writer.write(line)
                    if writer.transport.get_write_buffer_size() > 1 << 20:
                        await asyncio.wait_for(writer.drain(), 2.0)
            except (OSError, TimeoutError, ConnectionError):
                pass
            finally:
                writer.close()
            await asyncio.sleep(RECONNECT_S)

    async def _inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
                    t = asyncio.create_task(self.on_message(msg))
                    self._handlers.add(t)
                    t.add_done_callback(self._handlers.discard)
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


class DurableLog:
    """Append-only JSON-lines records; ``append`` returns once they are fsync'd.

    Appends arriving while an fsync runs share the next one (group commit), so
    a busy acceptor pays one fsync per batch, not per message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "ab")  # noqa: SIM115
        self._batch: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flushing = False

    def read(self) -> list[Any]:
        out = []
        with open(self.path, "rb") as fh:
            for line in fh:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    break  # a torn last line from a crash mid-write
        return out

    def append_nowait(self, records: list[Any]) -> None:
        """Best effort, no fsync (for state that can be re-learned)."""
        self.fh.write(b"".join((json.dumps(r, separators=(",", ":")) + "\n").encode() for r in records))
        self.fh.flush()

    async def append(self, records: list[Any]) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.extend((json.dumps(r, separators=(",", ":")) + "\n").encode() for r in records)
        self._waiters.append(fut)
        if not self._flushing:
            self._flushing = True
            asyncio.create_task(self._flush())
        await fut

    async def _flush(self) -> None:
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                waiters, self._waiters = self._waiters, []
                data = b"".join(batch)
                await asyncio.to_thread(self._write_sync, data)
                for w in waiters:
                    if not w.done():
                        w.set_result(None)
        finally:
            self._flushing = False

    def _write_sync(self, data: bytes) -> None:
        self.fh.write(data)
        self.fh.flush()
        os.fsync(self.fh.fileno())


async def tick_forever(interval_s: float, fn: Callable[[], None], log: NodeLog) -> None:
    while True:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - a bad tick must not kill the node
            log("ERROR", f"tick failed: {type(e).__name__}: {e}")
        await asyncio.sleep(interval_s)
