"""The cluster's membership as the ``membership`` fault sees it: the system's
:class:`~splitbrain.systems.capabilities.Membership` capability bound to the cluster, its view
polled until a change shows, and a removed node wiped. Shared by the removal
(:mod:`.membership_remove`) and the re-adds (:mod:`.membership_readd`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from splitbrain.backends.base import WipingBackend
from splitbrain.errors import UsageError
from splitbrain.nemesis.base import NemesisContext
from splitbrain.systems.capabilities import Membership, MembershipChange, MembershipView, SystemTraits

VIEW_TIMEOUT_S = 2.0
CHANGE_TIMEOUT_S = 10.0
#: an applied change must show in the cluster's view within this
SETTLE_S = 10.0


@dataclass
class MembershipAccess:
    """The system's Membership capability bound to the cluster's client addresses."""

    system: Membership
    addresses: dict[str, tuple[str, int]]
    traits: SystemTraits = field(default_factory=SystemTraits)

    async def view(self) -> MembershipView:
        return await self.system.members(self.addresses, VIEW_TIMEOUT_S)




def access_of(ctx: NemesisContext) -> MembershipAccess:
    if not isinstance(ctx.membership, MembershipAccess):
        raise UsageError("the membership fault needs a system with the Membership capability")
    return ctx.membership


def view_json(v: MembershipView) -> dict[str, Any]:
    return {"members": list(v.members), "node": v.node, "version": v.version, "pending": v.pending}


def change_json(c: MembershipChange) -> dict[str, Any]:
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
