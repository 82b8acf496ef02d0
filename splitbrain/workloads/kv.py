"""kv: many independent registers, checked per key.

Spreading ops over several keys keeps each key's history small (the
linearizability check is exponential in concurrency per key, linear in the
number of keys) while still exercising every code path of the system. The
``kv`` model checks each key as its own cas-register.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from splitbrain.workloads.base import BaseWorkload, CheckerSpec, Request
from splitbrain.workloads.register import register_stream

KEYS = 8


class KvWorkload(BaseWorkload):
    name = "kv"
    ops = ("read", "write", "cas")

    def __init__(self, keys: int = KEYS) -> None:
        self.keys = [f"k{i}" for i in range(keys)]

    def requests(self, rng: random.Random) -> Iterator[Request]:
        return register_stream(rng, lambda: rng.choice(self.keys))

    def final_requests(self, rng: random.Random) -> list[Request]:
        return [Request("read", None, k) for k in self.keys]

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("linearizable", {"model": "kv"})]


WORKLOAD = KvWorkload()
