"""One Paxos node: acceptor, proposer and learner, driven by peer messages and a tick.

The node is transport-agnostic: it is given ``send(dst, msg)`` (one-way,
fire-and-forget: a cut link just loses the message), ``persist(records)`` (a
coroutine that returns once the records are fsync'd), ``remember(slot,
value)`` (a best-effort log of chosen values, re-learned by catch-up when
lost), and ``apply(cmd, slot)`` (the deterministic state machine). Every lost
message is recovered by retransmission on the tick: prepares and accepts are
re-sent to whoever has not answered.

Learning is lazy, as in most Multi-Paxos implementations: the leader learns a
slot when a majority accepted it, and tells the others with its next heartbeat
(``chosen`` up to slot s, in ballot b) -- at once, the nodes whose clients wait
on a slot it just applied. A follower that accepted slot s in ballot b knows
its value; otherwise it asks the leader to catch it up.

Every node answers its own clients from its own state machine, once it has
applied their command in log order (the replicas of Paxos Made Moderately
Complex answer clients, not the leader). A client therefore sees the log as the
node it asked learned it: the same log everywhere in a correct Paxos, and a
replica that learned another value for a slot answers from what it learned.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from splitbrain.systems.common.node import QUIET
from splitbrain.systems.common.peers import send_or_loop_back
from splitbrain.systems.paxos.core import NOOP, Acceptor, Ballot, Leadership, Learner, ballot

HEARTBEAT_S = 0.1
ELECTION_S = (0.5, 1.0)
RETRANSMIT_S = 0.09  # every tick: a healed link sees our accepts again at once
CATCHUP_BATCH = 400
CLIENT_TIMEOUT_S = 2.5

Send = Callable[[str, dict[str, Any]], None]
Persist = Callable[[list[Any]], Awaitable[None]]


class PaxosNode:
    def __init__(
        self,
        name: str,
        peers: list[str],
        *,
        send: Send,
        persist: Persist,
        apply: Callable[[dict[str, Any], int], dict[str, Any]],
        remember: Callable[[int, Any], None] = lambda s, v: None,
        log: logging.Logger = QUIET,
        bug: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.peers = sorted(peers)
        self.members = sorted([name, *peers])
        self._send, self._persist, self._apply, self._remember, self.log = send, persist, apply, remember, log
        self.bug = bug
        self.rng = rng or random.Random()
        self.acceptor = Acceptor(bug=bug)
        self.learner = Learner()
        self.leader: str | None = None
        self.leader_ballot: Ballot = (0, "")
        self.leadership: Leadership | None = None
        # Ballots we led and gave up: a majority accepting one of their proposals still
        # makes it chosen, so late acceptances are still learned from.
        self.retired: dict[Ballot, Leadership] = {}
        self.max_round = 0
        self.last_contact = time.monotonic()
        self.election_timeout = self.rng.uniform(*ELECTION_S)
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.queued: list[dict[str, Any]] = []  # commands waiting for our phase 1
        # Our clients' commands not yet applied: re-sent to each new leader, since the
        # old one may have died holding them. Applying dedups by command id, so a
        # command proposed twice still takes effect once.
        self.mine: dict[str, dict[str, Any]] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count()
        self._incarnation = time.time_ns()
        self._sent_at: dict[Any, float] = {}
        self._last_catchup = 0.0
        self._seen_state: tuple[str, int, list[Any], str | None] | None = None
        self._seen_at = time.monotonic()

    # -- restart --------------------------------------------------------------

    def restore(self, acceptor_records: list[Any], chosen: list[tuple[int, Any]]) -> None:
        for r in acceptor_records:
            self.acceptor.replay(r)
        self.max_round = self.acceptor.promised[0]
        for slot, value in chosen:
            self.learner.learn(slot, value)
        self._apply_ready()

    # -- plumbing ---------------------------------------------------------------

    def send(self, dst: str, msg: dict[str, Any]) -> None:
        send_or_loop_back(self.name, dst, msg, self._send, self.on_message)

    def broadcast(self, msg: dict[str, Any]) -> None:
        for m in self.members:
            self.send(m, msg)

    def _see(self, b: Ballot) -> None:
        self.max_round = max(self.max_round, b[0])
        lead = self.leadership
        if lead is not None and b > lead.ballot:
            self.log.info("stepping down: saw ballot %s above ours %s", list(b), list(lead.ballot))
            self.retired[lead.ballot] = lead
            while len(self.retired) > 4:
                del self.retired[min(self.retired)]
            self.leadership = None
            self.last_contact = time.monotonic()

    def _follow(self, b: Ballot) -> None:
        if b >= self.leader_ballot:
            changed = self.leader != b[1]
            self.leader, self.leader_ballot = b[1], b
            if changed:
                self.log.info("following %s at ballot %s", b[1], list(b))
                for cmd in list(self.mine.values()):
                    self._route(cmd, hops=0)
        if b == self.leader_ballot:
            self.last_contact = time.monotonic()

    # -- status ---------------------------------------------------------------

    def _state(self) -> tuple[str, int, list[Any], str | None]:
        lead = self.leadership
        if lead is not None:
            role, b = ("leader" if lead.active else "candidate"), lead.ballot
        else:
            role, b = "follower", self.leader_ballot
        return role, b[0], list(b), self.leader

    def _note_state(self) -> None:
        """Remember when role, ballot or leader last changed (checked every tick and at each status)."""
        state = self._state()
        if state != self._seen_state:
            self._seen_state, self._seen_at = state, time.monotonic()

    def status(self) -> dict[str, Any]:
        """Role (``leader`` once phase 1 of our ballot is done, ``candidate`` during it,
        ``follower`` otherwise), the ballot's round as ``term``, the leader we follow, the first
        slot we have not learned as ``commit``, and ``age_s``: how long ago role, ballot or leader
        changed, to the tick (so a poller every 0.2 s still dates a change closely)."""
        self._note_state()
        role, rnd, b, leader = self._state()
        return {"role": role, "term": rnd, "ballot": b, "leader": leader, "commit": self.learner.first_unlearned,
                "term_name": "ballot", "age_s": round(time.monotonic() - self._seen_at, 4)}

    # -- clients ---------------------------------------------------------------

    async def submit(self, op: dict[str, Any]) -> dict[str, Any]:
        """Run one client command through the log; returns the state machine's answer.

        Raises TimeoutError when the outcome is unknown."""
        cmd = {**op, "cid": f"{self.name}:{self._incarnation}:{next(self._ids)}", "origin": self.name}
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[cmd["cid"]] = fut
        self.mine[cmd["cid"]] = cmd
        try:
            self._route(cmd, hops=0)
            return await asyncio.wait_for(fut, CLIENT_TIMEOUT_S)
        finally:
            self.waiting.pop(cmd["cid"], None)
            self.mine.pop(cmd["cid"], None)

    def _route(self, cmd: dict[str, Any], hops: int) -> None:
        lead = self.leadership
        if lead is not None and lead.active:
            self._propose(cmd)
        elif lead is not None or self.leader in (None, self.name):
            self.queued.append(cmd)  # we are (or may become) the leader: wait for phase 1
        elif hops < 3:
            self.send(self.leader, {"t": "forward", "cmd": cmd, "hops": hops + 1})

    def _propose(self, cmd: dict[str, Any]) -> None:
        lead = self.leadership
        assert lead is not None
        slot = lead.propose(cmd)
        self._send_accept(lead, slot, cmd)

    def _send_accept(self, lead: Leadership, slot: int, value: Any) -> None:
        self._sent_at[("a", slot)] = time.monotonic()
        msg = {"t": "accept", "b": list(lead.ballot), "slot": slot, "v": value}
        for m in self.members:
            prop = lead.inflight.get(slot)
            if prop is not None and m not in prop.acks:
                self.send(m, msg)

    # -- the tick ---------------------------------------------------------------

    def tick(self) -> None:
        self._note_state()
        now = time.monotonic()
        lead = self.leadership
        if lead is not None and lead.active:
            upto = self.learner.first_unlearned - 1
            self.broadcast({"t": "heartbeat", "b": list(lead.ballot), "upto": upto})
            for slot, prop in list(lead.inflight.items()):
                if now - self._sent_at.get(("a", slot), 0) > RETRANSMIT_S:
                    self._send_accept(lead, slot, prop.value)
            return
        if lead is not None:  # phase 1 in progress
            if now - self._sent_at.get("prepare", 0) > self.election_timeout:
                self._start_election()  # a stalled attempt starts over, higher
            elif now - self._sent_at.get("prepare-rt", 0) > RETRANSMIT_S:
                self._sent_at["prepare-rt"] = now
                msg = {"t": "prepare", "b": list(lead.ballot), "from_slot": lead.first_slot}
                for m in self.members:
                    if m not in lead.promises:
                        self.send(m, msg)
            return
        if now - self.last_contact > self.election_timeout:
            self._start_election()

    def _start_election(self) -> None:
        self.max_round += 1
        b = (self.max_round, self.name)
        self.election_timeout = self.rng.uniform(*ELECTION_S)
        lead = Leadership(b, self.learner.first_unlearned, len(self.members), bug=self.bug)
        self.leadership = lead
        self.leader, self.leader_ballot = None, (0, "")
        now = time.monotonic()
        self._sent_at["prepare"] = self._sent_at["prepare-rt"] = now
        self.log.info("starting phase 1 with ballot %s from slot %s", list(b), lead.first_slot)
        self.broadcast({"t": "prepare", "b": list(b), "from_slot": lead.first_slot})

    # -- messages ---------------------------------------------------------------

    async def on_message(self, msg: dict[str, Any]) -> None:
        handler = getattr(self, "_on_" + str(msg.get("t")), None)
        if handler is not None:
            await handler(msg, msg.get("from"))

    async def _on_prepare(self, msg: dict[str, Any], src: str) -> None:
        b = ballot(msg["b"])
        self._see(b)
        ok, records = self.acceptor.on_prepare(b, int(msg["from_slot"]))
        if not ok:
            self.send(src, {"t": "nack", "b": msg["b"], "promised": list(self.acceptor.promised)})
            return
        if src != self.name:
            self.last_contact = time.monotonic()  # a candidate is at work: do not compete yet
        payload = self.acceptor.promise_payload(int(msg["from_slot"]))
        if records:
            await self._persist(records)
        self.send(src, {"t": "promise", "b": msg["b"], "accepted": payload})

    async def _on_promise(self, msg: dict[str, Any], src: str) -> None:
        lead = self.leadership
        if lead is None or ballot(msg["b"]) != lead.ballot:
            return
        proposals = lead.on_promise(src, msg["accepted"])
        if proposals is None:
            return
        self.log.info("leading with ballot %s: re-proposing %d slots, next slot %s",
                      list(lead.ballot), len(proposals), lead.next_slot)
        self.leader, self.leader_ballot = self.name, lead.ballot
        for slot, value in proposals:
            self._send_accept(lead, slot, value)
        cmds = {c["cid"]: c for c in self.queued}
        cmds.update(self.mine)  # ours may have been sent to a leader that is gone
        self.queued = []
        for cmd in cmds.values():
            self._propose(cmd)
        self.broadcast({"t": "heartbeat", "b": list(lead.ballot), "upto": self.learner.first_unlearned - 1})

    async def _on_accept(self, msg: dict[str, Any], src: str) -> None:
        b = ballot(msg["b"])
        self._see(b)
        ok, records = self.acceptor.on_accept(b, int(msg["slot"]), msg["v"])
        if not ok:
            self.send(src, {"t": "nack", "b": msg["b"], "promised": list(self.acceptor.promised)})
            return
        self._follow(b)
        if records:
            await self._persist(records)
        self.send(src, {"t": "accepted", "b": msg["b"], "slot": msg["slot"]})

    async def _on_accepted(self, msg: dict[str, Any], src: str) -> None:
        lead = self.leadership
        b = ballot(msg["b"])
        if lead is None or b != lead.ballot:
            lead = self.retired.get(b)
        if lead is None:
            return
        slot = int(msg["slot"])
        value = lead.on_accepted(src, slot)
        if value is not None:
            self._sent_at.pop(("a", slot), None)
            self._learn(slot, value)

    async def _on_nack(self, msg: dict[str, Any], src: str) -> None:
        self._see(ballot(msg["promised"]))

    async def _on_heartbeat(self, msg: dict[str, Any], src: str) -> None:
        b = ballot(msg["b"])
        self._see(b)
        if b < self.acceptor.promised:
            self.send(src, {"t": "nack", "b": msg["b"], "promised": list(self.acceptor.promised)})
            return
        self._follow(b)
        if self.queued and self.leadership is None and self.leader not in (None, self.name):
            queued, self.queued = self.queued, []
            for cmd in queued:
                self.send(self.leader, {"t": "forward", "cmd": cmd, "hops": 1})
        upto = int(msg["upto"])
        s = self.learner.first_unlearned
        while s <= upto:
            acc = self.acceptor.accepted.get(s)
            if acc is None or acc[0] != b:
                break
            self._learn(s, acc[1])
            s = self.learner.first_unlearned
        if s <= upto and time.monotonic() - self._last_catchup > RETRANSMIT_S:
            self._last_catchup = time.monotonic()
            self.send(src, {"t": "catchup_req", "from_slot": s})

    async def _on_catchup_req(self, msg: dict[str, Any], src: str) -> None:
        start = int(msg["from_slot"])
        entries = []
        for s in range(start, start + CATCHUP_BATCH):
            if s not in self.learner.chosen:
                break
            entries.append([s, self.learner.chosen[s]])
        if entries:
            self.send(src, {"t": "catchup", "entries": entries})

    async def _on_catchup(self, msg: dict[str, Any], src: str) -> None:
        for s, v in msg["entries"]:
            self._learn(int(s), v)

    async def _on_forward(self, msg: dict[str, Any], src: str) -> None:
        self._route(msg["cmd"], int(msg.get("hops", 1)))

    # -- learning ---------------------------------------------------------------

    def _learn(self, slot: int, value: Any) -> None:
        if self.learner.learn(slot, value):
            self._remember(slot, value)
            self._apply_ready()
        elif self.learner.chosen[slot] != value:
            # Paxos chooses one value per slot; two means the replicas have diverged.
            self.log.error("slot %s: learned %r but told %r was chosen", slot, self.learner.chosen[slot], value)

    def _apply_ready(self) -> None:
        waiting_elsewhere: set[str] = set()
        for slot, cmd in self.learner.ready():
            if not isinstance(cmd, dict) or cmd.get("op") == NOOP["op"]:
                continue
            cid = cmd.get("cid")
            if cid in self.results:
                continue  # proposed twice (re-sent after a leader change): applied once
            result = self._apply(cmd, slot)
            if cid:
                self.results[cid] = result
                self.mine.pop(cid, None)
            fut = self.waiting.get(cid) if cid else None
            if fut is not None:
                if not fut.done():
                    fut.set_result(result)
            elif cmd.get("origin") not in (None, self.name):
                waiting_elsewhere.add(cmd["origin"])
        self._tell_chosen(waiting_elsewhere)

    def _tell_chosen(self, nodes: set[str]) -> None:
        """As leader, tell the nodes whose clients wait on slots we just applied that they are
        chosen, now rather than at the next heartbeat: each answers from its own state machine."""
        lead = self.leadership
        if not nodes or lead is None or not lead.active:
            return
        msg = {"t": "heartbeat", "b": list(lead.ballot), "upto": self.learner.first_unlearned - 1}
        for node in sorted(nodes):
            self.send(node, msg)
