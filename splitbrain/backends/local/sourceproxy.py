"""Per-destination TCP proxies that know which local node is calling.

Some systems (etcd) need every member to see the same peer URL for a given
member, so the local backend cannot hand each node its own per-link proxy
address. Instead there is one proxy per destination node, and on every
accepted connection the proxy finds which node process owns the connecting
socket (``/proc/net/tcp`` gives the socket's inode; the node's
``/proc/<pid>/fd`` links name it; a dual-stack socket, as a JVM opens, is in
``/proc/net/tcp6``; the owner may be any process in the node's process group,
as when a node is a wrapper running several daemons). Knowing (source,
destination), it can cut exactly the links a partition names. Each direction
of a stream is its own directed link: while a -> b is cut, bytes from a to b
are dropped on every connection between them, whichever side opened it, so a
one-way cut stays one-way.

A cut connection is blackholed, not reset: bytes are read and discarded and
nothing is forwarded, as when packets are dropped. Healing closes blackholed
connections so the peers reconnect at once. Without a line protocol, loss is
modelled as closing the connection with the given probability per chunk.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable

from splitbrain.backends.local.proxy import ProxiedConn


def _hex_addr(port: int) -> str:
    return f"0100007F:{port:04X}"


def _hex_addr6(port: int) -> str:
    """127.0.0.1:port as an IPv4-mapped IPv6 address, the way /proc/net/tcp6 prints it."""
    return f"0000000000000000FFFF00000100007F:{port:04X}"


def socket_inode(local_port: int, remote_port: int) -> int | None:
    """Inode of the 127.0.0.1:local_port -> 127.0.0.1:remote_port socket, from /proc/net/tcp, or
    from /proc/net/tcp6 for a dual-stack socket (a JVM's, by default)."""
    for table, fmt in (("/proc/net/tcp", _hex_addr), ("/proc/net/tcp6", _hex_addr6)):
        want_local, want_remote = fmt(local_port), fmt(remote_port)
        try:
            with open(table, encoding="ascii") as fh:
                next(fh, None)
                for line in fh:
                    if want_remote not in line:  # cheap test first: the table can be thousands long
                        continue
                    parts = line.split()
                    if len(parts) > 9 and parts[1] == want_local and parts[2] == want_remote:
                        return int(parts[9])
        except OSError:
            continue
    return None


def _holds(pid: int, target: str) -> bool:
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"{fd_dir}/{fd}") == target:
                return True
        except OSError:
            continue
    return False


def group_members(pgids: set[int]) -> dict[int, list[int]]:
    """The processes of each of the given process groups (a node's daemons share its group)."""
    out: dict[int, list[int]] = {g: [] for g in pgids}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                pgrp = int(fh.read().rsplit(")", 1)[1].split()[2])
        except (OSError, IndexError, ValueError):
            continue
        if pgrp in out:
            out[pgrp].append(int(entry))
    return out


#: node process -> the processes of its group, as last scanned (daemons live as long as their node)
_members: dict[int, list[int]] = {}
#: what _owner returns for a connection the harness itself opened (its clients): no node, no retry
HARNESS = ""


def owner_of_inode(inode: int, pids: dict[str, int]) -> str | None:
    """Which node holds the socket inode open: its own process, else one in its process group
    (a node may be a wrapper whose daemons open the sockets, as a Redis node's do). The group
    scan walks /proc, so its result is kept and redone only when it does not find the owner."""
    target = f"socket:[{inode}]"
    for name, pid in pids.items():
        if _holds(pid, target):
            return name
    for rescan in (False, True):
        if rescan or not set(pids.values()) <= _members.keys():
            _members.update(group_members(set(pids.values())))
        for name, pid in pids.items():
            if any(_holds(p, target) for p in _members.get(pid, []) if p != pid):
                return name
    return None


