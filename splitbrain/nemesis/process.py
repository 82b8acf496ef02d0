"""kill and pause: faults on a node's process, one shape with two verbs.

``kill`` SIGKILLs one node or a minority and restarts them from their data dirs
on stop: a crash loses everything not fsync'd, so this is the fault that tests
durability. ``pause`` SIGSTOPs them and resumes them (SIGCONT) on stop: the
classic GC pause / VM stall, a process that holds its leases and sockets and
then wakes up believing it is still leader.

Both pick targets the same way, act on each, and check the backend's
measurement (dead processes; ``T`` state in /proc on the local backend)
before the fault counts as started.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import Any

from splitbrain.nemesis.base import (
    FaultNotEffective,
    NemesisContext,
    draw_targets,
    held_down,
    measured,
    node_lock,
    params_for,
    resolve_targets,
)


@dataclass(frozen=True)
class ProcessFault:
    name: str
    #: backend methods that apply and undo the fault on one node
    apply: str
    undo: str
    #: the backend's verify() key listing nodes in the faulted state
    measured_as: str
    #: how a target that escaped the fault is described
    escaped: str
    #: kill and pause act on the same processes: never scheduled to overlap
    group: str = "process"

    def draw(self, rng: random.Random, nodes: list[str]) -> dict[str, Any]:
        return {"targets": draw_targets(rng, nodes)}

    async def start(self, ctx: NemesisContext) -> dict[str, Any]:
        mode, targets = await resolve_targets(ctx, params_for(self, ctx)["targets"])
        ctx.state[self.name] = targets
        async with contextlib.AsyncExitStack() as held:
            for node in sorted(targets):  # a membership wipe must not restart them before the measurement
                await held.enter_async_context(node_lock(ctx, node))
            for node in targets:
                await getattr(ctx.backend, self.apply)(node)
            details: dict[str, Any] = {"nodes": targets, "mode": mode}
            hit = await measured(ctx, self.name, self.measured_as)
        details["verified"] = hit is not None
        if hit is not None and not set(targets) <= set(hit):
            raise FaultNotEffective(self.name, f"{self.escaped}: {sorted(set(targets) - set(hit))}", details)
        return details

    async def stop(self, ctx: NemesisContext) -> dict[str, Any]:
        targets = ctx.state.pop(self.name, [])
        left = []
        for node in targets:
            async with node_lock(ctx, node):
                if node in held_down(ctx):  # removed meanwhile (membership): it starts it once added back
                    left.append(node)
                    continue
                await getattr(ctx.backend, self.undo)(node)
        return {"nodes": targets, **({"left_down": left} if left else {})}


KILL = ProcessFault("kill", apply="kill", undo="start", measured_as="killed", escaped="still running")
PAUSE = ProcessFault("pause", apply="pause", undo="resume", measured_as="paused", escaped="not stopped")
