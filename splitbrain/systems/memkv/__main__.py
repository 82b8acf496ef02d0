"""memkv node process: ``python3 -m splitbrain.systems.memkv --config JSON``."""

from __future__ import annotations

import itertools
import logging
import sys
from typing import Any

from splitbrain.systems import wire
from splitbrain.systems.base import NodeConfig
from splitbrain.systems.common.node import run_node


class Store:
    """All state of one node. Ops are applied atomically: the event loop is single-threaded."""

    def __init__(self, name: str, bug: str | None) -> None:
        self.name = name
        self.bug = bug
        self.data: dict[Any, Any] = {}
        self.lagging: dict[Any, Any] = {}  # stale-read: the value before the last write
        self.ids = itertools.count()

    async def start(self) -> None:
        pass  # nothing to recover: memkv forgets everything on a restart

    async def stop(self) -> None:
        pass

    def _set(self, key: Any, value: Any) -> None:
        self.lagging[key] = self.data.get(key)
        self.data[key] = value

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op, key, value = req.get("op"), _hashable(req.get("key")), req.get("value")
        if op == "read":
            source = self.lagging if self.bug == "stale-read" else self.data
            v = source.get(key)
            return wire.reply(req, sorted(v) if isinstance(v, set) else v)
        if op == "write":
            self._set(key, value)
            return wire.reply(req, value)
        if op == "cas":
            if not isinstance(value, list) or len(value) != 2:
                return wire.error(req, "bad-request", True)
            if self.data.get(key) != value[0]:
                return wire.error(req, "cas-mismatch", True)
            self._set(key, value[1])
            return wire.reply(req, value)
        if op == "add":
            self.data.setdefault(key, set()).add(_hashable(value))
            return wire.reply(req, value)
        if op == "incr":
            if isinstance(value, bool) or not isinstance(value, int):
                return wire.error(req, "bad-request", True)
            self._set(key, (self.data.get(key) or 0) + value)
            return wire.reply(req, value)
        if op == "txn":
            return wire.reply(req, self._txn(value))
        if op == "rwtxn":
            if not isinstance(value, list) or not all(isinstance(m, list) and len(m) == 3 for m in value):
                return wire.error(req, "bad-request", True)
            out = []
            for f, k, v in value:
                if f == "w":
                    self._set(_hashable(k), v)
                out.append([f, k, v if f == "w" else self.data.get(_hashable(k))])
            return wire.reply(req, out)
        if op == "generate":
            return wire.reply(req, f"{self.name}-{next(self.ids)}")
        return wire.error(req, "unsupported", True)

    def _txn(self, mops: Any) -> list[Any]:
        out = []
        for f, k, v in mops:
            if f == "append":
                self.data.setdefault(("list", k), []).append(v)
                out.append([f, k, v])
            else:
                seen = self.data.get(("list", k))
                out.append([f, k, list(seen) if seen is not None else None])
        return out


def _hashable(v: Any) -> Any:
    return tuple(_hashable(x) for x in v) if isinstance(v, list) else v


def make_store(config: NodeConfig, log: logging.Logger) -> Store:
    if config.bug == "crash-on-start":
        log.error("refusing to start: seeded bug crash-on-start")
        raise SystemExit(3)
    return Store(config.name, config.bug)


if __name__ == "__main__":
    sys.exit(run_node(make_store))
