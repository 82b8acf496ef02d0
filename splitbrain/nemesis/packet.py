"""packet: degrade links with delay (+ jitter) and/or loss, on random links or all links.

Slow and lossy links are where timeouts, retries and duplicate deliveries
live. The rule and the links are recorded; the backend must then report the
links as degraded.
"""

from __future__ import annotations

import random
from typing import Any

from splitbrain.backends.base import PacketRule
from splitbrain.nemesis.base import FaultNotEffective, NemesisContext, measured, params_for


class PacketFault:
    name = "packet"

    def draw(self, rng: random.Random, nodes: list[str]) -> dict[str, Any]:
        nodes = sorted(nodes)
        every = [(a, b) for a in nodes for b in nodes if a != b]
        scope = rng.choice(["all", "node", "random"])
        if scope == "all" or len(every) <= 1:
            links = every
        elif scope == "node":  # every link into and out of one node
            victim = rng.choice(nodes)
            links = [link for link in every if victim in link]
        else:
            links = sorted(rng.sample(every, rng.randint(1, len(every))))
        kind = rng.choice(["delay", "loss", "both"])
        delay = round(rng.uniform(20, 300), 1) if kind != "loss" else 0.0
        loss = round(rng.uniform(0.05, 0.4), 3) if kind != "delay" else 0.0
        return {"scope": scope, "links": [list(x) for x in links], "delay_ms": delay,
                "jitter_ms": round(delay / 4, 1), "loss": loss}

    async def start(self, ctx: NemesisContext) -> dict[str, Any]:
        params = params_for(self, ctx)
        links = [(str(a), str(b)) for a, b in params["links"]]
        rule = PacketRule(delay_ms=float(params["delay_ms"]), jitter_ms=float(params["jitter_ms"]),
                          loss=float(params["loss"]))
        await ctx.backend.packet(links, rule)
        ctx.state[self.name] = links
        details: dict[str, Any] = {"scope": params.get("scope"), "links": [list(x) for x in links],
                                   "delay_ms": rule.delay_ms, "jitter_ms": rule.jitter_ms, "loss": rule.loss}
        degraded = await measured(ctx, self.name, "degraded")
        details["verified"] = degraded is not None
        if degraded is not None:
            missing = set(links) - {tuple(x) for x in degraded}
            if missing:
                raise FaultNotEffective(self.name, f"links not degraded: {sorted(missing)}", details)
        return details

    async def stop(self, ctx: NemesisContext) -> dict[str, Any]:
        links = ctx.state.pop(self.name, [])
        if links:
            await ctx.backend.packet(links, PacketRule())
        return {"links": [list(x) for x in links]}


FAULT = PacketFault()
