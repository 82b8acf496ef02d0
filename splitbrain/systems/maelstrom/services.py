"""The services a Maelstrom node may call, run by the harness (Maelstrom's ``doc/services.md``).

A node sends to ``seq-kv``, ``lin-kv``, ``lww-kv`` or ``lin-tso`` as if they were
nodes; the shim forwards those messages over its service link and the harness
answers here. The services are not partitioned (as in Maelstrom, faults act on
the links between the cluster's own nodes), but their *consistency* is
exactly as weak as documented, because a node that trusts a weak service too
much is a bug this harness must catch:

* ``lin-kv``: one map, every operation atomic: linearizable.
* ``seq-kv``: sequentially consistent. Writes and cas apply to the newest state,
  but a read may return any state between the newest one this *node* has
  already observed (its own writes included) and the newest overall: a stale
  read that never goes backwards for that node. A g-counter that reads seq-kv and
  trusts the number it sees loses increments.
* ``lww-kv``: last write wins, eventually consistent. Each node reads its own
  replica; a write stamps the value with a harness-wide counter; a replica
  catches up with the newest writes only now and then.
* ``lin-tso``: a linearizable timestamp oracle: ``ts`` -> ``ts_ok`` with a
  strictly increasing ``ts``.

KV requests: ``read {key}`` -> ``read_ok {value}`` or error 20;
``write {key, value}`` -> ``write_ok``; ``cas {key, from, to,
create_if_not_exists?}`` -> ``cas_ok``, error 20 (no such key, unless
``create_if_not_exists``) or 22 (``from`` does not match).
"""

from __future__ import annotations

import json
import random
from collections import deque
from typing import Any

from splitbrain.systems.maelstrom.protocol import (
    KEY_DOES_NOT_EXIST,
    MALFORMED_REQUEST,
    NOT_SUPPORTED,
    PRECONDITION_FAILED,
    error_body,
)

#: versions of each key seq-kv keeps for stale reads
SEQ_HISTORY = 64
#: chance that a seq-kv read returns the newest state (otherwise a random allowed stale one)
SEQ_FRESH = 0.5
#: chance that an lww-kv replica catches up before a read
LWW_SYNC = 0.3

_MISSING = object()


def _k(key: Any) -> str:
    return json.dumps(key, sort_keys=True)


class _Kv:
    """Shared request parsing: subclasses implement get/put over their own storage."""

    name = "kv"

    def get(self, node: str, key: str) -> Any:
        raise NotImplementedError

    def put(self, node: str, key: str, value: Any) -> None:
        raise NotImplementedError

    def get_for_update(self, node: str, key: str) -> Any:
        return self.get(node, key)

    def handle(self, node: str, body: dict[str, Any]) -> dict[str, Any]:
        typ, mid = body.get("type"), body.get("msg_id")
        if typ not in ("read", "write", "cas"):
            return error_body(NOT_SUPPORTED, f"{self.name} does not support {typ!r}", mid)
        if "key" not in body:
            return error_body(MALFORMED_REQUEST, f"{typ} needs a key", mid)
        key = _k(body["key"])
        if typ == "read":
            value = self.get(node, key)
            if value is _MISSING:
                return error_body(KEY_DOES_NOT_EXIST, "key does not exist", mid)
            return {"type": "read_ok", "value": value, "in_reply_to": mid}
        if typ == "write":
            if "value" not in body:
                return error_body(MALFORMED_REQUEST, "write needs a value", mid)
            self.put(node, key, body["value"])
            return {"type": "write_ok", "in_reply_to": mid}
        if "from" not in body or "to" not in body:
            return error_body(MALFORMED_REQUEST, "cas needs from and to", mid)
        current = self.get_for_update(node, key)
        if current is _MISSING:
            if not body.get("create_if_not_exists"):
                return error_body(KEY_DOES_NOT_EXIST, "key does not exist", mid)
            self.put(node, key, body["to"])
            return {"type": "cas_ok", "in_reply_to": mid}
        if current != body["from"]:
            return error_body(PRECONDITION_FAILED, f"expected {body['from']!r}, but had {current!r}", mid)
        self.put(node, key, body["to"])
        return {"type": "cas_ok", "in_reply_to": mid}


class LinKv(_Kv):
    name = "lin-kv"

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, node: str, key: str) -> Any:
        return self.data.get(key, _MISSING)

    def put(self, node: str, key: str, value: Any) -> None:
        self.data[key] = value


class SeqKv(_Kv):
    """Sequentially consistent: reads may lag, never behind what the reading node saw."""

    name = "seq-kv"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.version = 0
        self.history: dict[str, deque[tuple[int, Any]]] = {}
        self.seen: dict[str, int] = {}  # node -> newest version it has observed

    def _at(self, key: str, version: int) -> Any:
        value: Any = _MISSING
        for v, x in self.history.get(key, ()):
            if v > version:
                break
            value = x
        return value

    def get(self, node: str, key: str) -> Any:
        low = self.seen.get(node, 0)
        at = self.version if self.rng.random() < SEQ_FRESH else self.rng.randint(min(low, self.version), self.version)
        self.seen[node] = at
        return self._at(key, at)

    def get_for_update(self, node: str, key: str) -> Any:
        self.seen[node] = self.version
        return self._at(key, self.version)

    def put(self, node: str, key: str, value: Any) -> None:
        self.version += 1
        self.history.setdefault(key, deque(maxlen=SEQ_HISTORY)).append((self.version, value))
        self.seen[node] = self.version


class LwwKv(_Kv):
    """Last write wins: each node reads its own replica, which catches up now and then."""

    name = "lww-kv"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.clock = 0
        self.newest: dict[str, tuple[int, Any]] = {}
        self.replicas: dict[str, dict[str, tuple[int, Any]]] = {}

    def _replica(self, node: str) -> dict[str, tuple[int, Any]]:
        rep = self.replicas.setdefault(node, {})
        if self.rng.random() < LWW_SYNC:
            rep.update(self.newest)
        return rep

    def get(self, node: str, key: str) -> Any:
        entry = self._replica(node).get(key)
        return _MISSING if entry is None else entry[1]

    def put(self, node: str, key: str, value: Any) -> None:
        self.clock += 1
        self.newest[key] = (self.clock, value)
        self.replicas.setdefault(node, {})[key] = (self.clock, value)


class LinTso:
    name = "lin-tso"

    def __init__(self) -> None:
        self.ts = 0

    def handle(self, node: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("type") != "ts":
            return error_body(NOT_SUPPORTED, f"lin-tso does not support {body.get('type')!r}", body.get("msg_id"))
        self.ts += 1
        return {"type": "ts_ok", "ts": self.ts, "in_reply_to": body.get("msg_id")}


class Services:
    """Every service of one run. ``handle`` answers one request body from ``node``."""

    def __init__(self, rng: random.Random) -> None:
        self.by_name: dict[str, Any] = {"lin-kv": LinKv(), "seq-kv": SeqKv(rng), "lww-kv": LwwKv(rng),
                                        "lin-tso": LinTso()}

    def handle(self, service: str, node: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The reply body, or None for a message that is not a request (no ``msg_id``: nothing to answer)."""
        svc = self.by_name.get(service)
        if svc is None or body.get("msg_id") is None:
            return None
        return svc.handle(node, body)
