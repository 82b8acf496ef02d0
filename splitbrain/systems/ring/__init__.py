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

SYSTEM = MemberedPythonSystem(
    name="ring",
    module="splitbrain.systems.ring",
    # rw-register first, so it is the default: register and kv send cas too, which the ring refuses
    # (definite, unsupported), so a quarter of their ops would test nothing
    workloads=("rw-register", "register", "kv", "set", "sets", "counter", "unique-ids"),
    bugs=BUGS,
    # One live key of ten clients (the workload's own), not two of five: an unrepaired read shows
    # only while a fresh value sits on one replica (a 0.25 s re-send wave), and it takes a read that
    # sees it followed by one that misses it -- the more reads of that key in the wave, the likelier.
    # Five a key, seeds 401-404 and 419-420: no-write-back caught 3 of the 6, ten a key all four of
    # 401-404
)
