"""The client protocol every splitbrain-built system speaks (raft, paxos, ring, memkv).

Standard library only: this module runs inside bare containers and remote hosts.

Transport: TCP, one JSON object per line (UTF-8, ``\\n``-terminated), on the node's
*client* port. A client may pipeline; responses carry the request's ``id``.

Request::

    {"id": 7, "op": "read",  "key": "k"}
    {"id": 8, "op": "write", "key": "k", "value": 3}
    {"id": 9, "op": "cas",   "key": "k", "value": [3, 4]}        # [expected, new]
    {"id": 10, "op": "add",  "key": "s", "value": 17}            # add 17 to the set at s
    {"id": 11, "op": "incr", "key": "c", "value": 2}             # counter += 2
    {"id": 12, "op": "txn",  "value": [["append", "x", 1], ["r", "y", null]]}
    {"id": 13, "op": "generate"}                                 # a cluster-unique id
    {"id": 14, "op": "rwtxn", "value": [["w", "x", 1], ["r", "y", null]]}  # registers, atomically
    {"id": 15, "op": "status"}   # optional: the node's own view, e.g. {"role": "leader", "term": 4, "leader": "n1"}

Response::

    {"id": 7, "ok": true, "value": 3, "node": "n2"}
    {"id": 9, "ok": false, "error": "cas-mismatch", "definite": true, "node": "n2"}
    {"id": 8, "ok": false, "error": "timeout", "definite": false, "node": "n2"}

Results per op: ``read`` -> the value (``null`` if absent; for a set key the sorted
list of elements; for a counter key the integer); ``write`` -> the value written;
``cas`` -> ``[expected, new]``; ``add`` -> the element; ``incr`` -> the amount;
``txn`` -> the micro-ops with reads filled (``["r", "y", [1, 2]]``, the list of values
appended so far, ``null`` if none); ``generate`` -> the id; ``rwtxn`` -> its micro-ops with
each register read filled (``["r", "y", 3]``, ``null`` if never written), all applied as one
atomic step on the same registers ``read``/``write`` use (Elle's rw-register transactions).

``definite: true`` promises the op did not and will not take effect (the harness
records ``fail``). ``definite: false`` (or no answer at all) means it may have taken
effect (the harness records ``info`` and retires the process). A node that is not the
leader either proxies the request to the leader or answers ``not-leader`` with
``definite: true`` (it never forwarded it). Unsupported ops answer
``{"ok": false, "error": "unsupported", "definite": true}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

OPS = ("read", "write", "cas", "add", "incr", "txn", "generate", "rwtxn")
#: ``{"id": 1, "op": "status"}`` -> ``{"value": {"role": ..., "term": ..., "leader": ..., "commit": ...}}``:
#: what the node believes about itself, for the harness's node-state bands (never a client op)
STATUS_OP = "status"
MAX_LINE = 1 << 20  # one request/response line is at most 1 MiB

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def encode(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def error(req: dict[str, Any], err: str, definite: bool, **extra: Any) -> dict[str, Any]:
    return {"id": req.get("id"), "ok": False, "error": err, "definite": definite, **extra}


def reply(req: dict[str, Any], value: Any = None, **extra: Any) -> dict[str, Any]:
    return {"id": req.get("id"), "ok": True, "value": value, **extra}


async def serve_clients(host: str, port: int, handler: Handler, node: str) -> asyncio.AbstractServer:
    """Serve the client protocol: each request line is handled concurrently by ``handler``.

    A handler that raises answers an indefinite error: the server cannot know whether
    the op took effect.
    """

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lock = asyncio.Lock()
        tasks: set[asyncio.Task[None]] = set()

        async def handle(req: dict[str, Any]) -> None:
            try:
                resp = await handler(req)
            except Exception as e:  # noqa: BLE001 - answer rather than drop the connection
                resp = error(req, f"internal: {type(e).__name__}: {e}", False)
            resp.setdefault("id", req.get("id"))
            resp.setdefault("node", node)
            async with lock:
                try:
                    writer.write(encode(resp))
                    await writer.drain()
                except (ConnectionError, RuntimeError):
                    pass

        try:
            async for req in json_objects(reader):
                if req is None:
                    async with lock:
                        writer.write(encode({"id": None, "ok": False, "error": "bad-request", "definite": True}))
                    continue
                t = asyncio.create_task(handle(req))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(on_conn, host, port, limit=MAX_LINE, reuse_address=True)


async def json_objects(reader: asyncio.StreamReader) -> AsyncIterator[dict[str, Any] | None]:
    """Each line read until the stream ends, as a JSON object, or None for a line that is not one
    (a server answers it as a bad request; a peer link skips it as a message torn by a fault)."""
    while line := await reader.readline():
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        yield obj if isinstance(obj, dict) else None


class Pipelined:
    """A client connection that pipelines requests: one reader task matches each answer to the
    request waiting for it. What the wire client and the Maelstrom client share: the stream, the
    waiting requests (failed at once when the connection is lost), and closing."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader_task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    def _fail_waiting(self, why: str) -> None:
        """Every request still waiting fails with ConnectionError: its answer can no longer come."""
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionError(why))
        self._waiting.clear()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        if self._reader_task is not None:
            self._reader_task.cancel()


class ClientConnection(Pipelined):
    """An asyncio client for the protocol above, with pipelining and per-request timeouts.

    ``request`` returns the response dict. It raises ``TimeoutError`` when no answer
    arrives in time and ``ConnectionError`` when the connection is lost; callers treat
    both as indefinite (``info``).
    """

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self._next_id = 0

    async def connect(self, timeout_s: float = 2.0) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=MAX_LINE), timeout_s
        )
        self._reader_task = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                try:
                    resp = json.loads(line)
                except ValueError:
                    continue
                fut = self._waiting.pop(resp.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(resp)
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            self._fail_waiting("connection lost")
            if self._writer is not None:
                self._writer.close()

    async def request(self, req: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        if not self.connected:
            await self.connect(timeout_s)
        assert self._writer is not None
        self._next_id += 1
        rid = self._next_id
        req = {**req, "id": rid}
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        try:
            self._writer.write(encode(req))
            await self._writer.drain()
            return await asyncio.wait_for(fut, timeout_s)
        finally:
            self._waiting.pop(rid, None)