class SourceProxy:
    """One listening proxy in front of ``dst``'s peer port."""

    def __init__(self, dst: str, target: tuple[str, int], pids: Callable[[], dict[str, int]],
                 blocked: Callable[[str | None, str | None], bool], loss: Callable[[str | None, str | None], float],
                 rng: random.Random) -> None:
        self.dst = dst
        self.target = target
        self._pids = pids
        self._blocked = blocked
        self._loss = loss
        self._rng = rng
        self.port = 0
        self.forwarded: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self._conns: set[ProxiedConn] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._on_conn, host, port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def _owner(self, peer_port: int) -> str | None:
        inode = socket_inode(peer_port, self.port)
        if not inode:
            return None
        if _holds(os.getpid(), f"socket:[{inode}]"):
            return HARNESS  # the control node's own client: never cut, nothing to look up
        return owner_of_inode(inode, self._pids())

    async def _identify(self, peer_port: int) -> str | None:
        """The node that opened the connection from ``peer_port``; looked up in a worker thread,
        since walking /proc must not hold up the bytes of every other proxied connection."""
        for _ in range(5):
            name = await asyncio.to_thread(self._owner, peer_port)
            if name is not None:
                return name or None
            await asyncio.sleep(0.01)
        return None

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = ProxiedConn(writer)
        self._conns.add(conn)
        try:
            await self._serve(conn, reader, writer)
        except (asyncio.CancelledError, ConnectionError, OSError):
            pass  # the proxy is stopping or the peer went away: nothing to report
        finally:
            self._close(conn)

    async def _serve(self, conn: ProxiedConn, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        src = conn.src = await self._identify(peer[1]) if peer else None
        if self._blocked(src, self.dst):
            conn.tainted = True
            await self._blackhole(reader, src)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            return
        conn.upstream = up_writer
        a = asyncio.create_task(self._pump(reader, up_writer, src, self.dst, conn))
        b = asyncio.create_task(self._pump(up_reader, writer, self.dst, src, conn))
        conn.tasks = [a, b]
        await asyncio.wait(conn.tasks, return_when=asyncio.FIRST_COMPLETED)

    async def _blackhole(self, reader: asyncio.StreamReader, src: str | None) -> None:
        key = src or "?"
        while True:
            data = await reader.read(65536)
            if not data:
                return
            self.dropped[key] = self.dropped.get(key, 0) + len(data)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    a: str | None, b: str | None, conn: ProxiedConn) -> None:
        key = f"{a}->{b}"
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                # Each direction of the stream is its own directed link: a one-way cut drops
                # the bytes that flow along it, whichever side opened the connection.
                if self._blocked(a, b):
                    conn.tainted = True
                    self.dropped[key] = self.dropped.get(key, 0) + len(data)
                    continue
                p = self._loss(a, b)
                if p > 0 and self._rng.random() < p:
                    return  # a lost segment on a byte stream: the connection breaks
                writer.write(data)
                # Counted as it is handed on, before draining: a cut that lands during the drain
                # must not see these bytes (checked before the cut) as crossing it.
                self.forwarded[key] = self.forwarded.get(key, 0) + len(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return

    def _close(self, conn: ProxiedConn) -> None:
        conn.close()
        self._conns.discard(conn)

    def reset(self, src: str | None = None, tainted_only: bool = False) -> None:
        """Close live connections (from ``src``, or all; only those a cut broke with
        ``tainted_only``), so peers reconnect under the new rules. A heal closes only the broken
        ones: a real network heal leaves untouched connections alone, and closing every one at
        once makes a reconnection storm that looks like a fault of its own."""
        for conn in list(self._conns):
            if (src is None or conn.src == src) and (conn.tainted or not tainted_only):
                self._close(conn)

    def sources(self) -> dict[str | None, int]:
        out: dict[str | None, int] = {}
        for c in self._conns:
            out[c.src] = out.get(c.src, 0) + 1
        return out

    async def stop(self) -> None:
        self.reset()
        if self._server is not None:
            self._server.close()
