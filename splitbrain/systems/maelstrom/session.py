"""The harness side of a Maelstrom run: service links, services, the message log.

For each node the harness keeps one *service link*: a connection to the node's
shim (on its client port, so it works wherever clients work: local, docker,
ssh) over which the shim forwards what the binary sends to ``seq-kv``,
``lin-kv``, ``lww-kv`` or ``lin-tso``, receives the answers, and reports its
trace events. A link that drops (the node was killed) is redialled until the
run ends. At the end the session writes ``messages.jsonl`` and returns the
counts that go into ``results.json`` and the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from splitbrain.messages import MessageLog
from splitbrain.systems.base import SessionContext
from splitbrain.systems.maelstrom import protocol as p
from splitbrain.systems.maelstrom.services import Services

log = logging.getLogger("splitbrain.maelstrom")
#: protocol errors the harness names one by one in its log before only counting them
LOGGED_ERRORS = 20


class Session:
    def __init__(self, ctx: SessionContext) -> None:
        self.ctx = ctx
        self.services = Services(random.Random(f"{ctx.seed}/maelstrom-services"))
        self.log = MessageLog(ctx.origin_ns)
        self.shim_counts: dict[str, dict[str, int]] = {}
        self.protocol_errors: list[str] = []
        self.node_errors: list[str] = []  # why a node's binary stopped (its shim's last words)
        self.protocol_error_count = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.seq = 0

    # ------------------------------------------------------------------ events from clients

    def event(self, ev: dict[str, Any]) -> None:
        self.log.event(ev)

    def protocol_error(self, text: str) -> None:
        self.protocol_error_count += 1
        if self.protocol_error_count <= LOGGED_ERRORS:
            log.warning("protocol error: %s", text)
            self.protocol_errors.append(text)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self._link(n)) for n in self.ctx.nodes]

    async def stop(self) -> dict[str, Any]:
        await asyncio.sleep(0.3)  # the shims ship traces every 100 ms
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(BaseException):
                await t
        path = Path(self.ctx.run_dir) / "messages.jsonl"
        try:
            self.log.write(path)
        except OSError as e:
            log.error("cannot write %s: %s", path, e)
        shim_errors = sum(c.get("protocol_errors", 0) for c in self.shim_counts.values())
        for node, counts in sorted(self.shim_counts.items()):
            if counts.get("protocol_errors"):
                self.node_errors.append(f"node {node}: {counts['protocol_errors']} stdout lines were not Maelstrom "
                                        f"messages or named an unknown dest (the first ones are in its log)")
        if self.protocol_error_count:
            self.node_errors.append(f"{self.protocol_error_count} protocol errors in replies to clients; first: "
                                    f"{self.protocol_errors[0]}")
        return {
            "messages": self.log.summary(),
            "shims": self.shim_counts,
            "protocol_errors": self.protocol_error_count + shim_errors,
            "protocol_error_samples": self.protocol_errors,
            "node_errors": self.node_errors,
        }

    # ------------------------------------------------------------------ service links

    async def _link(self, node: str) -> None:
        address: Callable[[str], tuple[str, int]] = self.ctx.address
        while True:
            opened: asyncio.StreamWriter | None = None
            try:
                host, port = address(node)
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=p.MAX_LINE), 2.0)
                opened = writer
                writer.write(p.line({"hello": "service"}))
                await writer.drain()
                hello = await asyncio.wait_for(reader.readline(), 5.0)
                if not hello:
                    raise ConnectionError("closed")
                while True:
                    raw = await reader.readline()
                    if not raw:
                        break
                    self._on_line(node, raw, writer)
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
                pass
            finally:
                if opened is not None:
                    opened.close()
            await asyncio.sleep(0.1)

    def _on_line(self, node: str, raw: bytes, writer: asyncio.StreamWriter) -> None:
        try:
            obj = json.loads(raw)
        except ValueError:
            return
        if "fatal" in obj:
            text = f"node {node}: {obj['fatal']}"
            log.error("maelstrom %s", text)
            if len(self.node_errors) < LOGGED_ERRORS:
                self.node_errors.append(text)
        if isinstance(obj.get("counts"), dict):
            self.shim_counts[node] = obj["counts"]
        if "trace" in obj:
            for ev in obj.get("trace") or ():
                if isinstance(ev, dict):
                    self.log.event(ev)
            return
        msg = obj.get("m")
        if p.check_message(msg) is not None:
            return
        self.log.event(p.trace("recv", str(obj.get("u")), time.monotonic_ns(), msg, "service"))
        reply = self.services.handle(msg["dest"], node, msg["body"])
        if reply is None:
            return
        self.seq += 1
        out = {"src": msg["dest"], "dest": node, "body": reply}
        uid = f"{msg['dest']}.{self.seq}"
        now = time.monotonic_ns()
        self.log.event(p.trace("send", uid, now, out, "service"))
        writer.write(p.envelope(uid, now, out))
