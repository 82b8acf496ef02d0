"""The ``membership`` fault's removals: whom a window removes, through which nodes, and how long
a change through a side without a majority is waited for (the fault: :mod:`.membership`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from splitbrain.backends.base import Measurement
from splitbrain.nemesis.base import FaultNotEffective, NemesisContext, held_down, node_lock, resolve_targets
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
from splitbrain.systems.capabilities import MembershipChange

#: an unknown answer from a side without a majority, when the system drops such a change
#: (``SystemTraits.side_change_s``), is looked for in the view this long (the stop looks again)
SIDE_SETTLE_S = 1.0
#: an unknown change gets this long to show before it is recorded as unknown
UNKNOWN_SETTLE_S = 3.0


async def _remove(access: MembershipAccess, node: str, via: dict[str, tuple[str, int]],
                  bound_s: float | None) -> MembershipChange:
    """``remove_member`` through ``via``; with ``bound_s`` no answer within it is ``unknown`` (the
    adapter's own steps, a member list then the change, must not spend the bound twice)."""
    call = access.system.remove_member(node, via, bound_s or CHANGE_TIMEOUT_S)
    if bound_s is None:
        return await call
    try:
        return await asyncio.wait_for(call, bound_s)
    except TimeoutError:
        return MembershipChange("unknown", "", reason=f"no answer within {bound_s:.0f} s from a side "
                                "without a majority")


async def resolve(ctx: NemesisContext, spec: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """How the targets were chosen, the targets, and the nodes the removals are sent to.

    ``unreachable``: two nodes on the far side of the network's smallest part right now (the
    measured cut links), removed through the nodes of that part only: the operator stands
    where the others look dead and reaches only its own side (a change sent everywhere would
    also reach the far side, which then knows of it). Without a partition, the drawn nodes
    through every node; the other modes as :func:`resolve_targets` does, through every node."""
    everyone = sorted(ctx.nodes)
    if spec.get("select") != "unreachable":
        return (*await resolve_targets(ctx, spec), everyone)
    drawn = [str(n) for n in spec.get("nodes") or [] if n in ctx.nodes]
    report = Measurement.of(await ctx.backend.verify())
    cut = {tuple(link) for link in (report.cut or []) if isinstance(link, list | tuple)}
    parts = components(everyone, cut)
    if len(parts) < 2:
        return "unreachable:no-partition", drawn, everyone
    small = min(parts, key=lambda p: (len(p), p))
    far = sorted(n for n in ctx.nodes if n not in small)
    return f"unreachable-from:{','.join(small)}", sorted(ctx.rng.sample(far, min(2, len(far)))), small


async def remove(ctx: NemesisContext, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The window's start: remove its targets (resolved now), verify it in the view, wipe the
    removed nodes when asked to; what happened (``ctx.state[name]`` keeps what the stop needs)."""
    access = access_of(ctx)
    how, targets, via = await resolve(ctx, params["targets"])
    exits = access.traits.removed_member_exits
    rejoin = "wiped" if access.traits.rejoin_wiped_only else str(params.get("rejoin", "old-data"))
    t0 = time.monotonic()
    before = await settle(access, lambda v: True, VIEW_TIMEOUT_S * 2)
    if before is None:
        raise FaultNotEffective(name, "no node answered with its membership view", {"nodes": targets})
    targets = [t for t in targets if t in before.members and len(before.members) > 1]
    details: dict[str, Any] = {"nodes": targets, "mode": how, "rejoin": rejoin, "before": view_json(before)}
    if exits:
        for t in targets:  # it would exit by itself once removed; the harness's kill is what it expects
            await ctx.backend.kill(t)
        held_down(ctx).update(targets)  # and a kill's stop must not start it while its removal runs
    reach = {n: a for n, a in access.addresses.items() if n in via}
    details["via"] = sorted(reach)
    # no majority: the change can only be refused there or hang until the heal
    bound = access.traits.side_change_s if 2 * len(reach) <= len(ctx.nodes) else None
    if bound is not None:
        details["bound_s"] = bound
    try:
        changes = await asyncio.gather(*(_remove(access, t, reach, bound) for t in targets))
    except Exception:
        for t in targets if exits else []:  # nothing known removed: they are members, bring them back
            await ctx.backend.start(t)
            held_down(ctx).discard(t)
        raise
    asked = [t for t, c in zip(targets, changes, strict=True) if c.outcome != "refused"]
    applied = [t for t, c in zip(targets, changes, strict=True) if c.outcome == "applied"]
    view = await settle(access, lambda v: not set(asked) & set(v.members),
                        SETTLE_S if applied else SIDE_SETTLE_S if bound else UNKNOWN_SETTLE_S)
    details["changes"] = {t: change_json(c) for t, c in zip(targets, changes, strict=True)}
    details["took_s"] = round(time.monotonic() - t0, 3)
    details["view"] = view_json(view) if view is not None else None
    still = [t for t in applied if view is None or t in view.members]
    removed = [t for t in asked if view is not None and t not in view.members]
    details["removed"] = removed
    ctx.state[name] = {"asked": asked, "removed": removed, "rejoin": rejoin,
                            "down": [t for t in targets if exits]}
    if still:
        details["verified"] = False
        raise FaultNotEffective(name, f"the cluster said it removed {still} but its view still lists "
                                f"them after {SETTLE_S:.0f} s", details)
    details["verified"] = True
    # nothing removed and nothing pending (refused, or dropped by a system that drops a small
    # side's unanswered change): nothing for the window to keep, so its stop comes when planned,
    # not a whole planned window after a start that waited on a side that could only refuse
    details["held"] = bool(removed) or (bound is None and any(c.outcome == "unknown" for c in changes))
    for t in removed:
        if rejoin == "wiped":
            async with node_lock(ctx, t):  # a kill fault must not land between the wipe and the restart
                await wipe(ctx, t)
                if not exits:
                    await ctx.backend.start(t)  # runs as a newcomer, outside the cluster, until added
    if exits:
        for t in targets:
            if t not in removed:  # refused or not landed: the node is still a member, bring it back
                await ctx.backend.start(t)
                held_down(ctx).discard(t)
        ctx.state[name]["down"] = removed  # held down: started only once added back
    return details


def components(nodes: list[str], cut: set[tuple[Any, ...]]) -> list[list[str]]:
    """The groups of nodes that still reach each other both ways, given the cut directed links."""
    left, out = list(nodes), []
    while left:
        group, frontier = {left[0]}, [left[0]]
        while frontier:
            a = frontier.pop()
            for b in left:
                if b not in group and (a, b) not in cut and (b, a) not in cut:
                    group.add(b)
                    frontier.append(b)
        out.append(sorted(group))
        left = [n for n in left if n not in group]
    return out

