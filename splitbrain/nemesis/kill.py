"""kill: SIGKILL one node or a minority; stop restarts them from their data dirs.

A crash loses everything not fsync'd: this is the fault that tests durability.
"""

from __future__ import annotations

from typing import Any

from splitbrain.nemesis.base import FaultNotEffective, NemesisContext, measured, pick_targets


class KillFault:
    name = "kill"

    async def start(self, ctx: NemesisContext) -> dict[str, Any]:
        mode, targets = await pick_targets(ctx)
        ctx.state[self.name] = targets
        for node in targets:
            await ctx.backend.kill(node)
        details: dict[str, Any] = {"nodes": targets, "mode": mode}
        killed = await measured(ctx, self.name, "killed")
        details["verified"] = killed is not None
        if killed is not None and not set(targets) <= set(killed):
            raise FaultNotEffective(self.name, f"still running: {sorted(set(targets) - set(killed))}", details)
        return details

    async def stop(self, ctx: NemesisContext) -> dict[str, Any]:
        targets = ctx.state.pop(self.name, [])
        for node in targets:
            await ctx.backend.start(node)
        return {"nodes": targets}


FAULT = KillFault()
