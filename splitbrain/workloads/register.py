"""register: one key, read / write / cas, checked for linearizability.

Knossos' classic workload, with one change: every write (and every cas's new
value) is a value never used before on that key. An indefinite write stays
pending in the history forever, free to take effect at any later point; with
a handful of repeating values, the pending writes of a faulty run soon cover
every value, and then any stale read has an innocent explanation. Fresh values
leave a stale read nowhere to hide. A cas expects one of the last few values
written to its key, so it matches often enough to test something.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterator

from splitbrain.workloads.base import BaseWorkload, CheckerSpec, Request
from splitbrain.workloads.independent import KeySpec

KEY = "r"
#: a cas expects one of this many most recent write values of its key
RECENT = 3


def register_stream(rng: random.Random, pick_key: Callable[[], str], read_share: float = 0.5,
                    cas_share: float = 0.25) -> Iterator[Request]:
    """Reads (``read_share``), cas (``cas_share``) and writes of fresh values, on keys from ``pick_key``."""
    recent: dict[str, deque[int]] = {}
    fresh = 0
    while True:
        key = pick_key()
        roll = rng.random()
        if roll < read_share:
            yield Request("read", None, key)
            continue
        fresh += 1
        last = recent.setdefault(key, deque(maxlen=RECENT))
        if roll < read_share + cas_share and last:
            yield Request("cas", [rng.choice(last), fresh], key)
        else:
            yield Request("write", fresh, key)
        last.append(fresh)


class RegisterWorkload(BaseWorkload):
    """On independent keys by default (:mod:`splitbrain.workloads.independent`): all clients of a
    default run share one key at a time (full contention), 200 ops a key (under faults: at least a
    fault window and its heal, at most 1,000 ops), then a fresh key."""

    name = "register"
    ops = ("read", "write", "cas")
    key_spec = KeySpec(ops_per_key=200, clients_per_key=10, prefix="r")

    def key_stream(self, rng: random.Random, key: str) -> Iterator[Request]:
        return register_stream(rng, lambda: key)

    def requests(self, rng: random.Random) -> Iterator[Request]:
        return register_stream(rng, lambda: KEY)

    def final_requests(self, rng: random.Random) -> list[Request]:
        return [Request("read", None, KEY)]

    def checkers(self) -> list[CheckerSpec]:
        # one cas-register per key (the kv model); a single-key history is checked the same way
        return [CheckerSpec("linearizable", {"model": "kv"})]


WORKLOAD = RegisterWorkload()
