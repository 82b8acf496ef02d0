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
from collections.abc import Callable
from typing import Any

from splitbrain.systems.common.node import QUIET
from splitbrain.systems.common.peers import send_or_loop_back
from splitbrain.systems.ring import fence, values
from splitbrain.systems.ring.detector import FailureDetector
from splitbrain.systems.ring.placement import DEFAULT_VNODES, HashRing
from splitbrain.systems.ring.reconfig import NotMember, Persist, Reconfiguration

HEARTBEAT_S = 0.2
SUSPECT_S = 1.0
WAVE_S = 0.25  # after this, also ask the other replicas
RESEND_S = 0.5
CLIENT_TIMEOUT_S = 2.5
ADMIN_TIMEOUT_S = 8.0
ID_BLOCK = 1000

Send = Callable[[str, dict[str, Any]], None]


class Unavailable(Exception):
    """No quorum answered in time: the outcome of a write is unknown."""


class StaleConfig(Exception):
    """A replica refused a request made under an older configuration (:mod:`.fence`): ask again."""

    def __init__(self, ring: dict[str, Any]) -> None:
        self.ring = ring
        super().__init__(f"a replica is at ring epoch {ring.get('epoch')}")


def _majorities_of(groups: list[list[str]]) -> Callable[[dict[str, Any]], bool]:
    """A quorum of every group (two while a membership change is joint)."""
    need = [(set(g), len(g) // 2 + 1) for g in groups]
    return lambda answers: all(len(g & answers.keys()) >= q for g, q in need)


class RingNode(Reconfiguration):
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
        # membership (see :class:`~.reconfig.Reconfiguration`): no change in flight, the initial ring
        self.next_ring: HashRing | None = None
        self.pending: dict[str, Any] | None = None
        self.epoch = 0
        self.ring_cid: str | None = None
        self._change_lock = asyncio.Lock()
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
        self.complete_stuck()
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
