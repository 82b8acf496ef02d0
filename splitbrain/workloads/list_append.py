"""list-append: transactions of appends and reads over a few keys, checked as Elle does.

Each request is one ``txn`` of 1-4 micro-ops, ``["append", k, v]`` or
``["r", k, null]``, over a small pool of *active* keys (few keys means many
transactions conflict, which is what exposes isolation anomalies). Every value
appended to a key is unique to that key (a per-key counter), so a read names
the exact version it saw and version orders can be inferred from reads alone.

A key retires after ``max_writes_per_key`` appends and a fresh key takes its
place (Elle's rotation): lists stay short, reads stay cheap, and the checker's
work grows linearly with the run. Keys are integers, numbered in order of use.
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


class ListAppendWorkload(BaseWorkload):
    name = "list-append"
    ops = ("txn",)
    #: the micro-op that writes (txn-rw-register, which shares this generator, writes with "w")
    write_verb = "append"

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
                mops.append([self.write_verb, k, written[k]])
                if written[k] >= self.max_writes_per_key:
                    del written[k]
                    active[slot] = next_key
                    written[next_key] = 0
                    next_key += 1
            yield Request("txn", mops)

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("list-append")]


WORKLOAD = ListAppendWorkload()
