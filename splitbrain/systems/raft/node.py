"""A Raft node (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm").

Roles, terms and the two RPCs follow the paper's Figure 2; RPCs are one-way messages on
:class:`~splitbrain.systems.common.peers.PeerNet` (answers ride the answerer's own
outbound link), so a request and its answer can be lost independently.

* Elections: randomized timeouts; a vote is granted only to a candidate whose log is at
  least as up to date, and term and vote are fsync'd before the answer leaves.
* Replication: AppendEntries carries (prevLogIndex, prevLogTerm); a follower rejects a
  mismatch, truncates a conflicting suffix, fsyncs, then answers. The leader commits an
  index only when a majority stores it *and* it is from the leader's current term.
* Reads (ReadIndex): the leader waits until an entry of its own term is committed, notes
  the commit index, then confirms it is still leader with a heartbeat round acked by a
  majority, and answers once it has applied up to the noted index.
* No check-quorum or pre-vote (the paper has neither): a leader cut off from the majority
  keeps its role until it hears a higher term. That is safe (it can neither commit nor
  confirm a read) and it is exactly the deposed leader the stale-read bug needs.
* Other ops go through the log; ``generate`` returns the entry's log index.
* Membership: single-server changes through the log (``admin`` join/leave; ``members``
  answers a node's view). A configuration takes effect when appended; the leader takes
  one change at a time, and only once an entry of its own term is committed. Entries go
  to every configured node, members or not (a removed node learns it and answers
  ``not-member``; a wiped newcomer catches up before it is added and votes only once a
  leader reached it); only members count in majorities, vote, or are voted for.
* A follower proxies a client request to the leader it knows. If the leader's answer does
  not come back in time the outcome is unknown (``definite: false``); with no known
  leader it answers ``not-leader`` without forwarding (``definite: true``).

Seeded bugs (``config.bug``) are in :data:`BUGS`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from splitbrain.systems import wire
from splitbrain.systems.base import NodeConfig
from splitbrain.systems.capabilities import WIPED_MARKER
from splitbrain.systems.common.machine import StateMachine
from splitbrain.systems.common.peers import PeerNet
from splitbrain.systems.raft.log import RaftLog

BUGS = {
    "stale-read": "the leader answers reads from its local state without confirming it is still "
    "leader, so a deposed leader in a minority partition serves stale values",
    "ack-before-commit": "the leader applies and acknowledges commands once they are in its own log, "
    "before a majority stores them; a leader cut off from the majority acks writes that are then lost",
    "follower-read": "followers answer reads from their own state machine instead of asking the "
    "leader; a follower learns of commits a heartbeat late, or never while cut off",
    "quorum-off-by-one": "majority computed as n//2 instead of n//2+1 for votes, commits and read "
    "confirmation, so two nodes of five elect a leader and commit on their own",
    "no-fsync": "log entries, term and vote are written but never fsync'd before the node answers, "
    "so a power loss (not a process kill) forgets acknowledged writes and votes",
    "unsafe-membership": "the leader takes a membership change while another is still uncommitted and "
    "before an entry of its own term is committed (no no-op guard), so two changes are in flight at "
    "once: their majorities need not overlap, and two leaders can each commit",
}

HEARTBEAT_S = 0.05
ELECTION_MIN_S = 0.3
ELECTION_MAX_S = 0.6
REQUEST_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 0.5  # a leader that cannot confirm itself this fast will not: fail the read early
MAX_BATCH = 256


class RaftNode:
    def __init__(self, config: NodeConfig, log: logging.Logger) -> None:
        opts = config.options or {}
        self.name = config.name
        self.bug = config.bug
        self.log = log
        #: every configured node but this one: entries go to all of them, members or not, so a removed
        #: node learns it was removed and a wiped newcomer catches up before it is added
        self.peers = sorted(config.peers)
        wiped = (Path(config.data_dir) / WIPED_MARKER).exists()
        self.heartbeat_s = float(opts.get("heartbeat_s", HEARTBEAT_S))
        self.election_s = (float(opts.get("election_min_s", ELECTION_MIN_S)),
                           float(opts.get("election_max_s", ELECTION_MAX_S)))
        self.timeout_s = float(opts.get("request_timeout_s", REQUEST_TIMEOUT_S))
        self.read_timeout_s = float(opts.get("read_timeout_s", READ_TIMEOUT_S))
        self.rlog = RaftLog(config.data_dir, fsync=self.bug != "no-fsync")
        #: the configuration before any config entry: every node, or none for a wiped newcomer
        self.initial = [] if wiped and self.rlog.last_index == 0 else sorted({self.name, *self.peers})
        #: a wiped newcomer votes for nobody until a leader reached it (it may have voted before the wipe)
        self.joining = wiped and self.rlog.last_index == 0
        self.config: list[str] = []
        self.config_index = 0
        self.recompute_config()
        self.net = PeerNet(config.name, (config.peer_host, config.peer_port), config.peers,
                           self.on_message, log)
        self.sm = StateMachine()
        self.role = "follower"
        self.leader: str | None = None
        self._seen_state: tuple[str, int, str | None] = ("follower", -1, None)
        self._seen_at = time.monotonic()
        self.commit = 0
        self.applied = 0
        self.votes: set[str] = set()
        self.next_idx: dict[str, int] = {}
        self.match_idx: dict[str, int] = {}
        self.hb_seq = 0
        self.acked_seq: dict[str, int] = {}
        self.election_deadline = 0.0
        self.next_heartbeat = 0.0
        self.results: dict[int, tuple[int, asyncio.Future[tuple[bool, Any]]]] = {}
        self.waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self.forwarded: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.rids = itertools.count(1)
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None

    @property
    def term(self) -> int:
        return self.rlog.term

    @property
    def quorum(self) -> int:
        """A majority of the current configuration (the latest config entry in the log, committed or
        not: Raft's single-server changes take effect on append, so old and new majorities overlap)."""
        n = len(self.config)
        return n // 2 if self.bug == "quorum-off-by-one" and n > 2 else n // 2 + 1

    @property
    def member(self) -> bool:
        return self.name in self.config

    def recompute_config(self) -> None:
        """The latest configuration in the log (after a restart or a truncation)."""
        for i in range(self.rlog.last_index, 0, -1):
            _, cmd = self.rlog.entry(i)
            if cmd.get("op") == "config":
                self.config, self.config_index = sorted(cmd["members"]), i
                return
        self.config, self.config_index = list(self.initial), 0

    def note_entries(self, first: int) -> None:
        """Entries from ``first`` on were appended: a config entry among them takes effect now."""
        for i in range(self.rlog.last_index, first - 1, -1):
            _, cmd = self.rlog.entry(i)
            if cmd.get("op") == "config":
                if i != self.config_index:
                    self.config, self.config_index = sorted(cmd["members"]), i
                    self.log.info("configuration at index %d: %s", i, self.config)
                return

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self.log.info("recovered term=%d vote=%s log=%d entries", self.term, self.rlog.vote, self.rlog.last_index)
        self.reset_election_timer()
        await self.net.start()
        self._ticker = asyncio.create_task(self.tick_loop())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await self.net.stop()
        self.rlog.close()

    async def tick_loop(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            if self.role == "leader":
                if now >= self.next_heartbeat:
                    self.broadcast_append()
            elif now >= self.election_deadline:
                self.start_election()

    def reset_election_timer(self) -> None:
        self.election_deadline = time.monotonic() + random.uniform(*self.election_s)

    # -- roles -------------------------------------------------------------------------

    def become_follower(self, term: int, leader: str | None) -> None:
        if self.role != "follower" or term != self.term:
            self.log.info("follower in term %d (was %s in term %d)", term, self.role, self.term)
        if term != self.term:
            self.rlog.save_meta(term, None)
        self.role = "follower"
        self.leader = leader
        self._note_state()
        self.poke()

    def start_election(self) -> None:
        if not self.member:
            self.reset_election_timer()  # not in its own latest configuration: it never campaigns
            return
        self.rlog.save_meta(self.term + 1, self.name)
        self.role = "candidate"
        self.leader = None
        self._note_state()
        self.votes = {self.name}
        self.reset_election_timer()
        self.log.info("candidate in term %d", self.term)
        self.net.broadcast({"type": "vote", "term": self.term, "last_idx": self.rlog.last_index,
                            "last_term": self.rlog.term_at(self.rlog.last_index)})
        if len(self.votes) >= self.quorum:
            self.become_leader()

    def become_leader(self) -> None:
        self.role = "leader"
        self.leader = self.name
        self._note_state()
        self.log.info("leader in term %d with votes %s", self.term, sorted(self.votes))
        last = self.rlog.last_index
        self.next_idx = {p: last + 1 for p in self.peers}
        self.match_idx = {p: 0 for p in self.peers}
        self.acked_seq = {p: 0 for p in self.peers}
        self.rlog.append(self.term, {"op": "noop"})  # commits the earlier terms' entries
        self.schedule_flush()

    # -- messages ----------------------------------------------------------------------

    def on_message(self, m: dict[str, Any]) -> None:
        kind, sender = m.get("type"), m.get("from")
        if kind == "fwd":
            self.spawn(self.serve_forwarded(m))
            return
        if kind == "fwd_resp":
            fut = self.forwarded.pop(m["rid"], None)
            if fut is not None and not fut.done():
                fut.set_result(m["resp"])
            return
        if kind == "vote" and (self.joining or sender not in self.config):
            # A candidate outside our configuration (removed, or not yet added) cannot be elected by
            # us: ignored, term and all, so a removed node cannot depose the leader again and again.
            return
        term = int(m.get("term", 0))
        if term > self.term:
            self.become_follower(term, sender if kind == "append" else None)
        if kind == "vote":
            self.on_vote(m)
        elif kind == "vote_resp":
            if self.role == "candidate" and term == self.term and m["granted"] and sender in self.config:
                self.votes.add(str(sender))
                if len(self.votes) >= self.quorum:
                    self.become_leader()
        elif kind == "append":
            self.on_append(m)
        elif kind == "append_resp":
            self.on_append_resp(m)

    def on_vote(self, m: dict[str, Any]) -> None:
        cand = m["from"]
        my_last = self.rlog.last_index
        up_to_date = (m["last_term"], m["last_idx"]) >= (self.rlog.term_at(my_last), my_last)
        granted = (m["term"] == self.term and self.rlog.vote in (None, cand) and up_to_date)
        if granted:
            self.rlog.save_meta(self.term, cand)  # fsync'd before the answer leaves
            self.reset_election_timer()
        self.net.send(cand, {"type": "vote_resp", "term": self.term, "granted": granted})

    def on_append(self, m: dict[str, Any]) -> None:
        sender = m["from"]
        resp: dict[str, Any] = {"type": "append_resp", "term": self.term, "seq": m["seq"], "success": False}
        if m["term"] < self.term:
            self.net.send(sender, resp)
            return
        if self.role != "follower" or self.leader != sender:
            self.become_follower(self.term, sender)
        self.reset_election_timer()
        prev, prev_term = m["prev_idx"], m["prev_term"]
        if prev > self.rlog.last_index:
            resp["hint"] = self.rlog.last_index + 1
            self.net.send(sender, resp)
            return
        if self.rlog.term_at(prev) != prev_term:
            bad = self.rlog.term_at(prev)
            i = prev
            while i > 1 and self.rlog.term_at(i - 1) == bad:
                i -= 1
            resp["hint"] = max(1, i)
            self.net.send(sender, resp)
            return
        self.joining = False
        idx = prev
        first_new = 0
        for term, cmd in m["entries"]:
            idx += 1
            if idx <= self.rlog.last_index:
                if self.rlog.term_at(idx) == term:
                    continue
                self.log.info("truncating log from %d (term %d != %d)", idx, self.rlog.term_at(idx), term)
                self.rlog.truncate_from(idx)
                self.fail_results_from(idx)
                if idx <= self.config_index:
                    self.recompute_config()
            self.rlog.append(term, cmd)
            first_new = first_new or idx
        if first_new:
            self.note_entries(first_new)
        self.rlog.sync()  # stored before we say so
        match = prev + len(m["entries"])
        if m["commit"] > self.commit:
            self.commit = max(self.commit, min(m["commit"], match))
            self.apply_committed()
        resp.update(success=True, match=match)
        self.net.send(sender, resp)

    def on_append_resp(self, m: dict[str, Any]) -> None:
        if self.role != "leader" or m["term"] != self.term:
            return
        peer = m["from"]
        self.acked_seq[peer] = max(self.acked_seq.get(peer, 0), m["seq"])
        if m["success"]:
            if m["match"] > self.match_idx[peer]:
                self.match_idx[peer] = m["match"]
            self.next_idx[peer] = max(self.next_idx[peer], self.match_idx[peer] + 1)
            self.advance_commit()
            if self.next_idx[peer] <= self.rlog.last_index:
                self.send_append(peer)
        else:
            hint = int(m.get("hint", self.next_idx[peer] - 1))
            if hint <= self.match_idx[peer]:
                # it no longer has what it once acknowledged: wiped (removed first, then emptied, so
                # its old acknowledgements no longer count anywhere); replicate from what it has
                self.match_idx[peer] = max(0, hint - 1)
            self.next_idx[peer] = max(1, self.match_idx[peer] + 1, min(hint, self.next_idx[peer] - 1))
            self.send_append(peer)
        self.poke()

    # -- leader duties -----------------------------------------------------------------

    def send_append(self, peer: str) -> None:
        nxt = self.next_idx[peer]
        prev = nxt - 1
        self.net.send(peer, {"type": "append", "term": self.term, "prev_idx": prev,
                             "prev_term": self.rlog.term_at(prev), "entries": self.rlog.slice(nxt, MAX_BATCH),
                             "commit": self.commit, "seq": self.hb_seq})

    def broadcast_append(self) -> None:
        self.hb_seq += 1
        self.next_heartbeat = time.monotonic() + self.heartbeat_s
        for p in self.peers:
            self.send_append(p)

    def schedule_flush(self) -> None:
        """Group the commands of one event-loop turn into one fsync and one broadcast."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        self.rlog.sync()
        if self.role == "leader":
            self.broadcast_append()
            self.advance_commit()
            self.apply_committed()
        self.poke()

    def advance_commit(self) -> None:
        for n in range(self.rlog.last_index, self.commit, -1):
            if self.rlog.term_at(n) != self.term:
                break  # only entries of the current term are committed by counting
            stored = 1 if self.member and self.rlog.persisted >= n else 0
            stored += sum(1 for p in self.peers if p in self.config and self.match_idx.get(p, 0) >= n)
            if stored >= self.quorum:
                self.commit = n
                self.apply_committed()
                if not self.member and self.commit >= self.config_index:
                    # it led the change that removed it: committed, so it steps down for good
                    self.log.info("removed from the configuration %s: stepping down", self.config)
                    self.become_follower(self.term, None)
                return

    def apply_committed(self) -> None:
        limit = self.commit
        if self.bug == "ack-before-commit" and self.role == "leader":
            limit = max(limit, self.rlog.persisted)  # the bug: its own log taken as committed
        while self.applied < limit:
            self.applied += 1
            term, cmd = self.rlog.entry(self.applied)
            op = cmd.get("op")
            out = (True, cmd["members"]) if op == "config" else (True, None) if op == "noop" else \
                self.sm.apply(cmd, self.applied)
            waiting = self.results.pop(self.applied, None)
            if waiting is not None and not waiting[1].done():
                waiting[1].set_result(out if waiting[0] == term else (False, "leader-changed"))
        self.poke()

    def fail_results_from(self, index: int) -> None:
        """Entries from ``index`` on were overwritten: they were never committed."""
        for i in [i for i in self.results if i >= index]:
            _, fut = self.results.pop(i)
            if not fut.done():
                fut.set_result((False, "leader-changed"))

    # -- waiting -----------------------------------------------------------------------

    def poke(self) -> None:
        keep = []
        for pred, fut in self.waiters:
            if fut.done():
                continue
            if pred():
                fut.set_result(None)
            else:
                keep.append((pred, fut))
        self.waiters = keep

    async def wait_for(self, pred: Callable[[], bool], deadline: float) -> bool:
        if pred():
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append((pred, fut))
        try:
            await asyncio.wait_for(fut, max(0.0, deadline - time.monotonic()))
            return True
        except TimeoutError:
            return False

    def spawn(self, coro: Any) -> None:
        t = asyncio.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    # -- clients -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """This node's view of itself (the ``status`` op): role, term, leader, commit index, and
        ``age_s``: how long ago role, term or leader last changed (as far as this node knows, read
        at each change below), so a poller that asks every 0.2 s still places a change exactly."""
        return {"role": self.role, "term": self.term, "leader": self.leader, "commit": self.commit, "term_name": "term",
                "age_s": round(time.monotonic() - self._seen_at, 4), "members": self.config}

    def _note_state(self) -> None:
        state = (self.role, self.term, self.leader)
        if state != self._seen_state:
            self._seen_state, self._seen_at = state, time.monotonic()

    def view(self) -> dict[str, Any]:
        """The ``members`` op: this node's latest configuration and whether it is committed yet."""
        return {"members": self.config, "version": self.config_index, "pending": self.config_index > self.commit,
                "member": self.member}

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "members":
            return wire.reply(req, self.view())
        if op not in wire.OPS and op != "admin":
            return wire.error(req, "unsupported", True)
        if not self.member:
            return wire.error(req, "not-member", True, members=self.config)
        if self.role == "leader":
            return await self.execute(req)
        if self.bug == "follower-read" and op == "read":
            return wire.reply(req, self.sm.read(req.get("key")))
        leader = self.leader
        if leader is None or leader == self.name:
            return wire.error(req, "not-leader", True)
        return await self.forward(req, leader)

    async def forward(self, req: dict[str, Any], leader: str) -> dict[str, Any]:
        rid = next(self.rids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.forwarded[rid] = fut
        body = {k: req[k] for k in ("op", "key", "value") if k in req}
        self.net.send(leader, {"type": "fwd", "rid": rid, "req": body})
        try:
            resp = await asyncio.wait_for(fut, self.timeout_s)
        except TimeoutError:
            return wire.error(req, "timeout", req.get("op") == "read", leader=leader)
        finally:
            self.forwarded.pop(rid, None)
        return {**resp, "id": req.get("id"), "leader": leader}

    async def serve_forwarded(self, m: dict[str, Any]) -> None:
        req = m["req"]
        if self.role != "leader":
            resp = wire.error(req, "not-leader", True)
        else:
            resp = await self.execute(req)
        resp["node"] = self.name
        self.net.send(m["from"], {"type": "fwd_resp", "rid": m["rid"], "resp": resp})

    async def change_config(self, req: dict[str, Any]) -> dict[str, Any]:
        """A single-server membership change through the log (Ongaro's thesis, section 4.1).

        Safe only one at a time: the leader refuses a change while the previous config entry is
        uncommitted, and until an entry of its own term is committed (the no-op it appended on
        election): otherwise a change from an earlier term, not yet known to be committed or
        overwritten, and this one could both be in flight with majorities that do not overlap."""
        value = req.get("value")
        if not isinstance(value, dict) or value.get("action") not in ("join", "leave"):
            return wire.error(req, "bad-request: admin needs {action: join|leave, node}", True)
        node = str(value.get("node"))
        if node not in ({self.name, *self.peers}):
            return wire.error(req, f"bad-request: unknown node {node!r}", True)
        if self.bug != "unsafe-membership":
            if self.rlog.term_at(self.commit) != self.term:
                return wire.error(req, "refused: no entry of this leader's term is committed yet", True)
            if self.config_index > self.commit:
                return wire.error(req, "refused: change-in-progress", True)
        members = set(self.config)
        members = members | {node} if value["action"] == "join" else members - {node}
        if sorted(members) == self.config:
            return wire.reply(req, self.config)
        if not members:
            return wire.error(req, "refused: a configuration cannot be empty", True)
        return await self.replicate(req, {"op": "config", "members": sorted(members)})

    async def execute(self, req: dict[str, Any]) -> dict[str, Any]:
        if req["op"] == "admin":
            return await self.change_config(req)
        if req["op"] == "read":
            return await self.read(req, time.monotonic() + self.read_timeout_s)
        return await self.replicate(req, {k: req[k] for k in ("op", "key", "value") if k in req})

    async def replicate(self, req: dict[str, Any], cmd: dict[str, Any]) -> dict[str, Any]:
        """Append ``cmd`` to the log and answer once it is committed and applied."""
        deadline = time.monotonic() + self.timeout_s
        term = self.term
        index = self.rlog.append(term, cmd)
        self.note_entries(index)
        fut: asyncio.Future[tuple[bool, Any]] = asyncio.get_running_loop().create_future()
        self.results[index] = (term, fut)
        self.schedule_flush()
        try:
            ok, out = await asyncio.wait_for(fut, max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            return wire.error(req, "timeout", False)
        finally:
            self.results.pop(index, None)
        if ok:
            return wire.reply(req, out)
        return wire.error(req, out, True)  # not applied, or overwritten: never committed

    async def read(self, req: dict[str, Any], deadline: float) -> dict[str, Any]:
        if self.bug == "stale-read":
            return wire.reply(req, self.sm.read(req.get("key")))
        term = self.term

        def still_leader() -> bool:
            return self.role == "leader" and self.term == term

        # 1. an entry of this term committed, so our commit index is the cluster's
        if not await self.wait_for(lambda: not still_leader() or self.rlog.term_at(self.commit) == term, deadline):
            return wire.error(req, "timeout", True)
        if not still_leader():
            return wire.error(req, "not-leader", True)
        read_index = self.commit
        # 2. a heartbeat round sent after this point, acked by a majority: still leader
        need = self.hb_seq + 1
        self.schedule_flush()

        def confirmed() -> bool:
            acks = sum(1 for p, s in self.acked_seq.items() if s >= need and p in self.config)
            return int(self.member) + acks >= self.quorum

        if not await self.wait_for(lambda: not still_leader() or confirmed(), deadline):
            return wire.error(req, "timeout", True)
        if not still_leader():
            return wire.error(req, "not-leader", True)
        # 3. applied up to the read index
        if not await self.wait_for(lambda: self.applied >= read_index, deadline):
            return wire.error(req, "timeout", True)
        return wire.reply(req, self.sm.read(req.get("key")))
