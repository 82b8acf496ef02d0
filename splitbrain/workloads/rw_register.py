"""rw-register: one key, reads and writes only, checked for linearizability.

The register workload spends a quarter of its ops on cas, which quorum
stores without consensus (the ring, Dynamo-style systems) refuse outright:
those ops fail at once and test nothing. Here every op is a read (2/3) or a
write (1/3), so a stale read has the most chances to follow a fresh one —
the shape an unrepaired quorum read takes — at the same op rate.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from splitbrain.workloads.base import BaseWorkload, CheckerSpec, Request
from splitbrain.workloads.register import KEY, VALUES


def rw_request(rng: random.Random, key: str) -> Request:
    if rng.random() < 2 / 3:
        return Request("read", None, key)
    return Request("write", rng.randrange(VALUES), key)


class RwRegisterWorkload(BaseWorkload):
    name = "rw-register"
    ops = ("read", "write")

    def requests(self, rng: random.Random) -> Iterator[Request]:
        while True:
            yield rw_request(rng, KEY)

    def final_requests(self, rng: random.Random) -> list[Request]:
        return [Request("read", None, KEY)]

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("linearizable", {"model": "cas-register"})]


WORKLOAD = RwRegisterWorkload()
