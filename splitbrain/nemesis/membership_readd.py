"""The ``membership`` fault's way back: removed nodes added again at a window's stop (a removal
that landed late included) and at the end of the run (the fault: :mod:`.membership`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from splitbrain.nemesis.base import FaultNotEffective, NemesisContext, held_down, node_lock
from splitbrain.nemesis.membership_view import (
    CHANGE_TIMEOUT_S,
    SETTLE_S,
    VIEW_TIMEOUT_S,
    MembershipAccess,
    access_of,
    change_json,
    settle,
    view_json,
    wipe,
)

#: the stop keeps asking to add a node back this long (refusals are retried)
READD_S = 15.0
#: the final heal's bound: every node a member again
HEAL_S = 60.0
RETRY_S = 0.5


async def readd(ctx: NemesisContext, access: MembershipAccess, node: str, wiped: bool,
                down: bool, timeout_s: float) -> dict[str, Any]:
    """Add ``node`` back until the view lists it (refusals retried); what happened."""
    deadline = time.monotonic() + timeout_s
    tries: list[dict[str, Any]] = []
    while True:
        view = await settle(access, lambda v: True, VIEW_TIMEOUT_S)
        if view is not None and node in view.members:
            if down:
                # etcd: a member is added first, then started (started before the add lands, it
                # finds itself missing from the cluster and exits)
                await ctx.backend.start(node)
                held_down(ctx).discard(node)
            return {"member": True, "tries": tries, "view": view_json(view)}
        left = deadline - time.monotonic()
        if left <= 0:
            return {"member": False, "tries": tries, "view": view_json(view) if view else None}
        change = await access.system.add_member(node, access.addresses, min(CHANGE_TIMEOUT_S, left), wiped)
        tries.append(change_json(change))
        if change.outcome != "refused":  # landed or maybe: the view says (and then it is started)
            await settle(access, lambda v: node in v.members, min(SETTLE_S, max(0.1, left)))
        else:
            await asyncio.sleep(RETRY_S)


async def landed_late(ctx: NemesisContext, access: MembershipAccess, state: dict[str, Any]) -> list[str]:
    """Removals answered unknown that the view shows landed after the start stopped looking (a
    change through a partition's small side can land at the heal). A member the system stops
    once removed (etcd) cannot come back as it was: it is wiped, and started once added."""
    maybe = [n for n in state["asked"] if n not in state["removed"]]
    if not maybe:
        return []
    view = await settle(access, lambda v: True, VIEW_TIMEOUT_S)
    late = [n for n in maybe if view is not None and n not in view.members]
    state["removed"] = [*state["removed"], *late]
    if access.traits.removed_member_exits:
        for node in late:
            async with node_lock(ctx, node):
                await wipe(ctx, node)
            held_down(ctx).add(node)
            state["down"] = [*state["down"], node]
    return late


async def readd_all(ctx: NemesisContext, name: str) -> dict[str, Any]:
    """The window's stop: every node its start asked to remove is a member again (added back if
    it was removed, also late); what happened."""
    state = ctx.state.pop(name, None)
    if not state:
        return {}
    access = access_of(ctx)
    t0 = time.monotonic()
    wiped = state["rejoin"] == "wiped"
    out: dict[str, Any] = {"nodes": state["asked"], "rejoin": state["rejoin"], "added": {}}
    removed = list(state["removed"])  # the start's: those it wiped when asked to
    late = await landed_late(ctx, access, state)
    if late:
        out["late"] = late
    for node in state["asked"]:
        now_wiped = node in late and access.traits.removed_member_exits
        out["added"][node] = await readd(ctx, access, node, now_wiped or (wiped and node in removed),
                                               node in state["down"], READD_S)
    out["took_s"] = round(time.monotonic() - t0, 3)
    view = await settle(access, lambda v: True, VIEW_TIMEOUT_S)
    out["view"] = view_json(view) if view is not None else None
    return out


async def heal_all(ctx: NemesisContext, name: str) -> dict[str, Any]:
    """The end of the run: every node a member again, or FaultNotEffective (exit 255)."""
    access = access_of(ctx)
    deadline = time.monotonic() + HEAL_S
    added: dict[str, Any] = {}
    while True:
        view = await settle(access, lambda v: not v.pending, VIEW_TIMEOUT_S * 2)
        missing = sorted(set(ctx.nodes) - set(view.members)) if view is not None else sorted(ctx.nodes)
        if view is not None and not missing and not view.pending:
            return {"view": view_json(view), "added": added, "verified": True}
        if time.monotonic() >= deadline:
            details = {"view": view_json(view) if view else None, "missing": missing, "added": added}
            raise FaultNotEffective(name, f"the cluster is not back to full membership after "
                                    f"{HEAL_S:.0f} s: {missing or 'a change still pending'} ", details)
        for node in missing:
            down = False
            if access.traits.removed_member_exits:
                # etcd: a removed member cannot come back as it was; wipe it, add it, then start it
                async with node_lock(ctx, node):
                    await wipe(ctx, node)
                held_down(ctx).add(node)
                down = True
            added[node] = await readd(ctx, access, node, down, down,
                                            max(1.0, deadline - time.monotonic()))
        if not missing:
            await asyncio.sleep(RETRY_S)
