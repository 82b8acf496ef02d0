"""Maelstrom's wire protocol, as its ``doc/protocol.md`` publishes it, and the shim's framing.

Standard library only: the node shim imports this inside containers and on ssh hosts.

A Maelstrom message is one JSON object per line on a node's stdin/stdout::

    {"src": "c1", "dest": "n1", "body": {"type": "read", "key": 3, "msg_id": 7}}
    {"src": "n1", "dest": "c1", "body": {"type": "read_ok", "value": 5, "in_reply_to": 7}}

An error reply is ``{"type": "error", "code": N, "text": "..."}``. Maelstrom sorts
its codes into *definite* (the operation certainly did not happen: the harness
records ``fail``) and *indefinite* (it may have happened: ``info``). Only 0
(timeout) and 13 (crash) are indefinite among the published codes; a code this
table does not know (custom codes are 1000 and up) is indefinite too, because
nothing promises otherwise.

Between the shim and the harness (and between shims, over splitbrain's peer
links) every Maelstrom message travels in an *envelope* line
``{"u": uid, "t": monotonic_ns, "m": message}``: ``u`` names the message
uniquely for the message log (``messages.jsonl``), ``t`` is its send time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from splitbrain.systems.wire import json_objects

#: code -> (name, definite)
ERRORS: dict[int, tuple[str, bool]] = {
    0: ("timeout", False),
    1: ("node-not-found", True),
    10: ("not-supported", True),
    11: ("temporarily-unavailable", True),
    12: ("malformed-request", True),
    13: ("crash", False),
    14: ("abort", True),
    20: ("key-does-not-exist", True),
    21: ("key-already-exists", True),
    22: ("precondition-failed", True),
    30: ("txn-conflict", True),
}
KEY_DOES_NOT_EXIST = 20
PRECONDITION_FAILED = 22
NOT_SUPPORTED = 10
MALFORMED_REQUEST = 12

#: services the harness runs; a node reaches them by sending to these names
SERVICES = ("seq-kv", "lin-kv", "lww-kv", "lin-tso")
#: the longest stdout line a node may print (a longer one is a protocol error)
MAX_LINE = 4 << 20


def is_definite(code: Any) -> bool:
    """Whether an error ``code`` promises the operation did not happen."""
    entry = ERRORS.get(code) if isinstance(code, int) and not isinstance(code, bool) else None
    return bool(entry and entry[1])


def error_text(body: dict[str, Any]) -> str:
    """``"22 precondition-failed: expected 3"`` for an error body."""
    code = body.get("code")
    name = ERRORS.get(code, ("unknown-code", False))[0] if isinstance(code, int) else "no-code"
    text = body.get("text")
    return f"{code} {name}" + (f": {text}" if text else "")


def error_body(code: int, text: str, in_reply_to: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "code": code, "text": text}
    if in_reply_to is not None:
        body["in_reply_to"] = in_reply_to
    return body


def check_message(obj: Any) -> str | None:
    """Why ``obj`` is not a Maelstrom message (None when it is one)."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    if not isinstance(obj.get("src"), str) or not isinstance(obj.get("dest"), str):
        return "src and dest must be strings"
    body = obj.get("body")
    if not isinstance(body, dict):
        return "body must be an object"
    if not isinstance(body.get("type"), str):
        return "body.type must be a string"
    return None


def envelope(uid: str, t_ns: int, msg: dict[str, Any]) -> bytes:
    return (json.dumps({"u": uid, "t": t_ns, "m": msg}, separators=(",", ":")) + "\n").encode()


async def envelopes(reader: asyncio.StreamReader) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    """(envelope id ``u``, message) for each envelope read until the stream ends. A line torn
    by a fault on the link (not JSON, no message) is skipped, as a lost message."""
    async for env in json_objects(reader):
        if env is not None and "m" in env:
            yield env.get("u"), env["m"]


def line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def trace(event: str, uid: str, t_ns: int, msg: dict[str, Any], kind: str) -> dict[str, Any]:
    """One message-log event as a shim reports it to the harness (see splitbrain.messages)."""
    body = msg.get("body") or {}
    return {"ev": event, "u": uid, "t": t_ns, "src": msg.get("src"), "dest": msg.get("dest"),
            "type": body.get("type"), "msg_id": body.get("msg_id"), "in_reply_to": body.get("in_reply_to"),
            "kind": kind}
