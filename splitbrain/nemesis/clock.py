"""clock: skew wall clocks (bump, strobe, reset) while monotonic clocks stay true.

Systems that trust wall time (leases, TTLs, timestamps for ordering) break
when one node's clock jumps. ``bump`` moves a random subset of nodes by a
random +- offset; ``strobe`` flips them between an offset and true time every
few tens of milliseconds until stopped; ``reset`` puts clocks back (a real
NTP step). Stop always resets every node it touched, so a window drawn as
``reset`` would only reset clocks that are already true: schedules draw bump
and strobe (:data:`ClockFault.MODES`); a ``reset`` written in a schedule file
still works.

A system whose coordinators stamp writes with their own wall clock (``SystemTraits.coordinator_clocks``:
a Dynamo-style last-write-wins store) aims the fault (:data:`COORDINATORS`): every run gets one
window of :meth:`ClockFault.skew_draw` (:func:`splitbrain.nemesis.guarantees.ensure`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from splitbrain.nemesis.base import FaultNotEffective, NemesisContext, measured, minority, params_for


async def _strobe(backend: Any, nodes: list[str], offsets: dict[str, float], period_s: float) -> None:
    on = False
    while True:
        on = not on
        for n in nodes:
            await backend.clock(n, offsets[n] if on else 0.0)
        await asyncio.sleep(period_s)


#: the largest offset drawn, either way (seconds)
MAX_OFFSET_S = 60.0


class ClockFault:
    name = "clock"
    #: modes drawn, a mode listed twice drawn twice as often
    MODES = ("bump", "bump", "strobe")

    def __init__(self, coordinators: bool = False) -> None:
        #: aimed by a system whose coordinators order writes by their own clocks: every run gets a
        #: window of :meth:`skew_draw` (``guarantees._skew``)
        self.coordinators = coordinators

    def draw(self, rng: random.Random, nodes: list[str]) -> dict[str, Any]:
        mode = rng.choice(self.MODES)
        chosen = sorted(rng.sample(sorted(nodes), rng.randint(1, max(1, minority(len(nodes))))))
        offsets = {n: round(rng.choice([-1, 1]) * rng.uniform(0.2, MAX_OFFSET_S), 3) for n in chosen}
        params: dict[str, Any] = {"mode": mode, "nodes": chosen}
        if mode != "reset":
            params["offsets_s"] = offsets
        if mode == "strobe":
            params["period_s"] = round(rng.uniform(0.02, 0.2), 3)
        return params

    def skew_draw(self, rng: random.Random, nodes: list[str], least_s: float) -> dict[str, Any]:
        """A bump of a minority of the nodes (every node coordinates the writes of its clients), each
        at least ``least_s`` off, the first ahead or behind and the next the other way: a coordinator
        ahead overwrites the writes that follow its own until true time catches up, even after the
        window; one behind loses every write it makes to the writes just before."""
        chosen = sorted(rng.sample(sorted(nodes), minority(len(nodes))))
        sign = rng.choice([-1, 1])
        offsets = {n: round(sign * (-1) ** i * rng.uniform(least_s, MAX_OFFSET_S), 3) for i, n in enumerate(chosen)}
        return {"mode": "bump", "nodes": chosen, "offsets_s": offsets}

    async def start(self, ctx: NemesisContext) -> dict[str, Any]:
        params = params_for(self, ctx)
        mode, nodes = params["mode"], [str(n) for n in params["nodes"]]
        offsets = {str(n): float(o) for n, o in (params.get("offsets_s") or {}).items()}
        state: dict[str, Any] = {"nodes": nodes, "task": None}
        ctx.state[self.name] = state
        details: dict[str, Any] = {"mode": mode, "nodes": nodes}
        if mode == "reset":
            for n in nodes:
                await ctx.backend.clock(n, 0.0)
            return details
        details["offsets_s"] = offsets
        if mode == "strobe":
            period = float(params["period_s"])
            details["period_s"] = period
            state["task"] = asyncio.create_task(_strobe(ctx.backend, nodes, offsets, period))
            # The strobe must be seen "on" at least once within a few periods.
            for _ in range(8):
                await asyncio.sleep(period / 2)
                seen = await measured(ctx, self.name, "clock")
                if seen is None or any(abs((seen.get(n) or 0.0) - offsets[n]) < 1e-3 for n in nodes):
                    break
            else:
                raise FaultNotEffective(self.name, f"strobe never showed offsets {offsets}", details)
            details["verified"] = seen is not None
            return details
        for n in nodes:
            await ctx.backend.clock(n, offsets[n])
        seen = await measured(ctx, self.name, "clock")
        details["verified"] = seen is not None
        if seen is not None:
            wrong = {n: seen.get(n) for n in nodes if abs((seen.get(n) or 0.0) - offsets[n]) > 1e-3}
            if wrong:
                raise FaultNotEffective(self.name, f"clock offsets read back {wrong}, wanted {offsets}", details)
        return details

    async def stop(self, ctx: NemesisContext) -> dict[str, Any]:
        state = ctx.state.pop(self.name, None) or {"nodes": [], "task": None}
        task = state["task"]
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for n in state["nodes"]:
            await ctx.backend.clock(n, 0.0)
        return {"nodes": state["nodes"], "reset": True}


FAULT = ClockFault()
#: ``clock`` as a system whose coordinators stamp writes with their own clocks aims it
COORDINATORS = ClockFault(coordinators=True)
