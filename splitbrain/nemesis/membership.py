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
section from them (:func:`summarize`) and the report draws a membership band
over the timeline.

This module is the fault (its draw, start, stop, heal) and its results
section; the removals are :mod:`.membership_remove`, the way back (re-adds,
late landings, the final heal) :mod:`.membership_readd`, and the cluster's
view both poll :mod:`.membership_view`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from splitbrain.nemesis.base import NemesisContext, params_for
from splitbrain.nemesis.membership_readd import heal_all, readd_all
from splitbrain.nemesis.membership_remove import remove

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

    async def start(self, ctx: NemesisContext) -> dict[str, Any]:
        return await remove(ctx, self.name, params_for(self, ctx))

    async def stop(self, ctx: NemesisContext) -> dict[str, Any]:
        return await readd_all(ctx, self.name)

    async def heal(self, ctx: NemesisContext) -> dict[str, Any]:
        """The end of the run: every node a member again, or FaultNotEffective (exit 255)."""
        return await heal_all(ctx, self.name)


FAULT = MembershipFault()


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
