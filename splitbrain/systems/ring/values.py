"""What a replica stores per key, and how two copies merge.

Every stored value is a join-semilattice element so that replicas, write-backs,
handovers and hinted handoffs can all use one idempotent ``merge``:

* register: ``{"tag": [counter, node], "value": v}``; the larger tag wins. ABD
  tags are (counter, coordinator), so ties between concurrent writers break on
  the node name, never on a clock.
* set: ``{"set": [...]}``; union.
* counter: ``{"slots": {coordinator: total}}``; per-coordinator slots merged by
  max, the counter value is their sum.

The ``lww-clock`` bug stores registers, sets and counters as ``{"ts": [t, node],
"value": ...}`` where ``t`` is the coordinator's wall clock: a larger timestamp
overwrites, whatever it lost.
"""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]
ZERO_TAG = (0, "", 0)


def tag_of(rec: Record | None) -> tuple[Any, str, int]:
    """(counter or timestamp, node, sequence): the sequence keeps two writes coordinated
    concurrently by one node from sharing a tag."""
    if not rec:
        return ZERO_TAG
    t = rec.get("tag") or rec.get("ts")
    return (t[0], str(t[1]), int(t[2]) if len(t) > 2 else 0) if t else ZERO_TAG


def merge(a: Record | None, b: Record | None) -> Record | None:
    """The join of two copies of one key (either may be absent)."""
    if not a:
        return b
    if not b:
        return a
    if "set" in a or "set" in b:
        return {"set": _sorted(set(_hashable(a.get("set", []))) | set(_hashable(b.get("set", []))))}
    if "slots" in a or "slots" in b:
        slots = dict(a.get("slots", {}))
        for k, v in b.get("slots", {}).items():
            slots[k] = max(slots.get(k, 0), v)
        return {"slots": slots}
    return a if tag_of(a) >= tag_of(b) else b


def _hashable(values: list[Any]) -> list[Any]:
    return [tuple(v) if isinstance(v, list) else v for v in values]


def _sorted(values: Any) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=repr)


def newest(records: list[Record | None]) -> Record | None:
    out: Record | None = None
    for r in records:
        out = merge(out, r)
    return out


def client_value(rec: Record | None) -> Any:
    """What a read returns: the register value, the sorted set, the counter sum (null if absent)."""
    if not rec:
        return None
    if "set" in rec:
        return _sorted(set(_hashable(rec["set"])))
    if "slots" in rec:
        return sum(rec["slots"].values())
    if rec.get("kind") == "set":
        return _sorted(rec.get("value") or [])
    return rec.get("value")
