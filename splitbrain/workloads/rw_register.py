"""rw-register: one key, reads and writes only, checked for linearizability.

The register workload spends a quarter of its ops on cas, which quorum
stores without consensus (the ring, Dynamo-style systems) refuse outright:
those ops fail at once and test nothing. Here every op is a read (9/10) or a
write (1/10) of a fresh value: a fresh value that sits on one replica for a moment is not
overwritten at once, and many reads land in that moment, so a stale read has
the most chances to follow a fresh one (the shape an unrepaired quorum read
takes).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from splitbrain.workloads.base import BaseWorkload, CheckerSpec, Request
from splitbrain.workloads.independent import KeySpec
from splitbrain.workloads.register import KEY, register_stream

READ_SHARE = 0.9


class RwRegisterWorkload(BaseWorkload):
    name = "rw-register"
    ops = ("read", "write")
    key_spec = KeySpec(ops_per_key=200, clients_per_key=10, prefix="r")

    def key_stream(self, rng: random.Random, key: str) -> Iterator[Request]:
        return register_stream(rng, lambda: key, read_share=READ_SHARE, cas_share=0.0)

    def requests(self, rng: random.Random) -> Iterator[Request]:
        return register_stream(rng, lambda: KEY, read_share=READ_SHARE, cas_share=0.0)

    def final_requests(self, rng: random.Random) -> list[Request]:
        return [Request("read", None, KEY)]

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("linearizable", {"model": "kv"})]


WORKLOAD = RwRegisterWorkload()
