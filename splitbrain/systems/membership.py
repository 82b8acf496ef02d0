"""The :class:`~splitbrain.systems.capabilities.Membership` capability over the wire protocol.

splitbrain's own systems that can change membership (ring, raft) answer two
extra wire ops: ``{"op": "members"}`` -> ``{"members": [...], "version": N,
"pending": bool, "member": bool}`` (this node's view), and ``{"op": "admin",
"value": {"action": "join"|"leave", "node": NAME}}`` -> the new members. A
definite error to ``admin`` means the change did not happen (``refused``, with
the system's reason); no answer or an indefinite error means it may have
(``unknown``). :class:`WireMembership` is that client, shared so each system
states only what differs.

Whom to ask: the view is the newest one (highest ``version``, settled views
first) among all nodes that answer, so a removed node that never heard of its
removal cannot hide the change. Changes go to members other than the node
being changed, one after another until one decides (a node with no leader, or
no longer a member, answers definitely and the next one is asked).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from splitbrain.systems.base import PythonSystem
from splitbrain.systems.capabilities import MembershipChange, MembershipView
from splitbrain.systems.wire import ClientConnection

#: definite errors that say "ask someone else", not "the cluster refused"
ASK_ELSEWHERE = ("not-leader", "not-member", "unavailable")


async def _request(address: tuple[str, int], req: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    conn = ClientConnection(*address)
    try:
        return await conn.request(req, timeout_s)
    finally:
        await conn.close()


async def wire_view(nodes: Mapping[str, tuple[str, int]], timeout_s: float) -> tuple[MembershipView, dict[str, Any]]:
    """The newest view among the nodes that answer, and every node's raw answer."""

    async def one(name: str) -> tuple[str, Any]:
        try:
            resp = await _request(nodes[name], {"op": "members"}, timeout_s)
        except Exception as e:  # noqa: BLE001 - a silent node simply has no view
            return name, f"{type(e).__name__}"
        return name, resp.get("value") if resp.get("ok") else resp.get("error")

    answers = dict(await asyncio.gather(*(one(n) for n in sorted(nodes))))
    views = [MembershipView(tuple(sorted(v["members"])), n, int(v.get("version", 0)), bool(v.get("pending")))
             for n, v in answers.items() if isinstance(v, dict) and isinstance(v.get("members"), list)]
    if not views:
        raise ConnectionError(f"no node answered with its membership view: {answers}")
    return max(views, key=lambda v: (v.version, not v.pending)), answers


async def wire_change(action: str, node: str, nodes: Mapping[str, tuple[str, int]],
                      timeout_s: float) -> MembershipChange:
    """Ask members (the changed node last) until one decides; ``timeout_s`` bounds the whole."""
    deadline = time.monotonic() + timeout_s
    order = [n for n in sorted(nodes) if n != node] + [node]
    reasons: list[str] = []
    for asked in order:
        left = deadline - time.monotonic()
        if left <= 0.1:
            break
        try:
            resp = await _request(nodes[asked], {"op": "admin", "value": {"action": action, "node": node}}, left)
        except (TimeoutError, ConnectionError, OSError) as e:
            return MembershipChange("unknown", asked, reason=f"{type(e).__name__}: no answer")
        if resp.get("ok"):
            return MembershipChange("applied", asked, tuple(sorted(resp.get("value") or ())))
        err = str(resp.get("error"))
        if not resp.get("definite"):
            return MembershipChange("unknown", asked, reason=err)
        if err.startswith(ASK_ELSEWHERE):
            reasons.append(f"{asked}: {err}")
            await asyncio.sleep(0.05)
            continue
        return MembershipChange("refused", asked, reason=err)
    return MembershipChange("refused", "", reason="no member could decide: " + "; ".join(reasons or ["no time"]))


async def wire_change_everywhere(action: str, node: str, nodes: Mapping[str, tuple[str, int]],
                                 timeout_s: float) -> MembershipChange:
    """Send the change to every node at once, as a client that retries everywhere would: each
    node forwards it to the leader it knows, so under a partition the leader of each side gets
    it. A leader-based system must take it once (a duplicate finds it done, or is refused).
    ``applied`` if any node says so, else ``unknown`` if any gave no answer, else ``refused``."""

    async def one(asked: str) -> MembershipChange:
        try:
            resp = await _request(nodes[asked], {"op": "admin", "value": {"action": action, "node": node}},
                                  timeout_s)
        except (TimeoutError, ConnectionError, OSError) as e:
            return MembershipChange("unknown", asked, reason=f"{type(e).__name__}: no answer")
        if resp.get("ok"):
            return MembershipChange("applied", asked, tuple(sorted(resp.get("value") or ())))
        return MembershipChange("refused" if resp.get("definite") else "unknown", asked,
                                reason=str(resp.get("error")))

    answers = await asyncio.gather(*(one(n) for n in sorted(nodes)))
    for outcome in ("applied", "unknown"):
        hits = [a for a in answers if a.outcome == outcome]
        if hits:
            return hits[0]
    return MembershipChange("refused", "", reason="; ".join(sorted({f"{a.node}: {a.reason}" for a in answers})))


@dataclass(frozen=True)
class WireMembership:
    """Mix-in: the Membership capability for a system speaking the wire protocol's ``members``/``admin``.
    ``fan_out``: send each change to every node at once (leader-based systems), else ask one
    member after another."""

    fan_out: bool = False

    async def members(self, nodes: Mapping[str, tuple[str, int]], timeout_s: float) -> MembershipView:
        return (await wire_view(nodes, timeout_s))[0]

    async def _change(self, action: str, node: str, nodes: Mapping[str, tuple[str, int]],
                      timeout_s: float) -> MembershipChange:
        if self.fan_out:
            return await wire_change_everywhere(action, node, nodes, timeout_s)
        return await wire_change(action, node, nodes, timeout_s)

    async def remove_member(self, node: str, nodes: Mapping[str, tuple[str, int]],
                            timeout_s: float) -> MembershipChange:
        return await self._change("leave", node, nodes, timeout_s)

    async def add_member(self, node: str, nodes: Mapping[str, tuple[str, int]], timeout_s: float,
                         wiped: bool) -> MembershipChange:
        return await self._change("join", node, nodes, timeout_s)


@dataclass(frozen=True)
class MemberedPythonSystem(PythonSystem):
    """A :class:`PythonSystem` whose nodes answer ``members`` and ``admin`` (ring, raft)."""

    #: see :class:`WireMembership`
    fan_out: bool = False

    async def members(self, nodes: Mapping[str, tuple[str, int]], timeout_s: float) -> MembershipView:
        return await WireMembership(self.fan_out).members(nodes, timeout_s)

    async def remove_member(self, node: str, nodes: Mapping[str, tuple[str, int]],
                            timeout_s: float) -> MembershipChange:
        return await WireMembership(self.fan_out).remove_member(node, nodes, timeout_s)

    async def add_member(self, node: str, nodes: Mapping[str, tuple[str, int]], timeout_s: float,
                         wiped: bool) -> MembershipChange:
        return await WireMembership(self.fan_out).add_member(node, nodes, timeout_s, wiped)
