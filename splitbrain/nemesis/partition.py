"""partition: cut the network along a topology from :mod:`splitbrain.nemesis.grudges`.

The grudge is recorded in the history (``{"topology", "grudge"}``), and the
backend's measured set of cut links must equal the links the grudge cuts.

``partition-one-way`` draws only random one-way link cuts: the asymmetric
networks under which a node keeps trusting a peer it cannot reach, which is
where unrepaired quorum reads go stale.

``partition-leader`` only cuts the leader off: alone (``isolate-leader``) or
with followers in a minority (``leader-minority``), which keeps clients on
the deposed leader's side and, under a miscounted quorum, lets both sides
commit. Random topologies put the leader in the minority only now and then,
so a short run may never test the case that matters most.

``partition:leader-bridge`` is a bridge aimed at the leader: the leader on one
side, a follower as the hub that sees everyone. The far side elects a leader
through the hub; the hub's new promise deposes the old leader, whose side then
elects through the hub again, and so on: two proposers dueling over one acceptor
for the whole window, each deposed one with proposals in flight. A random
bridge makes the leader its hub in one draw of n, and a leader that sees
everyone is never deposed.

``partition:one-way-leader`` cuts the links into the leader from half the other nodes, one way:
the leader still reaches everyone, so they keep hearing it, trusting it and sending to it, and
what they send is lost. In a leaderless store the node found is the busiest sender: in the ring a
replica of the key the clients are working on (replicas answer every read). A writer there that
sends its value to that replica and one other leaves it on the other alone for a re-send wave,
while the nodes that still reach all three replicas read it and, without a read's write-back,
miss it on their next read.

``partition:isolate-follower`` is the other side of the leader: one follower
cut off while the leader keeps the rest, a majority. The majority keeps
committing while the follower still believes in its leader, so a system that
answers reads from a follower's own copy (ZooKeeper's plain reads) serves
stale values there. A system names the cuts its documented anomalies need in
``SystemTraits.partition_topologies``, and ``partition`` draws those on it.
"""

from __future__ import annotations

import random
from typing import Any

from splitbrain.errors import UsageError
from splitbrain.nemesis import grudges
from splitbrain.nemesis.base import (
    FaultNotEffective,
    NemesisContext,
    leaderish,
    measured,
    minority,
    params_for,
)

LEADER_TOPOLOGIES = ("isolate-leader", "leader-minority")
#: resolved against the leader when applied, like the leader topologies (not in ``partition``'s general mix)
FOLLOWER_TOPOLOGIES = ("isolate-follower",)
#: a bridge whose hub is not the leader: the leader's side and the other side each lead through the
#: hub in turn (not in ``partition``'s general mix; a system names it, or ``partition:leader-bridge``)
DUELING_TOPOLOGIES = ("leader-bridge",)
#: one-way cuts into the leader (or, in a leaderless store, the busiest node) from half the others,
#: which keep hearing it and so keep sending to it (not in ``partition``'s general mix; a system
#: names it, or ``partition:one-way-leader``)
ONE_WAY_LEADER = ("one-way-leader",)
SYMBOLIC = (*LEADER_TOPOLOGIES, *FOLLOWER_TOPOLOGIES, *DUELING_TOPOLOGIES, *ONE_WAY_LEADER)


