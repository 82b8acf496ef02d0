"""Maelstrom's workloads (its ``doc/workloads.md``), on splitbrain's generators and checkers.

Each Maelstrom workload reuses the splitbrain workload with the same meaning
(its request stream and its checker) and only changes the message shapes:
``to_wire`` returns ``(type, None, fields)`` and the client sends
``{"type": type, **fields, "msg_id": n}``; ``from_wire`` reads the reply body.

=================  ==============  ==============================================
Maelstrom name     splitbrain      checked by
=================  ==============  ==============================================
lin-kv             kv              linearizable, per key (cas-register model)
g-set              set             eventual-set: every acked add in every node's final read
g-counter          counter         counter bounds on the final reads (per node)
pn-counter         counter         same, with negative deltas
txn-list-append    list-append     list-append (Elle)
unique-ids         unique-ids      unique-ids
broadcast          --              eventual-set, plus propagation latency
echo               --              echo
=================  ==============  ==============================================

Maelstrom's names and splitbrain's are both accepted. g-set, broadcast and the
counters promise only eventual consistency, as in Maelstrom: reads during the
run may lag; the final read on *every* node, after the faults are healed and
the cluster had time to converge, must hold everything acknowledged.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import count
from typing import Any

from splitbrain.errors import UsageError
from splitbrain.workloads.base import BaseWorkload, CheckerSpec, Request
from splitbrain.workloads.counter import CounterWorkload
from splitbrain.workloads.kv import KvWorkload
from splitbrain.workloads.list_append import ListAppendWorkload
from splitbrain.workloads.unique_ids import UniqueIdsWorkload

TOPOLOGIES = ("tree", "grid", "line", "total")


class _PerNodeFinal:
    """Final reads on every node (the run sends the i-th final request to node i first)."""

    nodes: list[str]
    #: seconds the healed cluster gets to converge before the final reads
    final_wait_s = 5.0

    def final_requests(self, rng: random.Random) -> list[Request]:
        return [Request("read") for _ in self.nodes]

    def setup_messages(self, node: str, node_ids: list[str]) -> list[dict[str, Any]]:
        return []


class LinKv(KvWorkload):
    name = "lin-kv"

    def __init__(self, nodes: list[str]) -> None:
        super().__init__()
        self.nodes = nodes

    def to_wire(self, req: Request) -> tuple[str, Any, Any]:
        key = _wire_key(req.key)
        if req.f == "read":
            return "read", None, {"key": key}
        if req.f == "write":
            return "write", None, {"key": key, "value": req.value}
        return "cas", None, {"key": key, "from": req.value[0], "to": req.value[1]}

    def from_wire(self, req: Request, value: Any) -> Any:
        return value.get("value") if req.f == "read" else req.value

    def setup_messages(self, node: str, node_ids: list[str]) -> list[dict[str, Any]]:
        return []


def _wire_key(key: Any) -> Any:
    """History key ``"k12"`` -> ``12`` on the wire: Maelstrom's lin-kv sends integer keys, and nodes
    written for it may assume them."""
    if isinstance(key, str) and key[:1] == "k" and key[1:].isdigit():
        return int(key[1:])
    return key


class GSet(_PerNodeFinal, BaseWorkload):
    name = "g-set"
    ops = ("add", "read")

    def __init__(self, nodes: list[str], read_share: float = 0.1) -> None:
        self.nodes = nodes
        self.read_share = read_share

    def requests(self, rng: random.Random) -> Iterator[Request]:
        elements = count()
        while True:
            yield Request("read") if rng.random() < self.read_share else Request("add", next(elements))

    def to_wire(self, req: Request) -> tuple[str, Any, Any]:
        return (req.f, None, {"element": req.value}) if req.f == "add" else ("read", None, {})

    def from_wire(self, req: Request, value: Any) -> Any:
        return value.get("value") if req.f == "read" else req.value

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("eventual-set")]


class Broadcast(GSet):
    name = "broadcast"
    ops = ("broadcast", "read")

    def __init__(self, nodes: list[str], topology: str = "tree", read_share: float = 0.2) -> None:
        super().__init__(nodes, read_share)
        if topology not in TOPOLOGIES:
            raise UsageError(f"unknown topology {topology!r}; valid: {', '.join(TOPOLOGIES)}")
        self.topology = topology

    def requests(self, rng: random.Random) -> Iterator[Request]:
        for req in super().requests(rng):
            yield Request("broadcast", req.value) if req.f == "add" else req

    def to_wire(self, req: Request) -> tuple[str, Any, Any]:
        return ("broadcast", None, {"message": req.value}) if req.f == "broadcast" else ("read", None, {})

    def from_wire(self, req: Request, value: Any) -> Any:
        return value.get("messages") if req.f == "read" else req.value

    def setup_messages(self, node: str, node_ids: list[str]) -> list[dict[str, Any]]:
        return [{"type": "topology", "topology": topology(self.topology, node_ids)}]


class GCounter(_PerNodeFinal, CounterWorkload):
    name = "g-counter"
    ops = ("add", "read")
    negative = False

    def __init__(self, nodes: list[str]) -> None:
        self.nodes = nodes

    def requests(self, rng: random.Random) -> Iterator[Request]:
        while True:
            if rng.random() < 0.2:
                yield Request("read")
            elif self.negative:
                yield Request("add", rng.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]))
            else:
                yield Request("add", rng.randint(1, 5))

    def to_wire(self, req: Request) -> tuple[str, Any, Any]:
        return ("add", None, {"delta": req.value}) if req.f == "add" else ("read", None, {})

    def from_wire(self, req: Request, value: Any) -> Any:
        return value.get("value") if req.f == "read" else req.value

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("counter", {"final_only": True})]


class PnCounter(GCounter):
    name = "pn-counter"
    negative = True


class TxnListAppend(ListAppendWorkload):
    name = "txn-list-append"

    def __init__(self, nodes: list[str]) -> None:
        super().__init__()
        self.nodes = nodes

    def to_wire(self, req: Request) -> tuple[str, Any, Any]:
        return "txn", None, {"txn": req.value}

    def from_wire(self, req: Request, value: Any) -> Any:
        return value.get("txn")

    def setup_messages(self, node: str, node_ids: list[str]) -> list[dict[str, Any]]:
        return []


class UniqueIds(UniqueIdsWorkload):
    def __init__(self, nodes: list[str]) -> None:
        self.nodes = nodes

    def to_wire(self, req: Request) -> tuple[str, Any, Any]:
        return "generate", None, {}

    def from_wire(self, req: Request, value: Any) -> Any:
        return value.get("id")

    def setup_messages(self, node: str, node_ids: list[str]) -> list[dict[str, Any]]:
        return []


class Echo(BaseWorkload):
    name = "echo"
    ops = ("echo",)
    no_effect = frozenset({"echo"})

    def __init__(self, nodes: list[str]) -> None:
        self.nodes = nodes

    def requests(self, rng: random.Random) -> Iterator[Request]:
        for i in count():
            yield Request("echo", f"Please echo {i}: {rng.randrange(1 << 30)}")

    def to_wire(self, req: Request) -> tuple[str, Any, Any]:
        return "echo", None, {"echo": req.value}

    def from_wire(self, req: Request, value: Any) -> Any:
        return value.get("echo")

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("echo")]

    def setup_messages(self, node: str, node_ids: list[str]) -> list[dict[str, Any]]:
        return []


#: every accepted name (Maelstrom's first, then splitbrain's aliases) -> workload class
WORKLOADS: dict[str, type] = {
    "lin-kv": LinKv, "g-set": GSet, "g-counter": GCounter, "pn-counter": PnCounter,
    "txn-list-append": TxnListAppend, "unique-ids": UniqueIds, "broadcast": Broadcast, "echo": Echo,
    "kv": LinKv, "set": GSet, "counter": GCounter, "list-append": TxnListAppend,
}


def workload_for(name: str, nodes: list[str], topology_kind: str = "tree") -> Any:
    if name not in WORKLOADS:
        raise UsageError(f"unknown Maelstrom workload {name!r}; valid: {', '.join(WORKLOADS)}")
    if WORKLOADS[name] is Broadcast:
        return Broadcast(list(nodes), topology_kind)
    return WORKLOADS[name](list(nodes))


def topology(kind: str, nodes: list[str]) -> dict[str, list[str]]:
    """Neighbours per node: Maelstrom's default ``tree`` (fan-out 4 by node order), a ``grid``
    (nodes on a square grid, neighbours up/down/left/right), a ``line`` or ``total``."""
    n = len(nodes)
    out: dict[str, list[str]] = {x: [] for x in nodes}

    def link(a: int, b: int) -> None:
        if b not in (a,) and nodes[b] not in out[nodes[a]]:
            out[nodes[a]].append(nodes[b])
            out[nodes[b]].append(nodes[a])

    if kind == "tree":
        for i in range(1, n):
            link((i - 1) // 4, i)
    elif kind == "grid":
        side = max(1, round(n ** 0.5 + 0.4999))
        for i in range(n):
            if (i + 1) % side and i + 1 < n:
                link(i, i + 1)
            if i + side < n:
                link(i, i + side)
    elif kind == "line":
        for i in range(1, n):
            link(i - 1, i)
    else:
        for i in range(n):
            for j in range(i + 1, n):
                link(i, j)
    return out
