"""txn-rw-register: transactions of register reads and writes, checked as Elle's rw-register.

Each request is one ``rwtxn`` of 1-4 micro-ops, ``["w", k, v]`` or ``["r", k, null]``,
over a small pool of active keys; every value written to a key is unique to it
(a per-key counter), so a read names the transaction that wrote what it saw. A
key retires after ``max_writes_per_key`` writes and a fresh one takes its place,
as in Elle's generator. The history records ``f: "txn"`` with the micro-ops (reads
filled on ``ok``), the shape :mod:`splitbrain.checkers.rw_register` reads.

Served by systems that apply a transaction as one replicated step (raft, paxos,
memkv); ring cannot (a quorum register per key has no atomic step across keys).
"""

from __future__ import annotations

from typing import Any

from splitbrain.workloads.base import CheckerSpec, Request
from splitbrain.workloads.list_append import ListAppendWorkload


class TxnRwRegisterWorkload(ListAppendWorkload):
    """list-append's generator (key pool, retirement, unique values per key) with ``w`` for
    ``append``; only the wire op and the checker differ."""

    name = "txn-rw-register"
    ops = ("rwtxn",)
    write_verb = "w"

    def to_wire(self, req: Request) -> tuple[str, Any, Any]:
        return "rwtxn", None, req.value

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("rw-register")]


WORKLOAD = TxnRwRegisterWorkload()
