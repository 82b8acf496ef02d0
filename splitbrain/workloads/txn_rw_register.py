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

import random
from collections.abc import Iterator
from typing import Any

from splitbrain.workloads.base import BaseWorkload, CheckerSpec, Request

ACTIVE_KEYS = 4
MAX_TXN_LENGTH = 4
MAX_WRITES_PER_KEY = 32
READ_SHARE = 0.5


class TxnRwRegisterWorkload(BaseWorkload):
    name = "txn-rw-register"
    ops = ("rwtxn",)

    def __init__(self, active_keys: int = ACTIVE_KEYS, max_txn_length: int = MAX_TXN_LENGTH,
                 max_writes_per_key: int = MAX_WRITES_PER_KEY) -> None:
        self.active_keys = active_keys
        self.max_txn_length = max_txn_length
        self.max_writes_per_key = max_writes_per_key

    def requests(self, rng: random.Random) -> Iterator[Request]:
        active = list(range(self.active_keys))
        next_key = self.active_keys
        written = {k: 0 for k in active}
        while True:
            mops: list[list[Any]] = []
            for _ in range(rng.randint(1, self.max_txn_length)):
                slot = rng.randrange(len(active))
                k = active[slot]
                if rng.random() < READ_SHARE:
                    mops.append(["r", k, None])
                    continue
                written[k] += 1
                mops.append(["w", k, written[k]])
                if written[k] >= self.max_writes_per_key:
                    del written[k]
                    active[slot] = next_key
                    written[next_key] = 0
                    next_key += 1
            yield Request("txn", mops)

    def to_wire(self, req: Request) -> tuple[str, Any, Any]:
        return "rwtxn", None, req.value

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("rw-register")]


WORKLOAD = TxnRwRegisterWorkload()
