"""The ring's membership changes: joint quorums, handover, commit, and the configuration replicas fence by.

A mix-in of :class:`~.node.RingNode` (which provides the transport: ``send``, ``ask``, ``_persist``).
A change moves through three steps, each acknowledged by every node of the old and new rings:
``joint`` (quorums need a majority of the old *and* of the new replicas), ``handover`` (every node
pushes what it holds to a majority of the key's replicas under the new ring, wherever they differ
from the old: a new replica, or fewer of them), ``commit`` (the new ring; the old replicas forget
what they no longer hold). Client requests carry the coordinator's configuration, and a replica
refuses one made under an older configuration (:mod:`.fence`), so a request in flight across a
change never counts an answer from a ring nobody uses any more.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from splitbrain.systems.ring import fence
from splitbrain.systems.ring.placement import HashRing

RETRY_MARGIN_S = 4.0  # a refused change is retried only while this much of its deadline is left
HANDOVER_PUSH_S = 2.5  # a handover push to the new replicas gets as long as a client request
STUCK_S = 3.0  # a joint change older than this, whose coordinator went silent, is completed by the next one
#: a node joint for a change whose coordinator has been silent this long (plus up to STUCK_JITTER_S, so the
#: nodes do not all start at once) drives the change to its end itself (:meth:`Reconfiguration.complete_stuck`)
STUCK_JITTER_S = 2.0
COMPLETE_S = 8.0  # one attempt at completing a stuck change (the admin request's own bound)

Persist = Callable[[str, Any], Awaitable[None]]


class NotMember(Exception):
    """This node is not in the committed ring: it serves no client (definite: nothing was done)."""


class ChangeRefused(Exception):
    """A membership change that definitely did not happen (another one is in flight)."""


def _majority_of(group: list[str]) -> Callable[[dict[str, Any]], bool]:
    members, q = set(group), len(group) // 2 + 1
    return lambda answers: len(members & answers.keys()) >= q


class Reconfiguration:
    """Membership changes of one ring node (state set up by :class:`~.node.RingNode`)."""

    name: str
    all_nodes: list[str]
    n: int
    vnodes: int
    bug: str | None
    log: logging.Logger
    ring: HashRing
    #: the ring a joint change moves to
    next_ring: HashRing | None
    #: the change this node is joint for: members, epoch, cid (change id), since (monotonic), handover
    pending: dict[str, Any] | None
    epoch: int
    #: the change that committed our ring (None: the initial ring), for :func:`fence.refuses`
    ring_cid: str | None
    data: dict[str, Any]
    #: records this node pushed to new replicas in handovers (the figure "data moved per change")
    moved: int
    rng: random.Random
    _change_lock: asyncio.Lock
    _persist: Persist
    #: the task completing a stuck change, while one runs (:meth:`complete_stuck`)
    _completer: asyncio.Task[None] | None = None
    #: this node's jitter for the pending change (its cid, the draw): drawn once per change, as a
    #: draw every tick made the wait the least of many draws, about STUCK_S on every node alike
    _stuck_jitter: tuple[Any, float] | None = None

    def send(self, dst: str, msg: dict[str, Any]) -> None:
        raise NotImplementedError

    async def ask(self, dsts: list[str], msg: dict[str, Any], enough: Callable[[dict[str, Any]], bool],
                  deadline: float, what: str = "answers", first: int | None = None) -> dict[str, Any]:
        raise NotImplementedError

    async def _learn(self, ring: dict[str, Any]) -> None:
        """Adopt (and persist) a committed ring newer than ours, gossiped or in a replica's refusal."""
        epoch = ring.get("epoch")
        if isinstance(epoch, int) and epoch > self.epoch and isinstance(ring.get("members"), list):
            self._adopt(ring["members"], epoch, ring.get("cid"))
            await self._persist("__ring__", self._ring_record())

    def _ring_record(self) -> dict[str, Any]:
        """The committed ring as persisted and gossiped; with the pending change once handed over."""
        rec: dict[str, Any] = {"members": list(self.ring.members), "epoch": self.epoch, "cid": self.ring_cid}
        if self.pending is not None and self.pending.get("handover"):
            rec["pending"] = {k: self.pending[k] for k in ("members", "epoch", "cid", "handover")}
        return rec

    def _refuse(self, msg: dict[str, Any], src: str, write: bool) -> bool:
        """Answer a request made under an older configuration with our ring instead (:mod:`.fence`)."""
        if not fence.refuses(msg.get("cfg"), self.epoch, self.pending, write):
            return False
        ring = {k: v for k, v in self._ring_record().items() if k != "pending"}
        self.send(src, {"t": "ans", "rid": msg["rid"], "rec": None, "stale": ring})
        return True

    @property
    def member(self) -> bool:
        """Whether this node is in the committed ring (a joining node is not, until the commit)."""
        return self.name in self.ring.members

    def view(self) -> dict[str, Any]:
        return {"members": list(self.ring.members), "version": self.epoch, "pending": self.next_ring is not None,
                "member": self.member, "moved": self.moved}

    async def change_membership(self, action: str, node: str, deadline: float) -> list[str]:
        """Add or remove a node for good: joint quorums, hand data over, then move ownership.

        While joint, every quorum needs a majority of the old *and* of the new
        replicas, so nothing written during the handover can be missed after it.
        One change at a time, cluster-wide: a node already joint for another
        change answers ``busy`` to the joint step (the change is refused); a
        change left joint by a coordinator that died or was cut off is completed
        by the next coordinator (handover and commit are always safe to repeat),
        never abandoned half-way, since some nodes may already have committed it."""
        if node not in self.all_nodes:
            raise ValueError(f"unknown node {node!r}: it must be one of the configured peers")
        if action not in ("join", "leave"):
            raise ValueError("admin needs action join|leave")
        if not self.member:
            raise NotMember(f"{self.name} is not a member of the ring")
        async with self._change_lock:
            while True:
                try:
                    return await self._change_once(action, node, deadline)
                except ChangeRefused as e:
                    # another coordinator's change is in flight: back off and try again (it may
                    # have done ours meanwhile) while a whole change still fits before the deadline
                    if "change-in-progress" not in str(e) or deadline - time.monotonic() < RETRY_MARGIN_S:
                        raise
                    await asyncio.sleep(self.rng.uniform(0.2, 0.6))

    async def _change_once(self, action: str, node: str, deadline: float) -> list[str]:
        if not self.member:
            raise NotMember(f"{self.name} is not a member of the ring")
        members = set(self.ring.members)
        if (action == "join") == (node in members):
            return sorted(members)  # already so: nothing to change
        members = members | {node} if action == "join" else members - {node}
        if not members:
            raise ValueError("a leave must leave someone behind")
        change: dict[str, Any] = {"members": sorted(members), "epoch": self.epoch + 1,
                                  "cid": f"{self.name}:{self.epoch + 1}:{self.rng.randrange(1 << 30)}"}
        everyone = sorted(set(self.ring.members) | members)
        if self.bug == "no-handover":
            # The mistake: ownership moves at once; nobody hands the data over.
            await self._drive(change, everyone, ("commit",), deadline)
        else:
            await self._drive(change, everyone, ("joint", "handover", "commit"), deadline)
        self.log.info("membership epoch %d: %s", change["epoch"], change["members"])
        return list(change["members"])

    async def _drive(self, change: dict[str, Any], everyone: list[str], steps: tuple[str, ...],
                     deadline: float) -> None:
        for step in steps:
            answers = await self.ask(everyone, {"t": step, **change}, lambda a: len(a) == len(everyone), deadline,
                                     what=f"{step} acknowledgement from all of {everyone}")
            if step != "joint":
                continue
            stale = [a for a in answers.values() if isinstance(a, dict) and "stale" in a]
            busy = [a["busy"] for a in answers.values() if isinstance(a, dict) and "busy" in a]
            if stale:
                # a ring of this change's epoch or later is committed, maybe this very change (another
                # driver's commit on its way to the rest): not aborted, as a replica that handed over and
                # is then aborted takes old-ring writes until the commit reaches it; the nodes joint for
                # it learn the newer ring by gossip, which ends their change
                raise ChangeRefused("stale-epoch: another change committed first")
            if busy:
                self._abort(change, everyone)
                if max(float(b.get("age_s", 0.0)) for b in busy) >= STUCK_S:
                    other = max(busy, key=lambda b: float(b.get("age_s", 0.0)))
                    old = {k: other[k] for k in ("members", "epoch", "cid")}
                    them = sorted(set(self.ring.members) | set(old["members"]))
                    await self._drive(old, them, ("joint", "handover", "commit"), deadline)
                    raise ChangeRefused(f"change-in-progress: completed the stuck change to {old['members']} first")
                raise ChangeRefused("change-in-progress")

    def complete_stuck(self) -> None:
        """Every tick: a change this node is joint for, whose coordinator has been silent for
        :data:`STUCK_S` (and a jitter of this node's), is driven to its end from here.

        A coordinator whose admin request ran out of time (a change sent through the small side of a
        partition, acknowledged by everyone only once the cut healed, its handover then outlasting
        the request) or that was killed leaves every node joint, and a joint change is never
        abandoned (some nodes may have committed it). Until this, only the next admin request
        completed it; with none coming (the harness found the nodes still members and asked for
        nothing) the ring stayed joint for good: every quorum two quorums, and the cluster never
        back to one settled configuration (ring seed 5 under membership,partition,kill: exit 255
        after the final heal's 60 s). Joint, handover and commit are all safe to repeat, so two
        nodes completing the same change at once only do some work twice; a node joint for
        another change answers busy and this one is aborted (it never committed anywhere)."""
        p = self.pending
        if p is None or (self._completer is not None and not self._completer.done()):
            return
        if self._stuck_jitter is None or self._stuck_jitter[0] != p["cid"]:
            self._stuck_jitter = (p["cid"], self.rng.uniform(0.0, STUCK_JITTER_S))
        if time.monotonic() - float(p["since"]) < STUCK_S + self._stuck_jitter[1]:
            return
        change = {k: p[k] for k in ("members", "epoch", "cid")}
        self._completer = asyncio.get_running_loop().create_task(self._complete(change))

    async def _complete(self, change: dict[str, Any]) -> None:
        async with self._change_lock:  # not beside an admin change of this node's own
            if self.pending is None or self.pending["cid"] != change["cid"]:
                return  # completed or aborted meanwhile
            everyone = sorted(set(self.ring.members) | set(change["members"]))
            self.log.info("completing the stuck change to %s (epoch %s)", change["members"], change["epoch"])
            try:
                await self._drive(change, everyone, ("joint", "handover", "commit"), time.monotonic() + COMPLETE_S)
            except Exception as e:  # noqa: BLE001 - unreachable nodes, a newer change: tried again later
                self.log.info("stuck change to %s not completed: %s: %s", change["members"], type(e).__name__, e)
                if self.pending is not None and self.pending["cid"] == change["cid"]:
                    self.pending["since"] = time.monotonic()  # its next attempt after another STUCK_S
                return
            self.log.info("membership epoch %d: %s (completed)", change["epoch"], change["members"])

    def _abort(self, change: dict[str, Any], everyone: list[str]) -> None:
        for n in everyone:
            self.send(n, {"t": "abort", "cid": change["cid"], "rid": 0})

    def _adopt(self, members: list[str], epoch: int, cid: str | None) -> None:
        """Take a committed ring newer than ours (persisted by the caller)."""
        self.ring = HashRing(members, self.vnodes)
        self.epoch, self.ring_cid = epoch, cid
        if self.pending is not None and int(self.pending["epoch"]) <= epoch:
            self.pending, self.next_ring = None, None

    async def _on_joint(self, msg: dict[str, Any], src: str) -> None:
        rec: Any = None
        epoch = int(msg["epoch"])
        if epoch <= self.epoch:
            rec = {"stale": self.epoch}
        elif self.pending is not None and self.pending["cid"] != msg["cid"]:
            rec = {"busy": {**{k: self.pending[k] for k in ("members", "epoch", "cid")},
                            "age_s": time.monotonic() - float(self.pending["since"])}}
        elif self.pending is None:
            self.pending = {"members": msg["members"], "epoch": epoch, "cid": msg["cid"], "since": time.monotonic()}
            self.next_ring = HashRing(msg["members"], self.vnodes)
        else:
            self.pending["since"] = time.monotonic()  # its coordinator is still at it
        self.send(src, {"t": "ans", "rid": msg["rid"], "rec": rec})

    async def _on_abort(self, msg: dict[str, Any], src: str) -> None:
        if self.pending is not None and self.pending["cid"] == msg["cid"]:
            self.pending, self.next_ring = None, None

    async def _on_handover(self, msg: dict[str, Any], src: str) -> None:
        if self.pending is not None and self.pending["cid"] == msg.get("cid"):
            self.pending["since"] = time.monotonic()  # its coordinator is still at it
        if self.pending is not None and self.pending["cid"] == msg.get("cid") and not self.pending.get("handover"):
            # From here on, puts of coordinators not yet joint are refused (:mod:`.fence`): set before
            # the scan below, so none lands after it unseen (a put's check and its write to ``data``
            # happen in one step); persisted so a restart keeps refusing them until the commit
            self.pending["handover"] = True
            await self._persist("__ring__", self._ring_record())
        new = HashRing(msg["members"], self.vnodes)
        deadline = time.monotonic() + HANDOVER_PUSH_S
        pushes = []
        for k, rec in list(self.data.items()):
            if k.startswith("__") or rec is None:
                continue
            reps = new.replicas(k, self.n)
            # Pushed unless the replicas are the same: also when they only shrink (a ring of N members or
            # fewer losing one), as a write acknowledged by two of three may sit on one of the two left,
            # short of their majority, and the next removal would drop it (skipped as "no new replica",
            # a correct ring lost 330 of 664 acknowledged set elements shrunk to one member)
            if set(reps) == set(self.ring.replicas(k, self.n)):
                continue
            pushes.append(self.ask(reps, {"t": "put", "key": k, "rec": rec}, _majority_of(reps), deadline))
        await asyncio.gather(*pushes)
        self.moved += len(pushes)
        self.log.info("handover for epoch %s: %d records to new replicas", msg["epoch"], len(pushes))
        self.send(src, {"t": "ans", "rid": msg["rid"], "rec": None})

    async def _on_commit(self, msg: dict[str, Any], src: str) -> None:
        if int(msg["epoch"]) > self.epoch:
            self._adopt(msg["members"], int(msg["epoch"]), msg.get("cid"))
            await self._persist("__ring__", self._ring_record())
            self._drop_unowned()
        self.send(src, {"t": "ans", "rid": msg["rid"], "rec": None})

    def _drop_unowned(self) -> None:
        """Forget (in memory) the records of keys this node no longer replicates, as a rebalancing
        store frees the space it handed over. Safe only because the handover came first: with the
        ``no-handover`` bug this is where keys vanish. The log keeps them (a restart brings them
        back, older than anything written since, so harmless)."""
        if self.next_ring is not None:
            return  # joint for a newer change: still a replica under one of the two rings
        for k in [k for k in self.data if not k.startswith("__")]:
            if self.name not in self.ring.replicas(k, self.n):
                del self.data[k]
