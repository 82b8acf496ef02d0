"""A harness client speaking Maelstrom's client protocol to one node (through its shim).

Each client is a Maelstrom client with its own id (``c1``, ``c2``, ...). It says
hello to the shim with that id, then sends requests ``{"type": op, ..., "msg_id": n}``
and matches answers by ``in_reply_to``. The workload builds the request fields
(``to_wire`` returns them as the value) and reads the answer body (``from_wire``).

Outcomes, as :class:`splitbrain.systems.base.SystemClient` reports them:
``<op>_ok`` -> ``ok`` with the whole reply body as the value; ``error`` with a
definite code (:func:`protocol.is_definite`) -> ``definite: true`` (``fail``);
any other error, an unexpected reply type, or no reply -> indefinite (``info``).
A reply whose ``in_reply_to`` matches no request of this client is a protocol
error: it is counted and logged, and the request it failed to answer times out.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from splitbrain.systems.maelstrom import protocol as p
from splitbrain.systems.wire import Pipelined

_client_ids = itertools.count(1)


class MaelstromClient(Pipelined):
    def __init__(self, host: str, port: int, session: Any = None) -> None:
        super().__init__(host, port)
        self.session = session
        self.id = f"c{next(_client_ids)}"
        self.node = "?"
        self._msg_ids = itertools.count(1)

    async def _connect(self, timeout_s: float) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=p.MAX_LINE), timeout_s)
        self._reader, self._writer = reader, writer
        writer.write(p.line({"hello": "client", "id": self.id}))
        await writer.drain()
        hello = await asyncio.wait_for(reader.readline(), timeout_s)
        if not hello:
            raise ConnectionError("the node closed the connection during hello")
        self.node = str(json.loads(hello).get("node", "?"))
        self._reader_task = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            async for uid, msg in p.envelopes(self._reader):
                body = msg.get("body") or {}
                if self.session is not None:
                    self.session.event(p.trace("recv", str(uid), time.monotonic_ns(), msg, "client"))
                irt = body.get("in_reply_to")
                fut = self._waiting.pop(irt, None) if isinstance(irt, int) else None
                if fut is None:
                    if self.session is not None:
                        self.session.protocol_error(
                            f"node {msg.get('src')} sent {self.id} a {body.get('type')!r} with in_reply_to "
                            f"{irt!r}, which answers no request of this client")
                    continue
                if not fut.done():
                    fut.set_result(body)
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            self._fail_waiting("connection to the node lost")

    async def invoke(self, op: str, key: Any, value: Any, timeout_s: float) -> dict[str, Any]:
        if not self.connected:
            await self._connect(timeout_s)
        assert self._writer is not None
        msg_id = next(self._msg_ids)
        body = {"type": op, **(value or {}), "msg_id": msg_id}
        msg = {"src": self.id, "dest": self.node, "body": body}
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = fut
        uid, now = f"{self.id}.{msg_id}", time.monotonic_ns()
        try:
            self._writer.write(p.envelope(uid, now, msg))
            if self.session is not None:
                self.session.event(p.trace("send", uid, now, msg, "client"))
            await self._writer.drain()
            reply = await asyncio.wait_for(fut, timeout_s)
        finally:
            self._waiting.pop(msg_id, None)
        typ = reply.get("type")
        if typ == f"{op}_ok":
            return {"ok": True, "value": reply, "node": self.node}
        if typ == "error":
            code = reply.get("code")
            return {"ok": False, "error": p.error_text(reply), "definite": p.is_definite(code), "node": self.node,
                    "code": code}
        if self.session is not None:
            self.session.protocol_error(f"node {self.node} answered {op!r} with type {typ!r}")
        return {"ok": False, "error": f"unexpected reply type {typ!r}", "definite": False, "node": self.node}
