"""counter: clients increment a counter and read it; every read must be explainable.

Jepsen's counter workload. The history records increments as ``add`` (the
counter model's op, as :mod:`splitbrain.checkers.counter` reads it); on the wire they are ``incr``. Increments are
small positive integers, as in Jepsen, so a read lower than what was already
acknowledged (a lost or rolled-back increment) or higher than everything ever
attempted (a double-applied one) is out of bounds. A final read after healing
judges the end state too.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from splitbrain.workloads.base import BaseWorkload, CheckerSpec, Request

KEY = "c"
READ_SHARE = 0.2
MAX_INCREMENT = 5


class CounterWorkload(BaseWorkload):
    name = "counter"
    ops = ("incr", "read")

    def requests(self, rng: random.Random) -> Iterator[Request]:
        while True:
            if rng.random() < READ_SHARE:
                yield Request("read", None, KEY)
            else:
                yield Request("add", rng.randint(1, MAX_INCREMENT), KEY)

    def to_wire(self, req: Request) -> tuple[str, Any, Any]:
        return ("incr" if req.f == "add" else req.f), req.key, req.value

    def from_wire(self, req: Request, value: Any) -> Any:
        if req.f == "read" and value is None:
            return 0  # never incremented
        return value

    def final_requests(self, rng: random.Random) -> list[Request]:
        return [Request("read", None, KEY)]

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("counter")]


WORKLOAD = CounterWorkload()
