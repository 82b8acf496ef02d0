"""pause: SIGSTOP one node or a minority; stop resumes them (SIGCONT).

A paused process is the classic GC pause / VM stall: it holds its leases and
sockets, then wakes up believing it is still leader. The backend measures
the stopped state (``T`` in /proc on the local backend).
"""

from __future__ import annotations

from typing import Any

from splitbrain.nemesis.base import FaultNotEffective, NemesisContext, measured, pick_targets


class PauseFault:
    name = "pause"

    async def start(self, ctx: NemesisContext) -> dict[str, Any]:
        mode, targets = await pick_targets(ctx)
        ctx.state[self.name] = targets
        for node in targets:
            await ctx.backend.pause(node)
        details: dict[str, Any] = {"nodes": targets, "mode": mode}
        paused = await measured(ctx, self.name, "paused")
        details["verified"] = paused is not None
        if paused is not None and not set(targets) <= set(paused):
            raise FaultNotEffective(self.name, f"not stopped: {sorted(set(targets) - set(paused))}", details)
        return details

    async def stop(self, ctx: NemesisContext) -> dict[str, Any]:
        targets = ctx.state.pop(self.name, [])
        for node in targets:
            await ctx.backend.resume(node)
        return {"nodes": targets}


FAULT = PauseFault()
