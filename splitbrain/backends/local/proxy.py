"""Link proxies: the harness-owned network between local nodes.

Every directed link src -> dst is one TCP proxy: node src dials it (it is
src's address for dst in ``NodeConfig.peers``) and the proxy forwards to dst's
peer port. Because every byte between two nodes passes through a proxy the
harness controls, network faults need no root and no iptables:

* **cut** (a partition): messages are read and discarded, never forwarded;
  new connections are accepted and blackholed the same way, so a peer that
  reconnects does not slip through. The sender sees what dropped packets look
  like: a connection that is up and a peer that never answers.
* **delay/jitter**: each forwarded chunk waits ``delay +- jitter`` and chunks
  leave in the order they arrived (TCP never reorders a stream).
* **loss**: our systems speak JSON lines, so the proxy drops whole lines with
  probability p (a lost message). For other protocols (``line_protocol=False``)
  a lost segment breaks the connection instead, with probability p per chunk.

With a :class:`~splitbrain.messages.LinkTap` set (``tap``), each line a
link forwards or drops is recorded: send = when the proxy read it, delivery =
when it handed it to dst's socket (after its delay), or dropped by ``partition``
or ``loss``. Raw (non-line) streams are not recorded: they have no messages.

Bytes flowing back on a connection (dst answering on src's connection) belong
to the reverse link dst -> src and obey its rules and counters. Byte streams
that were cut mid-message are closed when the cut is lifted, so the peers
reconnect on a clean stream.

The proxies run on their own thread and event loop (:class:`ProxyThread`) so a
busy harness loop never delays peer traffic. Counters are per link and only
grow; the backend's ``verify`` reads them to prove a cut link forwards nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from splitbrain.backends.base import PacketRule
from splitbrain.errors import HarnessError
from splitbrain.messages import LinkTap

T = TypeVar("T")

#: a "line" longer than this is not a line protocol after all: forward it raw
MAX_LINE_BYTES = 4 * 1024 * 1024
CONNECT_TIMEOUT_S = 2.0
MAX_QUEUED_CHUNKS = 4096


@dataclass
class LinkStats:
    forwarded_bytes: int = 0
    dropped_bytes: int = 0
    forwarded_msgs: int = 0
    dropped_msgs: int = 0
    connections: int = 0
    broken: int = 0  # connections closed by the loss model


@dataclass(eq=False)
class ProxiedConn:
    """One TCP connection a proxy carries: the caller's side, the upstream side, the two pumps."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    tainted: bool = False  # bytes of a non-line stream were discarded: reset on heal
    #: the calling node, where the proxy identifies it (a per-destination source proxy)
    src: str | None = None

    def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        for w in (self.client, self.upstream):
            if w is not None:
                w.close()


class LinkProxy:
    """The directed link ``src -> dst``."""

    def __init__(self, src: str, dst: str, target: tuple[str, int], rng: random.Random,
                 line_protocol: bool = True) -> None:
        self.src, self.dst, self.target = src, dst, target
        self.line_protocol = line_protocol
        self.rng = rng
        self.cut = False
        self.rule = PacketRule()
        self.stats = LinkStats()
        self.forwarded_at_cut = 0
        #: the link dst -> src, whose rules govern bytes flowing back on our connections
        self.reverse: LinkProxy | None = None
        #: where this link's messages are recorded (None: not recorded)
        self.tap: LinkTap | None = None
        self.port = 0
        self._conns: set[ProxiedConn] = set()
        self._server: asyncio.AbstractServer | None = None

    @property
    def name(self) -> str:
        return f"{self.src}->{self.dst}"

    async def start(self, host: str = "127.0.0.1") -> int:
        self._server = await asyncio.start_server(self._on_conn, host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    # ------------------------------------------------------------------ rules

    def set_cut(self, cut: bool) -> None:
        if cut and not self.cut:
            self.forwarded_at_cut = self.stats.forwarded_bytes
        self.cut = cut
        if not cut:
            self._reset_tainted()
            if self.reverse is not None:
                self.reverse._reset_tainted()

    def set_rule(self, rule: PacketRule) -> None:
        self.rule = rule

    def _reset_tainted(self) -> None:
        """Close raw streams that lost bytes, once both their directions flow again."""
        if self.cut or (self.reverse is not None and self.reverse.cut):
            return
        for conn in list(self._conns):
            if conn.tainted:
                self._close(conn)

    def upstream_ports(self) -> set[int]:
        """Local ports of the proxy's own connections to dst (to tell them from a bypass)."""
        out = set()
        for conn in self._conns:
            if conn.upstream is not None:
                sock = conn.upstream.get_extra_info("sockname")
                if sock:
                    out.add(sock[1])
        return out

    def live_connections(self) -> int:
        return len(self._conns)

    # ------------------------------------------------------------------ data path

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = ProxiedConn(writer)
        self._conns.add(conn)
        self.stats.connections += 1
        try:
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target),
                                                              CONNECT_TIMEOUT_S)
            except (TimeoutError, OSError):
                if self.cut:
                    # dst is down and the link is cut: stay silent rather than refuse, and close
                    # when the cut lifts (a node killed during a partition): the sender redials.
                    conn.tainted = True
                    await self._drain_silently(reader, self)
                return  # dst is down: the close reads as a refused connection
            conn.upstream = up_writer
            conn.tasks = [
                asyncio.create_task(self._pump(reader, up_writer, self, conn)),
                asyncio.create_task(self._pump(up_reader, writer, self.reverse, conn)),
            ]
            await asyncio.wait(conn.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._close(conn)

    async def _drain_silently(self, reader: asyncio.StreamReader, link: LinkProxy) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                link.stats.dropped_bytes += len(data)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    link: LinkProxy | None, conn: ProxiedConn) -> None:
        """Move one direction of one connection under ``link``'s rules (None: no rules)."""
        sender = _Sender(writer)
        buf = b""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if link is None:
                    await sender.send(data, 0.0)
                    continue
                if link.line_protocol:
                    buf += data
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        await self._message(link, sender, line + b"\n")
                    if len(buf) > MAX_LINE_BYTES:
                        await self._message(link, sender, buf)
                        buf = b""
                    continue
                if link.cut:
                    link.stats.dropped_bytes += len(data)
                    conn.tainted = True
                    continue
                if link.rule.loss > 0 and link.rng.random() < link.rule.loss:
                    link.stats.dropped_bytes += len(data)
                    link.stats.broken += 1
                    return  # a lost segment on a raw byte stream: the connection breaks
                link.stats.forwarded_bytes += len(data)
                link.stats.forwarded_msgs += 1
                await sender.send(data, link.delay_s())
            await sender.flush()
        except (ConnectionError, OSError):
            return
        finally:
            sender.close()

    async def _message(self, link: LinkProxy, sender: _Sender, msg: bytes) -> None:
        tap = link.tap
        if link.cut or (link.rule.loss > 0 and link.rng.random() < link.rule.loss):
            link.stats.dropped_bytes += len(msg)
            link.stats.dropped_msgs += 1
            if tap is not None:
                tap.record(link.src, link.dst, time.monotonic_ns(), None, msg, "partition" if link.cut else "loss")
            return
        link.stats.forwarded_bytes += len(msg)
        link.stats.forwarded_msgs += 1
        if tap is None:
            await sender.send(msg, link.delay_s())
            return
        t_ns = time.monotonic_ns()
        due = await sender.send(msg, link.delay_s())
        tap.record(link.src, link.dst, t_ns, t_ns if due is None else int(due * 1e9), msg,
                   None if due is None else "delay")

    def delay_s(self) -> float:
        r = self.rule
        if r.delay_ms <= 0 and r.jitter_ms <= 0:
            return 0.0
        return max(0.0, r.delay_ms + self.rng.uniform(-r.jitter_ms, r.jitter_ms)) / 1000.0

    def _close(self, conn: ProxiedConn) -> None:
        conn.close()
        self._conns.discard(conn)

    def reset(self) -> None:
        """Close every live connection (the peers reconnect under the current rules)."""
        for conn in list(self._conns):
            self._close(conn)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.reset()


