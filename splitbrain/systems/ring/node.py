"""One ring node: replica of the keys the ring gives it, coordinator of any client request.

Transport-agnostic like the Paxos node: it is given ``send(dst, msg)``
(one-way, lossy) and ``persist(key, record)`` (returns once fsync'd). Replica
requests (``get``/``put``) carry a request id and are answered with a message
back; :meth:`RingNode.quorum` re-sends to silent replicas until it has the
answers it needs or the client's deadline passes.

A put merges (:func:`values.merge`) and reaches disk before its ack, so an
acknowledged write survives kill -9 on every node of its quorum.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from splitbrain.systems.common.node import QUIET
from splitbrain.systems.common.peers import send_or_loop_back
from splitbrain.systems.ring import fence, values
from splitbrain.systems.ring.detector import FailureDetector
from splitbrain.systems.ring.placement import DEFAULT_VNODES, HashRing

HEARTBEAT_S = 0.2
SUSPECT_S = 1.0
WAVE_S = 0.25  # after this, also ask the other replicas
RESEND_S = 0.5
CLIENT_TIMEOUT_S = 2.5
ADMIN_TIMEOUT_S = 8.0
RETRY_MARGIN_S = 4.0  # a refused change is retried only while this much of its deadline is left
STUCK_S = 3.0  # a joint change older than this, whose coordinator went silent, is completed by the next one
ID_BLOCK = 1000

Send = Callable[[str, dict[str, Any]], None]
Persist = Callable[[str, Any], Awaitable[None]]


class Unavailable(Exception):
    """No quorum answered in time: the outcome of a write is unknown."""


class NotMember(Exception):
    """This node is not in the committed ring: it serves no client (definite: nothing was done)."""


class ChangeRefused(Exception):
    """A membership change that definitely did not happen (another one is in flight)."""


class StaleConfig(Exception):
    """A replica refused a request made under an older configuration (:mod:`.fence`): ask again."""

    def __init__(self, ring: dict[str, Any]) -> None:
        self.ring = ring
        super().__init__(f"a replica is at ring epoch {ring.get('epoch')}")


def _majority_of(group: list[str]) -> Callable[[dict[str, Any]], bool]:
    members, q = set(group), len(group) // 2 + 1
    return lambda answers: len(members & answers.keys()) >= q


def _majorities_of(groups: list[list[str]]) -> Callable[[dict[str, Any]], bool]:
    """A quorum of every group (two while a membership change is joint)."""
    need = [(set(g), len(g) // 2 + 1) for g in groups]
    return lambda answers: all(len(g & answers.keys()) >= q for g, q in need)


class RingNode:
    def __init__(
        self,
        name: str,
        peers: list[str],
        *,
        send: Send,
        persist: Persist,
        options: dict[str, Any] | None = None,
        log: logging.Logger = QUIET,
        bug: str | None = None,
    ) -> None:
        opts = options or {}
        self.name = name
        self.all_nodes = sorted({name, *peers})
        self._send, self._persist, self.log = send, persist, log
        self.bug = bug
        self.n = int(opts.get("replicas", 3))
        self.vnodes = int(opts.get("vnodes", DEFAULT_VNODES))
        self.ring = HashRing(opts.get("members") or self.all_nodes, self.vnodes)
        self.next_ring: HashRing | None = None  # joint mode during a membership change
        #: the change this node is joint for: members, epoch, cid (change id), since (monotonic)
        self.pending: dict[str, Any] | None = None
        self.epoch = 0
        #: the change that committed our ring (None: the initial ring), for :func:`fence.refuses`
        self.ring_cid: str | None = None
        self._change_lock = asyncio.Lock()
        #: records this node pushed to new replicas in handovers (the figure "data moved per change")
        self.moved = 0
        self.data: dict[str, Any] = {}
        self.detector = FailureDetector([p for p in self.all_nodes if p != name], SUSPECT_S, time.monotonic())
        self._rids = itertools.count(1)
        self._pending: dict[int, dict[str, Any]] = {}
        self._incr_locks: dict[str, asyncio.Lock] = {}
        self._next_id = 0
        self._id_limit = 0
        self.rng = random.Random()

    # -- restart ---------------------------------------------------------------

    def restore(self, records: list[tuple[str, Any]], wiped: bool = False) -> None:
        """Replay the node's log. ``wiped``: the harness emptied the data dir of a removed member;
        with no ring of its own yet it joins as a non-member (epoch -1) and learns the ring by gossip,
        instead of starting with the initial ring of every node."""
        if wiped and not any(k == "__ring__" for k, _ in records):
            self.ring, self.epoch = HashRing([], self.vnodes), -1
        for k, rec in records:
            if k == "__ids__":
                self._next_id = self._id_limit = max(self._id_limit, int(rec))
            elif k == "__ring__":
                self.ring = HashRing(rec["members"], self.vnodes)
                self.epoch, self.ring_cid = int(rec["epoch"]), rec.get("cid")
                # a change this node had handed its data over for stays joint across a restart (it
                # must keep refusing writes the handover cannot have seen); committed later by gossip
                p = rec.get("pending")
                self.pending = {**p, "since": time.monotonic()} if p and int(p["epoch"]) > self.epoch else None
                self.next_ring = HashRing(p["members"], self.vnodes) if self.pending else None
            elif k.startswith("__slot__"):
                self.data[k] = max(self.data.get(k) or 0, int(rec))
            else:
                self.data[k] = values.merge(self.data.get(k), rec)

    # -- replica side ------------------------------------------------------------

    def send(self, dst: str, msg: dict[str, Any]) -> None:
        send_or_loop_back(self.name, dst, msg, self._send, self.on_message)

    async def on_message(self, msg: dict[str, Any]) -> None:
        src = msg.get("from")
        if src is not None and src != self.name:
            self.detector.heard(src, time.monotonic())
        handler = getattr(self, "_on_" + str(msg.get("t")), None)
        if handler is not None:
            await handler(msg, src)

    async def _on_hb(self, msg: dict[str, Any], src: str) -> None:
        # Gossip of the committed ring: a node that missed a commit (cut off, restarted, wiped)
        # learns it from anyone. Safe: a ring is only committed after its data was handed over.
        await self._learn(msg)

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
        if not fence.refuses(msg.get("cfg"), self.epoch, self.ring_cid, self.pending, write):
            return False
        ring = {k: v for k, v in self._ring_record().items() if k != "pending"}
        self.send(src, {"t": "ans", "rid": msg["rid"], "rec": None, "stale": ring})
        return True

    async def _on_get(self, msg: dict[str, Any], src: str) -> None:
        if not self._refuse(msg, src, write=False):
            self.send(src, {"t": "ans", "rid": msg["rid"], "rec": self.data.get(msg["key"])})

    async def _on_put(self, msg: dict[str, Any], src: str) -> None:
        if self._refuse(msg, src, write=True):
            return
        await self.store(msg["key"], msg["rec"])
        self.send(src, {"t": "ans", "rid": msg["rid"], "rec": None})

    async def store(self, key: str, rec: Any) -> None:
        old = self.data.get(key)
        new = values.merge(old, rec)
        if new != old:
            self.data[key] = new
            await self._persist(key, new)

    async def _on_ans(self, msg: dict[str, Any], src: str) -> None:
        call = self._pending.get(msg["rid"])
        if call is not None and src in call["dsts"]:
            if isinstance(msg.get("stale"), dict):
                call["refused"][src] = msg["stale"]
                call["event"].set()
                return
            call["answers"][src] = msg.get("rec")
            if call["done"]():
                call["event"].set()

    # -- coordinator side -----------------------------------------------------------

    def tick(self) -> None:
        for p in self.all_nodes:
            if p != self.name:
                self.send(p, {"t": "hb", "epoch": self.epoch, "members": list(self.ring.members),
                              "cid": self.ring_cid})

    def handoff(self) -> None:
        """Push the records we hold for keys we are not a replica of to their replicas.

        Only the sloppy quorum leaves such records (hints); the correct ring hands
        data over explicitly during membership changes."""
        for k, rec in list(self.data.items()):
            if k.startswith("__"):
                continue
            reps = self.ring.replicas(k, self.n)
            if self.name not in reps:
                for r in reps:
                    self.send(r, {"t": "put", "rid": 0, "key": k, "rec": rec})

    def targets(self, key: str) -> list[list[str]]:
        """The replica groups a quorum must be drawn from (two while a membership change is joint)."""
        rings = [self.ring] if self.next_ring is None else [self.ring, self.next_ring]
        if self.bug == "sloppy-quorum":
            # The mistake: any reachable nodes will do, in ring order (hinted handoff).
            now = time.monotonic()
            walk = [m for m in self.ring.walk(key) if m == self.name or not self.detector.suspected(m, now)]
            return [walk[: self.n] or self.ring.walk(key)[: self.n]]
        return [r.replicas(key, self.n) for r in rings]

    def config(self) -> fence.Config:
        """The configuration our replica groups are drawn from, sent with every client get/put."""
        return fence.config(self.epoch, self.pending)

    async def quorum(self, key: str, msg: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Send ``msg`` to the key's replicas until a majority of each group answered; asked again
        with fresh groups when a replica refuses our configuration as older than its own."""
        while True:
            groups = self.targets(key)
            dsts = sorted({d for g in groups for d in g})
            # Ask just a random quorum of the trusted replicas first, the others only if
            # those stay silent: a quorum is all ABD needs, and it halves the load.
            first = len(groups[0]) // 2 + 1 if len(groups) == 1 else None
            cfg = self.config()
            try:
                return await self.ask(
                    dsts,
                    {**msg, "key": key, "cfg": cfg},
                    _majorities_of(groups),
                    deadline,
                    what=f"a quorum of {groups} for {key}",
                    first=first,
                )
            except StaleConfig as e:
                await self._learn(e.ring)
                if self.config() == cfg:  # joint soon: the change's coordinator is telling everyone
                    await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    async def ask(
        self,
        dsts: list[str],
        msg: dict[str, Any],
        enough: Callable[[dict[str, Any]], bool],
        deadline: float,
        what: str = "answers",
        first: int | None = None,
    ) -> dict[str, Any]:
        """Send ``msg`` to ``dsts`` (the ``first`` trusted ones, or all trusted ones) and, after
        a short wait, to the rest, re-sending to the silent ones until ``enough(answers)``
        holds; raises :class:`Unavailable` at the deadline."""
        rid = next(self._rids)
        answers: dict[str, Any] = {}
        #: replicas that refused our configuration (:mod:`.fence`): their committed rings
        refused: dict[str, dict[str, Any]] = {}
        event = asyncio.Event()
        self._pending[rid] = {"dsts": set(dsts), "answers": answers, "refused": refused,
                              "done": lambda: enough(answers), "event": event}
        body = {**msg, "rid": rid}
        try:
            now = time.monotonic()
            trusted = [d for d in dsts if d == self.name or not self.detector.suspected(d, now)]
            self.rng.shuffle(trusted)  # spread read load over the replicas
            order = trusted + [d for d in dsts if d not in trusted]
            for d in trusted[:first]:
                self.send(d, body)
            waves = 0
            while not enough(answers):
                if refused:
                    newest = max(refused.values(), key=lambda r: int(r.get("epoch", -1)))
                    if int(newest.get("epoch", -1)) > self.epoch or self.config() != msg.get("cfg"):
                        raise StaleConfig(newest)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Unavailable(f"no {what}")
                try:
                    await asyncio.wait_for(event.wait(), min(left, WAVE_S if waves == 0 else RESEND_S))
                    event.clear()
                    woke = bool(refused) and waves == 0  # a refusal: ask the others at once
                except TimeoutError:
                    woke = True
                if woke and not enough(answers):
                    waves += 1
                    for d in order:
                        if d not in answers:
                            self.send(d, body)
            return answers
        finally:
            del self._pending[rid]

    # -- membership ----------------------------------------------------------------------

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
            if stale or busy:
                self._abort(change, everyone)
                if busy and max(float(b.get("age_s", 0.0)) for b in busy) >= STUCK_S:
                    other = max(busy, key=lambda b: float(b.get("age_s", 0.0)))
                    old = {k: other[k] for k in ("members", "epoch", "cid")}
                    them = sorted(set(self.ring.members) | set(old["members"]))
                    await self._drive(old, them, ("joint", "handover", "commit"), deadline)
                    raise ChangeRefused(f"change-in-progress: completed the stuck change to {old['members']} first")
                raise ChangeRefused("change-in-progress" if busy else "stale-epoch: another change committed first")

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
        self.send(src, {"t": "ans", "rid": msg["rid"], "rec": rec})

    async def _on_abort(self, msg: dict[str, Any], src: str) -> None:
        if self.pending is not None and self.pending["cid"] == msg["cid"]:
            self.pending, self.next_ring = None, None

    async def _on_handover(self, msg: dict[str, Any], src: str) -> None:
        if self.pending is not None and self.pending["cid"] == msg.get("cid") and not self.pending.get("handover"):
            # From here on, puts of coordinators not yet joint are refused (:mod:`.fence`): set before
            # the scan below, so none lands after it unseen (a put's check and its write to ``data``
            # happen in one step); persisted so a restart keeps refusing them until the commit
            self.pending["handover"] = True
            await self._persist("__ring__", self._ring_record())
        new = HashRing(msg["members"], self.vnodes)
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        pushes = []
        for k, rec in list(self.data.items()):
            if k.startswith("__") or rec is None:
                continue
            reps = new.replicas(k, self.n)
            if set(reps) <= set(self.ring.replicas(k, self.n)):
                continue  # no new replica: nothing to hand over
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

    # -- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """No leader in a ring: every node is a ``member`` (or ``left``); the ring's epoch is
        the term, and the peers its failure detector suspects say whom it cannot hear."""
        now = time.monotonic()
        role = "member" if self.name in self.ring.members else "left"
        return {"role": role, "term": self.epoch, "term_name": "epoch", "leader": None,
                "suspects": sorted(p for p in self.detector.last_heard if self.detector.suspected(p, now))}

    # -- client operations ----------------------------------------------------------------

    async def handle(self, op: str, key: Any, value: Any) -> Any:
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        if op == "members":
            return self.view()
        if op == "admin":
            if not isinstance(value, dict):
                raise ValueError("admin needs a value {action, node}")
            return await self.change_membership(str(value.get("action")), str(value.get("node")),
                                                time.monotonic() + ADMIN_TIMEOUT_S)
        if not self.member:
            raise NotMember(f"{self.name} is not a member of the ring {list(self.ring.members)}")
        if op == "generate":
            return await self.generate()
        k = json.dumps(key, sort_keys=True)
        if op == "read":
            return await self.read(k, deadline)
        if op == "write":
            return await self.write(k, value, deadline)
        if op == "add":
            return await self.add(k, value, deadline)
        if op == "incr":
            return await self.incr(k, value, deadline)
        raise NotImplementedError(op)

    async def read(self, k: str, deadline: float) -> Any:
        answers = await self.quorum(k, {"t": "get"}, deadline)
        recs = list(answers.values())
        rec = values.newest(recs)
        if self.bug != "no-write-back" and rec is not None and any(r != rec for r in recs):
            await self.quorum(k, {"t": "put", "rec": rec}, deadline)  # ABD write-back
        return values.client_value(rec)

    async def write(self, k: str, value: Any, deadline: float) -> Any:
        if self.bug == "lww-clock":
            rec = {"ts": [time.time(), self.name, next(self._rids)], "value": value}
        else:
            answers = await self.quorum(k, {"t": "get"}, deadline)
            tag = values.tag_of(values.newest(list(answers.values())))
            rec = {"tag": [int(tag[0]) + 1, self.name, next(self._rids)], "value": value}
        await self.quorum(k, {"t": "put", "rec": rec}, deadline)
        return value

    async def add(self, k: str, element: Any, deadline: float) -> Any:
        if self.bug == "lww-clock":
            answers = await self.quorum(k, {"t": "get"}, deadline)
            old = values.client_value(values.newest(list(answers.values()))) or []
            rec = {"ts": [time.time(), self.name], "value": [*old, element], "kind": "set"}
        else:
            rec = {"set": [element]}
        await self.quorum(k, {"t": "put", "rec": rec}, deadline)
        return element

    async def incr(self, k: str, amount: Any, deadline: float) -> Any:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError("incr needs an integer")
        lock = self._incr_locks.setdefault(k, asyncio.Lock())
        async with lock:  # our slot of this counter has one writer: us, one at a time
            if self.bug == "lww-clock":
                answers = await self.quorum(k, {"t": "get"}, deadline)
                newest = values.newest(list(answers.values()))
                rec = {"ts": [time.time(), self.name], "value": (values.client_value(newest) or 0) + amount}
            else:
                # No read needed: our slot's total lives durably here, the only writer.
                mine = "__slot__" + k
                cur = self.data.get(mine) or 0
                # Remember our slot durably before anyone sees it: a restart must never reuse a lower total.
                self.data[mine] = cur + amount
                await self._persist(mine, cur + amount)
                rec = {"slots": {self.name: cur + amount}}
            await self.quorum(k, {"t": "put", "rec": rec}, deadline)
        return amount

    async def generate(self) -> str:
        if self._next_id >= self._id_limit:
            self._id_limit = self._next_id + ID_BLOCK
            await self._persist("__ids__", self._id_limit)  # reserve a block: ids never repeat across restarts
        n = self._next_id
        self._next_id += 1
        return f"{self.name}-{n}"
