"""One-way peer messaging: the shape that lets the harness cut a single directed link.

Each node dials every peer at ``config.peers[name]`` (on the local backend, a link
proxy the harness owns) and keeps that one outbound connection, reconnecting with
backoff. It only *reads* from connections others opened on its peer port. An answer
therefore travels back on the answerer's own outbound connection, so cutting the
link a->b stops exactly the messages from a to b.

Sending never blocks the node: each peer has a bounded queue, and when it is full a
message is dropped (consensus protocols retransmit; a stalled peer must not stall the
whole node). Raft keeps its queue across reconnects and drops the oldest message;
paxos and ring were written against a lossier link and keep its exact semantics
(``drop_while_down``, ``overflow="drop-newest"``, a fixed reconnect delay): their
seeded bugs are measured under it, so the link they see must not change.

``on_message`` may be a plain function (run inline, in arrival order) or return an
awaitable. An awaitable is run as its own task, so a handler that waits for an fsync
before answering (a paxos acceptor) does not hold up the messages behind it, and
concurrent handlers can share one fsync (:class:`~.storage.GroupCommitLog`).
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from splitbrain.systems.wire import json_objects

MAX_LINE = 4 << 20
BACKOFF_MIN_S = 0.02
BACKOFF_MAX_S = 0.5
LOSSY_QUEUE_MAX = 10_000
LOSSY_RECONNECT_S = 0.1
LOSSY_MAX_LINE = 16 << 20


def send_or_loop_back(
    name: str,
    dst: str,
    msg: dict[str, Any],
    send: Callable[[str, dict[str, Any]], None],
    on_message: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Send a copy of ``msg`` stamped ``from`` ``name``; one addressed to ourselves is
    handled on a later loop turn, as if it had come over the network.

    Handling it inline instead would re-enter the protocol in the middle of whatever
    step sent it (a leader's accept to itself, mid-proposal)."""
    msg = {**msg, "from": name}
    if dst == name:
        asyncio.get_running_loop().call_soon(_spawn_held, on_message(msg))
    else:
        send(dst, msg)


#: tasks handling messages to ourselves: the loop keeps only weak references to tasks
_LOOPED_BACK: set[asyncio.Future[None]] = set()


def _spawn_held(coro: Awaitable[None]) -> None:
    task = asyncio.ensure_future(coro)
    _LOOPED_BACK.add(task)
    task.add_done_callback(_LOOPED_BACK.discard)


class PeerNet:
    def __init__(
        self,
        name: str,
        listen: tuple[str, int],
        peers: dict[str, tuple[str, int]],
        on_message: Callable[[dict[str, Any]], Awaitable[None] | None],
        log: logging.Logger,
        queue_max: int = 2000,
        *,
        overflow: Literal["drop-oldest", "drop-newest"] = "drop-oldest",
        drop_while_down: bool = False,
        backoff_s: tuple[float, float] = (BACKOFF_MIN_S, BACKOFF_MAX_S),
        max_line: int = MAX_LINE,
    ) -> None:
        """``drop_while_down``: a failed connect empties the peer's queue (nobody to send
        to: those messages are lost, as on a real lossy link). ``backoff_s``: the first
        and the largest reconnect delay; equal values give a fixed delay."""
        self.name = name
        self.listen = listen
        self.peers = dict(peers)
        self.on_message = on_message
        self.log = log
        self.queue_max = queue_max
        self.overflow, self.drop_while_down, self.backoff_s = overflow, drop_while_down, backoff_s
        self.max_line = max_line
        self._handlers: set[asyncio.Future[None]] = set()
        self._queues: dict[str, collections.deque[bytes]] = {p: collections.deque() for p in peers}
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._server: asyncio.AbstractServer | None = None
        self._inbound: set[asyncio.StreamWriter] = set()
        self.dropped = 0

    @classmethod
    def lossy(
        cls,
        name: str,
        listen: tuple[str, int],
        peers: dict[str, tuple[str, int]],
        on_message: Callable[[dict[str, Any]], Awaitable[None] | None],
        log: logging.Logger,
    ) -> PeerNet:
        """The link paxos and ring were written and measured against: what is queued
        for an unreachable peer is lost, a full queue (10,000) loses the new message,
        and a broken connection is retried every 0.1 s."""
        return cls(name, listen, peers, on_message, log, LOSSY_QUEUE_MAX, overflow="drop-newest",
                   drop_while_down=True, backoff_s=(LOSSY_RECONNECT_S, LOSSY_RECONNECT_S),
                   max_line=LOSSY_MAX_LINE)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_inbound, self.listen[0], self.listen[1], limit=self.max_line, reuse_address=True
        )
        for p in self.peers:
            self._wake[p] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._sender(p), name=f"send-{p}"))

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._handlers]
        for t in tasks:
            t.cancel()
        for t in tasks:
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
            self.dropped += 1
            if self.dropped % 100 == 1:
                self.log.warning("peer queue to %s full: dropped %s (%d dropped so far)",
                                 peer, self.overflow[5:], self.dropped)
            if self.overflow == "drop-newest":
                return
            q.popleft()
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
        backoff_min, backoff_max = self.backoff_s
        backoff = backoff_min
        connected_before = False
        while True:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
            except (TimeoutError, OSError):
                if self.drop_while_down:
                    q.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, backoff_max)
                continue
            backoff = backoff_min
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
            await asyncio.sleep(backoff_min)

    def _handler_done(self, task: asyncio.Future[None]) -> None:
        self._handlers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("handling a peer message failed", exc_info=task.exception())

    async def _on_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._inbound.add(writer)
        try:
            async for msg in json_objects(reader):
                if msg is not None:  # a line torn by a fault on the link is a lost message
                    try:
                        result = self.on_message(msg)
                    except Exception:  # noqa: BLE001 - one bad message must not kill the link
                        self.log.exception("handling peer message %s", msg.get("type"))
                        continue
                    if inspect.isawaitable(result):
                        task = asyncio.ensure_future(result)
                        self._handlers.add(task)  # the loop holds tasks weakly
                        task.add_done_callback(self._handler_done)
        except (OSError, ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            self._inbound.discard(writer)
            writer.close()
