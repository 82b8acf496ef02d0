"""membership: nodes leave the cluster and come back while clients run.

Reconfiguration is where consensus systems break most often (Raft's
single-server change bug, etcd's and ZooKeeper's reconfiguration bugs), and
rebalancing is what a consistent-hash ring exists for. This fault changes the
cluster's *membership* through the system's own API (the
:class:`~splitbrain.systems.capabilities.Membership` capability), which a kill
or a partition never does:

* ``start`` removes one node (a random one or the leader), or two at once
  (two changes in flight: a system must serialize them or refuse one), random
  ones or ones the smallest side of a partition cannot reach right now
  (measured cut links; asked of that side's nodes only: an operator
  replacing the nodes that look dead from there, the classic way to lose
  the overlap of two majorities). Each
  change is ``applied`` (then verified: the cluster's view must stop listing
  the node within :data:`SETTLE_S`, else the run lost control, exit 255),
  ``refused`` (allowed, recorded: no quorum, another change in flight) or
  ``unknown`` (no answer; the view says whether it landed). A change sent
  through a side without a majority gets ``SystemTraits.side_change_s`` when
  the system drops such a change unanswered (etcd), else
  :data:`CHANGE_TIMEOUT_S` (the ring's stays joint and lands at the heal); a
  start that removed nothing and left nothing pending says so (``held``: its
  stop comes when planned); the stop looks at the view again and treats a
  removal that landed meanwhile (``late``) as removed. A removed node
  either keeps its data or is wiped (killed, its data dir emptied with
  :data:`~splitbrain.systems.capabilities.WIPED_MARKER` left in it, and
  restarted as a newcomer); a system that cannot take a member back with its
  old data (etcd) always gets it wiped. A removed node that still runs answers
  its clients ``not-member`` (a definite error: ``fail``).
* ``stop`` adds the node back (retrying refusals while time allows) and
  checks the view lists it again.
* :meth:`MembershipFault.heal` runs at the end of every run, after the other
  faults are stopped: the cluster must be back to every node as a member, or
  the run ends 255 (it cannot vouch for a cluster smaller than it claims).

Every start, stop and the final heal record the views seen, the outcome of
each change and how long it took; ``results.json`` gets a ``membership``
section from them and the report draws a membership band over the timeline.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from splitbrain.backends.base import Measurement, WipingBackend
from splitbrain.errors import UsageError
from splitbrain.nemesis.base import (
    FaultNotEffective,
    NemesisContext,
    held_down,
    node_lock,
    params_for,
    resolve_targets,
)
from splitbrain.systems.capabilities import Membership, MembershipChange, MembershipView, SystemTraits

VIEW_TIMEOUT_S = 2.0
CHANGE_TIMEOUT_S = 10.0
#: an unknown answer from a side without a majority, when the system drops such a change
#: (``SystemTraits.side_change_s``), is looked for in the view this long (the stop looks again)
SIDE_SETTLE_S = 1.0
#: an applied change must show in the cluster's view within this
SETTLE_S = 10.0
#: an unknown change gets this long to show before it is recorded as unknown
UNKNOWN_SETTLE_S = 3.0
#: the stop keeps asking to add a node back this long (refusals are retried)
READD_S = 15.0
#: the final heal's bound: every node a member again
HEAL_S = 60.0
RETRY_S = 0.5


@dataclass
class MembershipAccess:
    """The system's Membership capability bound to the cluster's client addresses."""

    system: Membership
    addresses: dict[str, tuple[str, int]]
    traits: SystemTraits = field(default_factory=SystemTraits)

    async def view(self) -> MembershipView:
        return await self.system.members(self.addresses, VIEW_TIMEOUT_S)


def _access(ctx: NemesisContext) -> MembershipAccess:
    if not isinstance(ctx.membership, MembershipAccess):
        raise UsageError("the membership fault needs a system with the Membership capability")
    return ctx.membership


def _view_json(v: MembershipView) -> dict[str, Any]:
    return {"members": list(v.members), "node": v.node, "version": v.version, "pending": v.pending}


def _change_json(c: MembershipChange) -> dict[str, Any]:
    d = asdict(c)
    d["members"] = list(c.members)
    return d


async def settle(access: MembershipAccess, done: Any, timeout_s: float) -> MembershipView | None:
    """Poll the view until ``done(view)`` or the timeout; the last view seen (None: nobody answered)."""
    deadline = time.monotonic() + timeout_s
    last: MembershipView | None = None
    while True:
        try:
            last = await access.view()
        except Exception:  # noqa: BLE001 - nobody answered this time; ask again
            pass
        if last is not None and done(last):
            return last
        if time.monotonic() >= deadline:
            return last
        await asyncio.sleep(0.2)


async def wipe(ctx: NemesisContext, node: str) -> None:
    """Kill ``node`` and empty its data dir (the backend leaves the wiped marker)."""
    backend = ctx.backend
    if not isinstance(backend, WipingBackend):
        raise UsageError(f"backend {getattr(backend, 'name', '?')} cannot wipe a node's data")
    await ctx.backend.kill(node)
    await backend.wipe(node)


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


#: how a window picks whom to remove: a random node, the leader, two random nodes at once, or two the
#: smallest side of a partition cannot reach (resolved when applied, from the measured cut links)
MODES = ("one", "leader", "two", "unreachable")


@dataclass(frozen=True)
class MembershipFault:
    name: str = "membership"
    #: membership changes never overlap each other (one window at a time)
    group: str = "membership"

    def draw(self, rng: random.Random, nodes: list[str], mode: str | None = None,
             rejoin: str | None = None) -> dict[str, Any]:
        """The window's targets and how a removed node rejoins. ``mode`` (one of :data:`MODES`) and
        ``rejoin`` (``old-data`` or ``wiped``) are a schedule's choice (membership changes during a
        partition aim at ``unreachable`` nodes, which come back with their data); else drawn."""
        nodes = sorted(nodes)
        # two at once half the time: the change a reconfiguring system must serialize (or refuse);
        # half of those are nodes the smallest side of a partition cannot reach (an operator
        # replacing the nodes that look dead from there)
        modes = list(MODES) if len(nodes) >= 5 else ["one", "leader"]
        if mode not in MODES or (mode in ("two", "unreachable") and len(nodes) < 3):
            mode = rng.choice(modes)
        rejoin = rejoin if rejoin in ("old-data", "wiped") else rng.choice(["old-data", "wiped"])
        if mode in ("two", "unreachable"):
            return {"targets": {"select": mode, "nodes": sorted(rng.sample(nodes, 2))}, "rejoin": rejoin}
        one = rng.choice(nodes)
        spec = {"select": "leader", "fallback": one} if mode == "leader" else {"select": "one", "nodes": [one]}
        return {"targets": spec, "rejoin": rejoin}

    def reconfigure_draw(self, rng: random.Random, nodes: list[str]) -> dict[str, Any]:
        """A reconfigure burst's window (:class:`~splitbrain.nemesis.base.Reconfiguring`): the nodes the
        small side cannot reach, with their data (they were only cut off, and wiping them during the
        cut would end the far side)."""
        return self.draw(rng, nodes, "unreachable", "old-data")

    async def _targets(self, ctx: NemesisContext, spec: dict[str, Any]) -> tuple[str, list[str], list[str]]:
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

    async def start(self, ctx: NemesisContext) -> dict[str, Any]:
        access = _access(ctx)
        params = params_for(self, ctx)
        how, targets, via = await self._targets(ctx, params["targets"])
        exits = access.traits.removed_member_exits
        rejoin = "wiped" if access.traits.rejoin_wiped_only else str(params.get("rejoin", "old-data"))
        t0 = time.monotonic()
        before = await settle(access, lambda v: True, VIEW_TIMEOUT_S * 2)
        if before is None:
            raise FaultNotEffective(self.name, "no node answered with its membership view", {"nodes": targets})
        targets = [t for t in targets if t in before.members and len(before.members) > 1]
        details: dict[str, Any] = {"nodes": targets, "mode": how, "rejoin": rejoin, "before": _view_json(before)}
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
        details["changes"] = {t: _change_json(c) for t, c in zip(targets, changes, strict=True)}
        details["took_s"] = round(time.monotonic() - t0, 3)
        details["view"] = _view_json(view) if view is not None else None
        still = [t for t in applied if view is None or t in view.members]
        removed = [t for t in asked if view is not None and t not in view.members]
        details["removed"] = removed
        ctx.state[self.name] = {"asked": asked, "removed": removed, "rejoin": rejoin,
                                "down": [t for t in targets if exits]}
        if still:
            details["verified"] = False
            raise FaultNotEffective(self.name, f"the cluster said it removed {still} but its view still lists "
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
            ctx.state[self.name]["down"] = removed  # held down: started only once added back
        return details

    async def _readd(self, ctx: NemesisContext, access: MembershipAccess, node: str, wiped: bool,
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
                return {"member": True, "tries": tries, "view": _view_json(view)}
            left = deadline - time.monotonic()
            if left <= 0:
                return {"member": False, "tries": tries, "view": _view_json(view) if view else None}
            change = await access.system.add_member(node, access.addresses, min(CHANGE_TIMEOUT_S, left), wiped)
            tries.append(_change_json(change))
            if change.outcome != "refused":  # landed or maybe: the view says (and then it is started)
                await settle(access, lambda v: node in v.members, min(SETTLE_S, max(0.1, left)))
            else:
                await asyncio.sleep(RETRY_S)

    async def _landed_late(self, ctx: NemesisContext, access: MembershipAccess, state: dict[str, Any]) -> list[str]:
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

    async def stop(self, ctx: NemesisContext) -> dict[str, Any]:
        state = ctx.state.pop(self.name, None)
        if not state:
            return {}
        access = _access(ctx)
        t0 = time.monotonic()
        wiped = state["rejoin"] == "wiped"
        out: dict[str, Any] = {"nodes": state["asked"], "rejoin": state["rejoin"], "added": {}}
        removed = list(state["removed"])  # the start's: those it wiped when asked to
        late = await self._landed_late(ctx, access, state)
        if late:
            out["late"] = late
        for node in state["asked"]:
            now_wiped = node in late and access.traits.removed_member_exits
            out["added"][node] = await self._readd(ctx, access, node, now_wiped or (wiped and node in removed),
                                                   node in state["down"], READD_S)
        out["took_s"] = round(time.monotonic() - t0, 3)
        view = await settle(access, lambda v: True, VIEW_TIMEOUT_S)
        out["view"] = _view_json(view) if view is not None else None
        return out

    async def heal(self, ctx: NemesisContext) -> dict[str, Any]:
        """The end of the run: every node a member again, or FaultNotEffective (exit 255)."""
        access = _access(ctx)
        deadline = time.monotonic() + HEAL_S
        added: dict[str, Any] = {}
        while True:
            view = await settle(access, lambda v: not v.pending, VIEW_TIMEOUT_S * 2)
            missing = sorted(set(ctx.nodes) - set(view.members)) if view is not None else sorted(ctx.nodes)
            if view is not None and not missing and not view.pending:
                return {"view": _view_json(view), "added": added, "verified": True}
            if time.monotonic() >= deadline:
                details = {"view": _view_json(view) if view else None, "missing": missing, "added": added}
                raise FaultNotEffective(self.name, f"the cluster is not back to full membership after "
                                        f"{HEAL_S:.0f} s: {missing or 'a change still pending'} ", details)
            for node in missing:
                down = False
                if access.traits.removed_member_exits:
                    # etcd: a removed member cannot come back as it was; wipe it, add it, then start it
                    async with node_lock(ctx, node):
                        await wipe(ctx, node)
                    held_down(ctx).add(node)
                    down = True
                added[node] = await self._readd(ctx, access, node, down, down,
                                                max(1.0, deadline - time.monotonic()))
            if not missing:
                await asyncio.sleep(RETRY_S)


FAULT = MembershipFault()


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


def summarize(ops: list[Any], nodes: list[str]) -> dict[str, Any] | None:
    """The ``membership`` section of ``results.json`` from the history's membership ops: every
    change and its outcome, the views seen, the final view, and whether the cluster ended with
    the membership the harness asked for (every node). None when no membership op ran."""
    mine = [op for op in ops if op.process == "nemesis" and str(op.f).endswith("-membership")
            and isinstance(op.value, dict)]
    if not mine:
        return None
    changes: list[dict[str, Any]] = []
    views: list[dict[str, Any]] = []
    final: dict[str, Any] | None = None
    late: list[str] = []
    for op in mine:
        v = op.value
        at = round(op.time / 1e9, 3)
        late += list(v.get("late") or [])
        for node, c in (v.get("changes") or {}).items():
            changes.append({"at_s": at, "action": "remove", "node": node, "outcome": c.get("outcome"),
                            "reason": c.get("reason", ""), "took_s": v.get("took_s")})
        for node, a in (v.get("added") or {}).items():
            tries = a.get("tries") or []
            outcome = "applied" if a.get("member") else (tries[-1].get("outcome") if tries else "unknown")
            changes.append({"at_s": at, "action": "add", "node": node, "outcome": outcome, "tries": len(tries),
                            "took_s": v.get("took_s")})
        for key in ("before", "view"):
            if isinstance(v.get(key), dict):
                views.append({"at_s": at, "op": op.f, **v[key]})
        if op.f == "heal-membership":
            final = v.get("view") if isinstance(v.get("view"), dict) else None
    outcomes = [c["outcome"] for c in changes]
    final_members = sorted(final.get("members", [])) if final else None
    return {
        "changes": changes,
        "applied": outcomes.count("applied"),
        "refused": outcomes.count("refused"),
        "unknown": outcomes.count("unknown"),
        #: unknown removals the view showed landed only later (a small side's change, at the heal)
        "landed_late": late,
        "views": views[-200:],
        "final": final,
        "expected": sorted(nodes),
        # the harness asked for every node back; anything else is flagged (and the run ends 255)
        "final_differs": final_members != sorted(nodes),
    }
