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
from splitbrain.workloads.independent import KeySpec
from splitbrain.workloads.register import register_stream

KEYS = 8


class KvWorkload(BaseWorkload):
    name = "kv"
    ops = ("read", "write", "cas")

    #: several keys in use at once (groups of 5 clients), 100 ops a key, then fresh keys
    key_spec = KeySpec(ops_per_key=100, clients_per_key=5, prefix="k")

    def __init__(self, n_keys: int = KEYS) -> None:
        self.key_names = [f"k{i}" for i in range(n_keys)]

    def key_stream(self, rng: random.Random, key: str) -> Iterator[Request]:
        return register_stream(rng, lambda: key)

    def requests(self, rng: random.Random) -> Iterator[Request]:
        return register_stream(rng, lambda: rng.choice(self.key_names))

    def final_requests(self, rng: random.Random) -> list[Request]:
        return [Request("read", None, k) for k in self.key_names]

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("linearizable", {"model": "kv"})]


WORKLOAD = KvWorkload()
