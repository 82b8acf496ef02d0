"""set: clients add unique elements to a set, and the set is read at the end.

Jepsen's set workload. Every add carries an element never used before (an
increasing integer), so the final read says exactly which adds survived:
acknowledged adds missing from it were lost, elements no one added are
unexpected. A share of reads during the run (as in Jepsen's set-full) lets the
checker also catch stale reads -- acknowledged elements that a later read
failed to show. Every system this harness tests promises linearizable
operations, so the checker runs with ``linearizable=True`` and a stale read is
an anomaly (Jepsen's set-full ``:linearizable? true``; ``check --model set``
keeps Jepsen's default of only counting them). A sloppy-quorum store, for one,
shows its bug as stale reads long before it loses anything. After the faults
heal, one read per key is the final verdict.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import count
from typing import Any

from splitbrain.workloads.base import BaseWorkload, CheckerSpec, Request

KEY = "s"
#: share of reads among the requests during the run (each returns the whole set)
READ_SHARE = 0.1


class SetWorkload(BaseWorkload):
    name = "set"
    ops = ("add", "read")

    def __init__(self, keys: tuple[str, ...] = (KEY,), read_share: float = READ_SHARE) -> None:
        self.keys = keys
        self.read_share = read_share

    def requests(self, rng: random.Random) -> Iterator[Request]:
        elements = count()
        while True:
            key = self.keys[0] if len(self.keys) == 1 else rng.choice(self.keys)
            if rng.random() < self.read_share:
                yield Request("read", None, key)
            else:
                yield Request("add", next(elements), key)

    def from_wire(self, req: Request, value: Any) -> Any:
        if req.f == "read" and value is None:
            return []  # the set was never created: empty
        return value

    def final_requests(self, rng: random.Random) -> list[Request]:
        return [Request("read", None, k) for k in self.keys]

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("set", {"linearizable": True})]


WORKLOAD = SetWorkload()


class SetsWorkload(SetWorkload):
    """``sets``: the set workload over :data:`SETS_KEYS` keys at once. A store that places keys
    (a consistent-hash ring) moves some keys and not others on each membership change; with many
    keys every change moves several, so a key lost in a rebalance has many chances to show."""

    name = "sets"


SETS_KEYS = 8
SETS = SetsWorkload(keys=tuple(f"s{i}" for i in range(SETS_KEYS)))