class PartitionFault:
    #: every partition fault sets the network's one grudge: they never overlap
    group = "partition"

    def __init__(self, name: str, topologies: tuple[str, ...]) -> None:
        self.name = name
        #: drawn uniformly; a topology listed twice is drawn twice as often
        self.topologies = topologies

    def draw(self, rng: random.Random, nodes: list[str], topology: str | None = None) -> dict[str, Any]:
        """A topology and its grudge; leader topologies stay symbolic (who leads is known only when applied).
        ``topology`` (one of ours) is tried first: the schedule deals shapes so each comes round."""
        names = list(self.topologies)
        rng.shuffle(names)
        if topology in self.topologies:
            names.insert(0, topology)
        names = list(dict.fromkeys(names))  # weights decide the first draw; retry each topology once
        for topology in names:  # first topology that cuts something on this many nodes
            if topology in SYMBOLIC:
                order = sorted(nodes)
                rng.shuffle(order)
                if len(nodes) > 1:
                    # the leader goes with the first of ``order`` that are not the leader
                    return {"topology": topology, "fallback": order[0], "order": order}
                continue
            grudge = grudges.TOPOLOGIES[topology](nodes, rng)
            if grudges.cut_links(grudge):
                return {"topology": topology, "grudge": grudges.to_json(grudge)}
        return {"topology": names[-1], "grudge": {}}

    async def resolve(self, ctx: NemesisContext, params: dict[str, Any]) -> tuple[grudges.Grudge, str | None]:
        """The grudge to apply now, and how the leader was found (leader topologies)."""
        topology = params.get("topology")
        if topology not in SYMBOLIC:
            raw = params.get("grudge") or {}
            return {str(n): {str(x) for x in srcs} for n, srcs in raw.items()}, None
        # The old leader in a minority: where stale reads and lost writes show.
        node, how = await leaderish(ctx, str(params.get("fallback") or sorted(ctx.nodes)[0]))
        others = [n for n in params.get("order") or sorted(ctx.nodes) if n != node and n in ctx.nodes]
        if topology == "one-way-leader":
            # the first half of the others cannot reach the leader, which still reaches them
            return grudges.one_way(others[:max(1, len(others) // 2)], [node]), how
        if topology == "isolate-follower":
            # the first of the drawn order that does not lead, alone; the leader keeps the majority
            side = others[:1]
        elif topology == "leader-bridge" and len(others) >= 2:
            # the leader and the first others on one side, a follower as the hub, the rest across:
            # the far side elects through the hub, whose promise deposes the leader, whose side then
            # elects through the hub again -- two proposers dueling over one acceptor for the window
            near = [node, *others[:minority(len(ctx.nodes)) - 1]]
            hub = others[len(near) - 1]
            far = [n for n in ctx.nodes if n not in near and n != hub]
            return grudges.complete([near, far]), how
        else:
            size = 1 if topology == "isolate-leader" else minority(len(ctx.nodes))
            side = [node, *others[:size - 1]]
        return grudges.complete([side, [n for n in ctx.nodes if n not in side]]), how

    async def start(self, ctx: NemesisContext) -> dict[str, Any]:
        params = params_for(self, ctx)
        topology = params.get("topology")
        grudge, how = await self.resolve(ctx, params)
        await ctx.backend.partition(grudge)
        ctx.state[self.name] = grudge
        details: dict[str, Any] = {"topology": topology, "grudge": grudges.to_json(grudge)}
        if how is not None:
            details["leader"] = how
        cut = await measured(ctx, self.name, "cut")
        details["verified"] = cut is not None
        if cut is not None:
            want = {tuple(x) for x in grudges.cut_links(grudge)}
            got = {tuple(x) for x in cut}
            if want != got:
                raise FaultNotEffective(self.name, f"links cut {sorted(got)} != grudge's {sorted(want)}", details)
        return details

    async def stop(self, ctx: NemesisContext) -> dict[str, Any]:
        grudge = ctx.state.pop(self.name, {})
        leaking = await measured(ctx, self.name, "leaking")
        await ctx.backend.partition({})
        details: dict[str, Any] = {"healed": grudges.to_json(grudge)}
        if leaking:
            # Measured while still cut: bytes crossed a link the grudge cut.
            raise FaultNotEffective(self.name, f"cut links forwarded traffic: {leaking}", details)
        return details


#: ``partition`` aims at the leader in half its draws: a random topology puts the leader in
#: the minority only now and then, and that is where stale reads and lost writes live
FAULT = PartitionFault("partition", (*grudges.TOPOLOGIES, *LEADER_TOPOLOGIES * (len(grudges.TOPOLOGIES) // 2)))
ONE_WAY = PartitionFault("partition-one-way", grudges.ONE_WAY)
LEADER = PartitionFault("partition-leader", LEADER_TOPOLOGIES)


def for_system(topologies: tuple[str, ...]) -> PartitionFault:
    """``partition`` as it draws on a system that names its own topologies
    (``SystemTraits.partition_topologies``); unknown names are a usage error."""
    known = [*grudges.TOPOLOGIES, *SYMBOLIC]
    for t in topologies:
        if t not in known:
            raise UsageError(f"unknown partition topology {t!r} in the system's traits; valid: {', '.join(known)}")
    return PartitionFault("partition", tuple(topologies))


def only(topology: str) -> PartitionFault:
    """``partition:<topology>``: a partition fault that draws just that one topology."""
    known = [*grudges.TOPOLOGIES, *SYMBOLIC]
    if topology not in known:
        raise UsageError(f"unknown topology {topology!r} in partition:{topology}; valid: {', '.join(known)}")
    return PartitionFault(f"partition:{topology}", (topology,))
