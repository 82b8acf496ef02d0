"""The replicated state machine behind every client op of :mod:`splitbrain.systems.wire`.

Consensus protocols agree on a log of commands; this applies them. It is deterministic
(no clocks, no randomness, ids come from the log index), so every replica that applies
the same log reaches the same state and gives the same answers.

Values: a register key holds any JSON value; a set key (``add``) a set, read as a sorted
list; a counter key (``incr``) an int; list-append keys (``txn``) live in their own
namespace, as lists; ``rwtxn`` reads and writes the registers in one step.
"""

from __future__ import annotations

import json
from typing import Any


def _k(key: Any) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def _sortable(text: str) -> tuple[int, float, str]:
    """Numbers in numeric order first, then everything else by its JSON text."""
    v = json.loads(text)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, v, "")
    return (1, 0, text)


class StateMachine:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.lists: dict[str, list[Any]] = {}

    def apply(self, cmd: dict[str, Any], index: int) -> tuple[bool, Any]:
        """Apply one command; returns ``(True, result)`` or ``(False, error name)``.

        A ``(False, ...)`` outcome means the command changed nothing, so the error is
        definite.
        """
        op, key, value = cmd.get("op"), cmd.get("key"), cmd.get("value")
        if op == "read":
            return True, self.read(key)
        k = _k(key)
        if op == "write":
            self.data[k] = value
            return True, value
        if op == "cas":
            if not isinstance(value, list) or len(value) != 2:
                return False, "bad-request"
            cur = self.data.get(k)
            if isinstance(cur, set) or cur != value[0]:
                return False, "cas-mismatch"
            self.data[k] = value[1]
            return True, value
        if op == "add":
            cur = self.data.get(k)
            if cur is None:
                cur = self.data[k] = set()
            if not isinstance(cur, set):
                return False, "type-mismatch"
            cur.add(json.dumps(value, sort_keys=True))
            return True, value
        if op == "incr":
            if isinstance(value, bool) or not isinstance(value, int):
                return False, "bad-request"
            cur = self.data.get(k) or 0
            if isinstance(cur, bool) or not isinstance(cur, int):
                return False, "type-mismatch"
            self.data[k] = cur + value
            return True, value
        if op == "txn":
            return self._txn(value)
        if op == "rwtxn":
            return self._rwtxn(value)
        if op == "generate":
            return True, index
        return False, "unsupported"

    def read(self, key: Any) -> Any:
        v = self.data.get(_k(key))
        if isinstance(v, set):
            return [json.loads(x) for x in sorted(v, key=_sortable)]
        return v

    def _rwtxn(self, mops: Any) -> tuple[bool, Any]:
        """Register reads and writes as one step (every replica applies it whole, in log order)."""
        if not isinstance(mops, list) or not all(
            isinstance(m, list) and len(m) == 3 and m[0] in ("w", "r") for m in mops
        ):
            return False, "bad-request"
        out = []
        for f, key, v in mops:
            if f == "w":
                self.data[_k(key)] = v
                out.append([f, key, v])
            else:
                cur = self.data.get(_k(key))
                out.append([f, key, None if isinstance(cur, set) else cur])
        return True, out

    def _txn(self, mops: Any) -> tuple[bool, Any]:
        if not isinstance(mops, list) or not all(
            isinstance(m, list) and len(m) == 3 and m[0] in ("append", "r") for m in mops
        ):
            return False, "bad-request"
        out = []
        for f, key, v in mops:
            k = _k(key)
            if f == "append":
                self.lists.setdefault(k, []).append(v)
                out.append([f, key, v])
            else:
                seen = self.lists.get(k)
                out.append([f, key, list(seen) if seen is not None else None])
        return True, out
