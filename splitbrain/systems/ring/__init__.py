"""ring: a consistent-hash ring store with quorum replication, done right.

Keys live on the N distinct nodes following them on a ring of virtual nodes
(:mod:`.placement`). Any node coordinates: registers use ABD (a write reads the
highest tag from a quorum and stores tag+1 at a quorum; a read takes the newest
value from a quorum and writes it back to a quorum before answering), so one
key behaves as a linearizable register; sets merge by union and counters by
per-coordinator slots, which need no coordination. A heartbeat failure
detector (:mod:`.detector`) orders replicas, never shrinking a quorum. cas and
txn and rwtxn are unsupported (definite: one quorum register per key has no atomic step across
keys, so it cannot run a multi-op transaction). Membership changes hand data over, then move
ownership.
"""

from __future__ import annotations

from splitbrain.systems.capabilities import SystemTraits
from splitbrain.systems.membership import MemberedPythonSystem

BUGS = {
    "sloppy-quorum": "writes and reads use any W/R reachable nodes (hinted handoff), not the key's replicas",
    "no-write-back": "reads return the newest value of a quorum without writing it back first",
    "lww-clock": "conflicts resolve last-write-wins on the coordinator's wall clock, sets included",
    "no-fsync": "a replica acknowledges a write once it is written, before it is fsync'd, so a power "
    "loss of a quorum forgets writes the client was told are stored",
    "no-handover": "a membership change moves ownership at once, without the joint phase and without "
    "handing data over to the new replicas, so keys whose new replicas never stored them vanish",
}

#: what ``partition`` draws on the ring: one-way cuts into the busiest node (a replica of the key the
#: clients work on: replicas answer every read) from half the others, three for every card of the
#: leader cut off that ``partition-leader`` deals; every default run gets two intervals of them
#: (``nemesis.guarantees``). A quorum store without write-back serves a stale read only while a
#: fresh value sits on one replica and two other replicas still answer: a writer that hears a
#: replica it cannot reach leaves its value on the other one for a re-send wave, and the nodes that
#: reach all three read it and then miss it. A symmetric cut makes that for its first second (then
#: the far side is suspected); ``one-way-random`` cuts a quarter of all links, so most nodes stop
#: hearing a peer and read around it, and few writers cut into a replica of the live key. Split
#: brains (``sloppy-quorum``) still come from the opening leader cut and ``partition-leader``.
PARTITIONS = ("one-way-leader",) * 9 + ("leader-minority",) * 3

SYSTEM = MemberedPythonSystem(
    name="ring",
    module="splitbrain.systems.ring",
    # rw-register first, so it is the default: register and kv send cas too, which the ring refuses
    # (definite, unsupported), so a quarter of their ops would test nothing
    workloads=("rw-register", "register", "kv", "set", "sets", "counter", "unique-ids"),
    bugs=BUGS,
    # any node coordinates (each has two of the default ten clients), and lww-clock stamps the writes
    # with the coordinator's wall clock: every run with the clock fault skews a minority for an interval
    traits=SystemTraits(partition_topologies=PARTITIONS, coordinator_clocks=True),
)
