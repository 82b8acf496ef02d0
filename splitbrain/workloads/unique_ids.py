"""unique-ids: clients ask the cluster for ids; no id may be handed out twice.

Maelstrom's unique-id workload. The only op is ``generate``; the checker
reports every id returned by more than one acknowledged request. A generate
that timed out may have consumed an id, which cannot hurt uniqueness.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from splitbrain.workloads.base import BaseWorkload, CheckerSpec, Request


class UniqueIdsWorkload(BaseWorkload):
    name = "unique-ids"
    ops = ("generate",)

    def requests(self, rng: random.Random) -> Iterator[Request]:
        while True:
            yield Request("generate")

    def checkers(self) -> list[CheckerSpec]:
        return [CheckerSpec("unique-ids")]


WORKLOAD = UniqueIdsWorkload()