class _Sender:
    """Writes chunks after their delay, in arrival order, without blocking the reader."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        # Bounded: a stalled receiver pushes back on the sender, as TCP would.
        self.queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(maxsize=MAX_QUEUED_CHUNKS)
        self.task: asyncio.Task[None] | None = None
        self.last_due = 0.0

    async def send(self, data: bytes, delay_s: float) -> float | None:
        """Write ``data`` now (returns None) or queue it; returns when it is due (``time.monotonic()``)."""
        if delay_s <= 0 and self.task is None:
            self.writer.write(data)
            await self.writer.drain()
            return None
        due = max(time.monotonic() + delay_s, self.last_due)
        self.last_due = due
        if self.task is None:
            self.task = asyncio.create_task(self._run())
        await self.queue.put((due, data))
        return due

    async def _run(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while (item := await self.queue.get()) is not None:
                due, data = item
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.writer.write(data)
                await self.writer.drain()

    async def flush(self) -> None:
        if self.task is not None:
            await self.queue.put(None)
            with contextlib.suppress(Exception):
                await self.task
            self.task = None

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()


class ProxyThread:
    """A dedicated thread running an event loop for the proxies."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="splitbrain-proxies", daemon=True)
        self._started = False

    def start(self) -> None:
        self._thread.start()
        self._started = True

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self.loop)
            for t in pending:
                t.cancel()
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    def alive(self) -> bool:
        return self._thread.is_alive()

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the proxy loop and await its result from another loop."""
        if not self.alive():
            coro.close()
            raise HarnessError("the link proxies are not running (torn down?)")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def call_sync(self, coro: Coroutine[Any, Any, T], timeout_s: float = 5.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._started and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout_s)
        elif not self._started:
            self.loop.close()


def established_to(port: int) -> list[int]:
    """Remote ports of ESTABLISHED IPv4 connections accepted on local ``port`` (from /proc/net/tcp)."""
    return established({port}).get(port, [])


def established(ports: set[int]) -> dict[int, list[int]]:
    """:func:`established_to` for several local ports in one read of /proc/net/tcp.

    The file lists every socket of the machine: on a busy host it takes a
    quarter of a second to read under load, so it is read once per question,
    and (by the callers) off the event loops that carry the nodes' traffic.
    """
    want = {f":{p:04X}": p for p in ports}
    out: dict[int, list[int]] = {p: [] for p in ports}
    try:
        with open("/proc/net/tcp", encoding="ascii") as fh:
            next(fh, None)
            for line in fh:
                parts = line.split()
                if len(parts) > 3 and parts[3] == "01":
                    local = want.get(parts[1][parts[1].rfind(":"):])
                    if local is not None:
                        out[local].append(int(parts[2].rsplit(":", 1)[1], 16))
    except OSError:
        return {p: [] for p in ports}
    return out
