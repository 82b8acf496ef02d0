"""The deterministic state machine the Paxos log drives: every node applies the same
commands in the same order and so computes the same answers (generated ids included,
which are numbered by the log, not by the node)."""

from __future__ import annotations

from typing import Any


def _key(k: Any) -> Any:
    return tuple(_key(x) for x in k) if isinstance(k, list) else k


class Machine:
    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}
        self.ids = 0

    def apply(self, cmd: dict[str, Any]) -> dict[str, Any]:
        op, key, value = cmd.get("op"), _key(cmd.get("key")), cmd.get("value")
        if op == "read":
            v = self.data.get(key)
            return {"ok": True, "value": sorted(v, key=_order) if isinstance(v, set) else v}
        if op == "write":
            self.data[key] = value
            return {"ok": True, "value": value}
        if op == "cas":
            if not isinstance(value, list) or len(value) != 2:
                return {"ok": False, "error": "bad-request", "definite": True}
            if self.data.get(key) != value[0]:
                return {"ok": False, "error": "cas-mismatch", "definite": True}
            self.data[key] = value[1]
            return {"ok": True, "value": value}
        if op == "add":
            cur = self.data.get(key)
            if not isinstance(cur, set):
                cur = self.data[key] = set()
            cur.add(_key(value))
            return {"ok": True, "value": value}
        if op == "incr":
            if isinstance(value, bool) or not isinstance(value, int):
                return {"ok": False, "error": "bad-request", "definite": True}
            cur = self.data.get(key)
            self.data[key] = (cur if isinstance(cur, int) else 0) + value
            return {"ok": True, "value": value}
        if op == "txn":
            return self._txn(value)
        if op == "generate":
            self.ids += 1
            return {"ok": True, "value": f"id-{self.ids}"}
        return {"ok": False, "error": "unsupported", "definite": True}

    def _txn(self, mops: Any) -> dict[str, Any]:
        if not isinstance(mops, list) or not all(isinstance(m, list) and len(m) == 3 for m in mops):
            return {"ok": False, "error": "bad-request", "definite": True}
        out = []
        for f, k, v in mops:
            lk = ("list", _key(k))
            if f == "append":
                self.data.setdefault(lk, []).append(v)
                out.append([f, k, v])
            else:
                seen = self.data.get(lk)
                out.append([f, k, list(seen) if seen is not None else None])
        return {"ok": True, "value": out}


def _order(v: Any) -> tuple[str, Any]:
    return (type(v).__name__, v)
