"""Multi-decree Paxos as pure state transitions: no sockets, no clocks, no disk.

Keeping the protocol free of I/O is what lets the hard cases (competing
proposers, a chosen value surviving a new ballot, an acceptor restarted from
its persisted state) be unit-tested exactly, message by message. The node
(:mod:`splitbrain.systems.paxos.node`) feeds these objects the messages it
receives and sends whatever they return.

Vocabulary. A *ballot* is ``(round, node)``: totally ordered, unique per
proposer. A *slot* is one position of the replicated log, each slot an
independent Paxos instance. The *leader* (distinguished proposer) runs phase 1
(prepare/promise) once for all slots at or above its first unlearned slot,
then phase 2 (accept/accepted) per slot. Acceptors promise for every slot at
once, so a promise answers with every value they accepted at or above the
asked slot.

Seeded bugs live here, where the mistake would be made:
``accept-lower-ballot`` (the acceptor accepts below its promise) and
``ignore-promised-values`` (the new leader drops the values reported in
promises and reuses those slots for its own commands).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Ballot = tuple[int, str]
ZERO: Ballot = (0, "")
NOOP: dict[str, Any] = {"op": "noop"}


def ballot(b: Any) -> Ballot:
    """A ballot from its JSON form (a two-element list)."""
    return (int(b[0]), str(b[1]))


@dataclass
class Acceptor:
    """The acceptor's durable state. Every change must reach disk before the reply leaves."""

    bug: str | None = None
    promised: Ballot = ZERO
    accepted: dict[int, tuple[Ballot, Any]] = field(default_factory=dict)

    def on_prepare(self, b: Ballot, from_slot: int) -> tuple[bool, list[Any]]:
        """(promised?, records to persist). A promise reports every accepted slot >= from_slot."""
        if b < self.promised:
            return False, []
        if b == self.promised:
            return True, []
        self.promised = b
        return True, [{"p": list(b)}]

    def promise_payload(self, from_slot: int) -> list[list[Any]]:
        return [[s, list(bv[0]), bv[1]] for s, bv in sorted(self.accepted.items()) if s >= from_slot]

    def on_accept(self, b: Ballot, slot: int, value: Any) -> tuple[bool, list[Any]]:
        """(accepted?, records to persist)."""
        if b < self.promised and self.bug != "accept-lower-ballot":
            return False, []
        records: list[Any] = []
        if b > self.promised:
            self.promised = b
            records.append({"p": list(b)})
        self.accepted[slot] = (b, value)
        records.append({"a": [slot, list(b), value]})
        return True, records

    def replay(self, record: dict[str, Any]) -> None:
        """Rebuild state from one persisted record (restart)."""
        if "p" in record:
            self.promised = max(self.promised, ballot(record["p"]))
        elif "a" in record:
            slot, b, value = record["a"]
            self.accepted[int(slot)] = (ballot(b), value)


@dataclass
class Proposal:
    """One slot in flight at the leader: the value and who has accepted it."""

    value: Any
    acks: set[str] = field(default_factory=set)


class Leadership:
    """One proposer's attempt to lead with one ballot: phase 1 for all slots, then phase 2.

    ``first_slot`` is the proposer's first unlearned slot: everything below is
    already known chosen, so promises only report slots from there on.
    """

    def __init__(self, b: Ballot, first_slot: int, members: int, bug: str | None = None) -> None:
        self.ballot = b
        self.first_slot = first_slot
        self.majority = members // 2 + 1
        self.bug = bug
        self.promises: dict[str, list[list[Any]]] = {}
        self.active = False  # phase 1 done: this ballot may propose
        self.next_slot = first_slot
        self.inflight: dict[int, Proposal] = {}

    def on_promise(self, node: str, accepted: list[list[Any]]) -> list[tuple[int, Any]] | None:
        """Record a promise. On reaching a majority, returns the (slot, value) proposals phase 2
        must start with: the highest-ballot value per reported slot, no-ops in the gaps."""
        if self.active:
            return None
        self.promises[node] = accepted
        if len(self.promises) < self.majority:
            return None
        self.active = True
        best: dict[int, tuple[Ballot, Any]] = {}
        for entries in self.promises.values():
            for slot, b, value in entries:
                slot, bb = int(slot), ballot(b)
                if slot >= self.first_slot and (slot not in best or bb > best[slot][0]):
                    best[slot] = (bb, value)
        if self.bug == "ignore-promised-values":
            # The mistake: start proposing at our own first unlearned slot as if
            # nobody had accepted anything there; our commands overwrite them.
            self.next_slot = self.first_slot
            return []
        top = max(best, default=self.first_slot - 1)
        out = [(s, best[s][1] if s in best else NOOP) for s in range(self.first_slot, top + 1)]
        self.next_slot = top + 1
        for s, v in out:
            self.inflight[s] = Proposal(v)
        return out

    def propose(self, value: Any) -> int:
        """Assign the next free slot to a new command."""
        assert self.active
        slot = self.next_slot
        self.next_slot += 1
        self.inflight[slot] = Proposal(value)
        return slot

    def on_accepted(self, node: str, slot: int) -> Any | None:
        """Record an acceptance; returns the value once a majority makes it chosen (exactly once)."""
        prop = self.inflight.get(slot)
        if prop is None:
            return None
        prop.acks.add(node)
        if len(prop.acks) >= self.majority:
            del self.inflight[slot]
            return prop.value
        return None


class Learner:
    """Chosen values by slot, applied strictly in slot order."""

    def __init__(self) -> None:
        self.chosen: dict[int, Any] = {}
        self.applied = -1  # highest slot handed to the state machine

    @property
    def first_unlearned(self) -> int:
        s = self.applied + 1
        while s in self.chosen:
            s += 1
        return s

    def learn(self, slot: int, value: Any) -> bool:
        """Record a chosen value; False when the slot was already known (first knowledge wins)."""
        if slot in self.chosen:
            return False
        self.chosen[slot] = value
        return True

    def ready(self) -> list[tuple[int, Any]]:
        """The chosen values that can now be applied, in order; marks them applied."""
        out = []
        while self.applied + 1 in self.chosen:
            self.applied += 1
            out.append((self.applied, self.chosen[self.applied]))
        return out
