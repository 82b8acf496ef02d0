"""register: one key, read / write / cas, checked for linearizability.

Knossos' classic workload. Values are drawn from a small range so that cas
operations often match (a cas that never succeeds tests nothing), and the
single key makes every op contend: the hardest case for a consensus system and
for the checker, so runs keep their rate modest.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from splitbrain.workloads.base import BaseWorkload, CheckerSpec, Request

KEY = "r"
VALUES = 5


def register_request(rng: random.Random, key: str) -> Request:
    """A read (2/4), write (1/4) or cas (1/4) on ``key``: reads dominate, as stale reads are the commonest bug."""
    roll = rng.random()
    if roll < 0.5:
        return Request("read", None, key)
    if roll < 0.75:
        return Request("write", rng.randrange(VALUES), key)
    return Request("cas", [rng.randrange(VALUES), rng.randrange(VALUES)], key)


class RegisterWorkload(BaseWorkload):
    name = "register"
    ops = ("read", "write", "cas")

    def requests(self, rng: random.Random) -> Iterator[Request]:
        while True:
            yield register_request(rng, KEY)

    def final_requests(self, rng: random.Random) -> list[Request]:
        return [Request("read", None, KEY)]

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("linearizable", {"model": "cas-register"})]


WORKLOAD = RegisterWorkload()
