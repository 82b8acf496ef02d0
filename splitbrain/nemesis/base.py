"""What a fault is: a verb pair the nemesis schedule can start and stop.

A :class:`Fault` acts only through the backend seam
(:class:`splitbrain.backends.base.Backend`), so every fault runs on every
backend. ``start`` returns a JSON-able dict saying exactly what it did (which
nodes, which grudge, which links); that dict becomes the ``value`` of the
``start-<fault>`` op in the history, so a reader of the history can line up
anomalies with faults. ``stop`` undoes it and says what it undid.

All randomness comes from ``ctx.rng``: one seed replays the same schedule.

A fault that silently does nothing gives false confidence, so after acting,
a fault asks the backend what is *measured* to be in effect
(``backend.verify()``) and raises :class:`FaultNotEffective` when the
measurement disagrees. Keys a backend does not report are skipped (marked
unverified), never assumed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from splitbrain.errors import HarnessError


class FaultNotEffective(HarnessError):
    """The backend's measurement says an applied fault is not in effect."""

    def __init__(self, fault: str, message: str, details: dict[str, Any]) -> None:
        self.fault = fault
        self.details = details
        super().__init__(f"fault {fault} did not take effect: {message}")


@dataclass
class NemesisContext:
    backend: Any  # splitbrain.backends.base.Backend
    nodes: list[str]
    rng: random.Random
    #: per-fault memory between start and stop (what to undo)
    state: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Fault(Protocol):
    name: str

    async def start(self, ctx: NemesisContext) -> dict[str, Any]: ...

    async def stop(self, ctx: NemesisContext) -> dict[str, Any]: ...


def minority(n: int) -> int:
    """The largest group that is not a majority (at least 1)."""
    return max(1, (n - 1) // 2)


def pick_targets(ctx: NemesisContext) -> tuple[str, list[str]]:
    """Jepsen's node selectors: one random node (the leader-ish choice: in a small
    cluster one random pick often lands on the leader) or a random minority."""
    mode = ctx.rng.choice(["one", "minority"])
    k = 1 if mode == "one" else ctx.rng.randint(1, minority(len(ctx.nodes)))
    return mode, sorted(ctx.rng.sample(sorted(ctx.nodes), k))


async def measured(ctx: NemesisContext, fault: str, key: str) -> Any:
    """One key of ``backend.verify()``, or None when the backend does not measure it."""
    report = await ctx.backend.verify()
    if not isinstance(report, dict) or key not in report:
        return None
    return report[key]
