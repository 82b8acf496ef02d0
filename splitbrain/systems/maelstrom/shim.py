"""The node shim: one per node, between a user's Maelstrom binary and splitbrain.

Standard library only (it ships into containers and onto ssh hosts with the rest
of splitbrain's node code). Run as ``python3 -m splitbrain.systems.maelstrom
--config '<NodeConfig JSON>'``; the Maelstrom settings sit in
``config.options["maelstrom"]`` (binary, args, node ids, setup messages).

What it does, in order:

1. starts the binary (stdin/stdout pipes; its stderr goes to this node's log);
2. sends ``init`` (``node_id``, ``node_ids``) from client ``c0`` and waits for
   ``init_ok``, then any workload setup messages (broadcast's ``topology``);
3. only then listens on its client and peer ports, so "the client port accepts"
   means "the node is initialised" to every backend;
4. routes every stdout line: to another node over splitbrain's peer links (one
   outbound connection per peer, through the backend's link proxies or iptables,
   so partitions and packet faults act on node-to-node traffic), back to itself,
   to a client connection (by the client id it said hello with), or to the
   harness's service link (``seq-kv``, ``lin-kv``, ``lww-kv``, ``lin-tso``).

A stdout line that is not a Maelstrom message, or names a ``dest`` nobody is,
is a protocol error: logged (the first ones whole, then counted), never fatal.
Every queue is bounded; what overflows is dropped and counted, as a congested
network would. If the binary exits, the shim says so in one line and exits
too: to the harness that node has crashed (and heal restarts it with a fresh
``init``). Every message the shim moves is reported, as a small trace event, to
the harness over the service link for ``messages.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import sys
import time
from collections import deque
from typing import Any

from splitbrain.systems.base import NodeConfig
from splitbrain.systems.maelstrom import protocol as p

INIT_TIMEOUT_S = 10.0
SETUP_TIMEOUT_S = 10.0
#: bounded queues (messages)
PEER_QUEUE = 10_000
STDIN_QUEUE = 20_000
SERVICE_BACKLOG = 10_000
TRACE_BACKLOG = 50_000
#: bounds on a peer link: connecting, and data left unacknowledged before the link is redialled
CONNECT_TIMEOUT_S = 1.0
USER_TIMEOUT_S = 2.0
#: protocol errors logged in full before they are only counted
LOGGED_ERRORS = 20
#: more protocol errors than this within one second: the binary floods stdout and is stopped
FLOOD_PER_S = 2000


def log(name: str, text: str) -> None:
    sys.stderr.write(f"{time.time():.6f} [maelstrom-shim {name}] {text}\n")
    sys.stderr.flush()


class Shim:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.name = config.name
        m = config.options.get("maelstrom") or {}
        self.binary: str = m["bin"]
        self.args: list[str] = list(m.get("args") or [])
        self.node_ids: list[str] = list(m.get("node_ids") or sorted([self.name, *config.peers]))
        self.setup: list[dict[str, Any]] = list(m.get("setup") or [])
        self.init_timeout_s = float(m.get("init_timeout_s", INIT_TIMEOUT_S))
        self.proc: asyncio.subprocess.Process | None = None
        self.seq = itertools.count(1)
        self.boot = f"{os.getpid():x}{time.monotonic_ns() & 0xFFFFFF:x}"
        self.stdin_q: asyncio.Queue[tuple[str, dict[str, Any], str]] = asyncio.Queue(STDIN_QUEUE)
        self.peer_q: dict[str, asyncio.Queue[bytes]] = {n: asyncio.Queue(PEER_QUEUE) for n in config.peers}
        self.clients: dict[str, asyncio.StreamWriter] = {}
        self.service: asyncio.StreamWriter | None = None
        self.service_backlog: deque[bytes] = deque(maxlen=SERVICE_BACKLOG)
        self.traces: deque[dict[str, Any]] = deque(maxlen=TRACE_BACKLOG)
        self.counts: dict[str, int] = {"protocol_errors": 0, "dropped_queue_full": 0, "dropped_no_client": 0,
                                       "trace_dropped": 0}
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}  # shim's own requests (init, setup)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.exited = asyncio.Event()
        self.exit_code: int | None = None
        self.flood_window = [0.0, 0]
        self.flooding = False

    # ------------------------------------------------------------------ helpers

    def uid(self) -> str:
        return f"{self.name}.{self.boot}.{next(self.seq)}"

    def protocol_error(self, why: str, raw: bytes | str = b"") -> None:
        self.counts["protocol_errors"] += 1
        n = self.counts["protocol_errors"]
        now = time.monotonic()
        if now - self.flood_window[0] > 1.0:
            self.flood_window = [now, 0]
        self.flood_window[1] += 1
        if self.flood_window[1] > FLOOD_PER_S and not self.exited.is_set():
            self.flooding = True
            self.exit_code = None
            if self.proc is not None and self.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
        if n <= LOGGED_ERRORS or n % 1000 == 0:
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            log(self.name, f"protocol error #{n}: {why}: {text[:300].rstrip()!r}")

    def trace(self, event: str, uid: str, t_ns: int, msg: dict[str, Any], kind: str) -> None:
        if len(self.traces) == self.traces.maxlen:
            self.counts["trace_dropped"] += 1
        self.traces.append(p.trace(event, uid, t_ns, msg, kind))

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        t = asyncio.ensure_future(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)
        return t

    def deliver(self, uid: str, msg: dict[str, Any], kind: str) -> None:
        """Queue a message for the binary's stdin."""
        try:
            self.stdin_q.put_nowait((uid, msg, kind))
        except asyncio.QueueFull:
            self.counts["dropped_queue_full"] += 1

    # ------------------------------------------------------------------ the binary

    async def start_binary(self) -> None:
        try:
            self.proc = await asyncio.create_subprocess_exec(
                self.binary, *self.args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=None, limit=p.MAX_LINE, cwd=self.config.data_dir or None)
        except OSError as e:
            raise SystemExit(self.fatal(f"cannot start binary {self.binary!r}: {e.strerror or e}")) from None
        self.spawn(self.read_stdout())
        self.spawn(self.write_stdin())

    def fatal(self, why: str) -> int:
        """Say why the node cannot go on (node log, and the service link if it is up); the exit status."""
        if self.flooding:
            why = (f"binary flooded stdout with more than {FLOOD_PER_S} lines per second that are not "
                   f"Maelstrom messages ({self.counts['protocol_errors']} in all); stopped it")
        # the node's last output line: a start failure quotes it as the cause
        print(f"maelstrom node {self.name}: {why}", file=sys.stderr, flush=True)
        if self.service is not None and not self.service.is_closing():
            self.service.write(p.line({"fatal": why, "counts": self.counts}))
        return 3

    async def write_stdin(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        while True:
            uid, msg, kind = await self.stdin_q.get()
            try:
                self.proc.stdin.write(p.line(msg))
                await self.proc.stdin.drain()
            except (ConnectionError, RuntimeError):
                return
            self.trace("recv", uid, time.monotonic_ns(), msg, kind)

    async def read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        out = self.proc.stdout
        while True:
            try:
                raw = await out.readline()
            except ValueError:
                self.protocol_error(f"stdout line longer than {p.MAX_LINE} bytes (dropped)")
                continue
            except (ConnectionError, asyncio.IncompleteReadError):
                break
            if not raw:
                break
            if not raw.strip():
                continue
            try:
                msg = json.loads(raw)
            except ValueError:
                self.protocol_error("stdout line is not JSON", raw)
                continue
            why = p.check_message(msg)
            if why:
                self.protocol_error(why, raw)
                continue
            self.route(msg, raw)
        code = await self.proc.wait()
        self.exit_code = code
        self.exited.set()

    def route(self, msg: dict[str, Any], raw: bytes) -> None:
        dest, body = msg["dest"], msg["body"]
        uid, now = self.uid(), time.monotonic_ns()
        if msg["src"] != self.name:
            self.protocol_error(f"src {msg['src']!r} is not this node ({self.name})", raw)
            msg = {**msg, "src": self.name}
        irt = body.get("in_reply_to")
        if dest == "c0" and isinstance(irt, int) and irt in self.waiting:
            fut = self.waiting.pop(irt)
            if not fut.done():
                fut.set_result(body)
            return
        if dest == self.name:
            self.trace("send", uid, now, msg, "node")
            self.deliver(uid, msg, "node")
        elif dest in self.peer_q:
            self.trace("send", uid, now, msg, "node")
            try:
                self.peer_q[dest].put_nowait(p.envelope(uid, now, msg))
            except asyncio.QueueFull:
                self.counts["dropped_queue_full"] += 1
        elif dest in p.SERVICES:
            self.trace("send", uid, now, msg, "service")
            self.to_service(p.envelope(uid, now, msg))
        elif dest in self.clients:
            self.trace("send", uid, now, msg, "client")
            writer = self.clients[dest]
            with contextlib.suppress(ConnectionError, RuntimeError):
                writer.write(p.envelope(uid, now, msg))
        elif dest.startswith("c") and dest[1:].isdigit():
            self.counts["dropped_no_client"] += 1  # the client gave up (timed out) and went away
        else:
            self.protocol_error(f"unknown dest {dest!r} (nodes: {', '.join(self.node_ids)}; "
                                f"services: {', '.join(p.SERVICES)}; or a client id)", raw)

    def to_service(self, data: bytes) -> None:
        if self.service is not None and not self.service.is_closing():
            self.service.write(data)
        else:
            if len(self.service_backlog) == self.service_backlog.maxlen:
                self.counts["dropped_queue_full"] += 1
            self.service_backlog.append(data)

    async def request(self, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send the binary a request from client c0 (init, topology) and await its answer."""
        msg_id = next(self.seq)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[msg_id] = fut
        msg = {"src": "c0", "dest": self.name, "body": {**body, "msg_id": msg_id}}
        self.trace("send", f"c0.{self.boot}.{msg_id}", time.monotonic_ns(), msg, "client")
        self.deliver(f"c0.{self.boot}.{msg_id}", msg, "client")
        exited: asyncio.Future[Any] = asyncio.ensure_future(self.exited.wait())
        try:
            done, _ = await asyncio.wait([fut, exited], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
        if fut in done:
            return fut.result()
        self.waiting.pop(msg_id, None)
        if self.exited.is_set():
            raise SystemExit(self.fatal(f"binary exited with code {self.exit_code} before answering "
                                        f"{body['type']}"))
        errs = self.counts["protocol_errors"]
        raise SystemExit(self.fatal(f"binary never answered {body['type']} within {timeout_s:.0f} s"
                                    + (f" ({errs} protocol errors on its stdout)" if errs else "")))

    # ------------------------------------------------------------------ peers

    async def peer_sender(self, dest: str) -> None:
        """Keep one outbound connection to ``dest`` and write its queue into it."""
        host, port = self.config.peers[dest]
        q = self.peer_q[dest]
        backoff = 0.05
        held: bytes | None = None  # taken from the queue while the connection was down
        while True:
            try:
                # bounded: on docker and ssh a partition drops SYNs, and the kernel's own retries
                # would keep this link down for a minute after the partition heals
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError):
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 0.5)
                continue
            backoff = 0.05
            sock = writer.get_extra_info("socket")
            if sock is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
                # data unacknowledged this long (a cut link, a dead peer) aborts the connection,
                # so the link is redialled instead of waiting out TCP's exponential retransmissions
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(USER_TIMEOUT_S * 1000))
            try:
                while True:
                    data = held if held is not None else await q.get()
                    held = data
                    if writer.is_closing() or reader.at_eof():
                        break  # closed under us (the peer is down): redial, keep the message
                    writer.write(data)
                    held = None
                    if writer.transport.get_write_buffer_size() > 1 << 20:
                        await writer.drain()
            except (ConnectionError, OSError):
                pass  # written messages still in flight are lost, as on a real network
            finally:
                writer.close()
            await asyncio.sleep(backoff)

    async def on_peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async for uid, msg in p.envelopes(reader):
                self.deliver(str(uid), msg, "node")
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    # ------------------------------------------------------------------ clients and the service link

    async def on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A harness connection: a client (``{"hello": "client", "id": "c7"}``) or the service link."""
        role, cid = None, None
        try:
            raw = await reader.readline()
            hello = json.loads(raw) if raw else {}
            role = hello.get("hello")
            writer.write(p.line({"node": self.name, "node_ids": self.node_ids, "boot": self.boot}))
            if role == "client":
                cid = str(hello.get("id"))
                self.clients[cid] = writer
            elif role == "service":
                await self.attach_service(writer)
            else:
                return
            async for uid, msg in p.envelopes(reader):
                if uid is not None and p.check_message(msg) is None:
                    msg["dest"] = self.name
                    self.deliver(str(uid), msg, "client" if role == "client" else "service")
        except (ConnectionError, ValueError, asyncio.IncompleteReadError, AttributeError):
            pass
        finally:
            if cid is not None and self.clients.get(cid) is writer:
                del self.clients[cid]
            if role == "service" and self.service is writer:
                self.service = None
            writer.close()

    async def attach_service(self, writer: asyncio.StreamWriter) -> None:
        self.service = writer
        while self.service_backlog:
            writer.write(self.service_backlog.popleft())
        await writer.drain()

    async def ship_traces(self) -> None:
        """Every 100 ms, send the harness what moved (and the shim's counters)."""
        while True:
            await asyncio.sleep(0.1)
            w = self.service
            if w is None or w.is_closing() or not self.traces:
                continue
            batch = [self.traces.popleft() for _ in range(min(len(self.traces), 5000))]
            w.write(p.line({"trace": batch, "counts": self.counts}))
            with contextlib.suppress(ConnectionError):
                await w.drain()

    # ------------------------------------------------------------------ main

    async def run(self) -> int:
        await self.start_binary()
        reply = await self.request({"type": "init", "node_id": self.name, "node_ids": self.node_ids},
                                   self.init_timeout_s)
        if reply.get("type") != "init_ok":
            return self.fatal(f"answered init with {reply.get('type')!r}, not init_ok: {json.dumps(reply)[:200]}")
        for body in self.setup:
            answer = await self.request(dict(body), SETUP_TIMEOUT_S)
            if answer.get("type") != f"{body['type']}_ok":
                log(self.name, f"protocol error: answered {body['type']} with {json.dumps(answer)[:200]}")
        for dest in self.peer_q:
            self.spawn(self.peer_sender(dest))
        cfg = self.config
        peer_server = await asyncio.start_server(self.on_peer, cfg.peer_host, cfg.peer_port, limit=p.MAX_LINE,
                                                 reuse_address=True)
        client_server = await asyncio.start_server(self.on_client, cfg.client_host, cfg.client_port,
                                                   limit=p.MAX_LINE, reuse_address=True)
        self.spawn(self.ship_traces())
        log(self.name, f"binary {self.binary} initialised as {self.name} of {','.join(self.node_ids)}")
        await self.exited.wait()
        code = self.fatal(f"binary exited with code {self.exit_code} mid-run")
        peer_server.close()
        client_server.close()
        if self.service is not None:
            with contextlib.suppress(ConnectionError):
                await asyncio.wait_for(self.service.drain(), 1.0)
        return code


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="splitbrain.systems.maelstrom")
    ap.add_argument("--config", required=True)
    args = ap.parse_args(argv)
    config = NodeConfig.from_json(args.config)
    shim = Shim(config)
    try:
        return asyncio.run(shim.run())
    except KeyboardInterrupt:
        return 130
    finally:
        if shim.proc is not None and shim.proc.returncode is None:
            with contextlib.suppress(OSError):
                os.kill(shim.proc.pid, signal.SIGKILL)
