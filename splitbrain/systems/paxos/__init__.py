"""paxos: multi-decree Paxos, a replicated log of client commands.

One Paxos instance per log slot; a distinguished proposer (the leader, whoever
holds the highest ballot (round, node)) runs phase 1 once for all slots and
then phase 2 per command; every node learns chosen values and applies them in
slot order to the shared deterministic state machine, and each node answers its
own clients from its own state machine (a replica that learned another value for
a slot shows it). Reads go through the log too, so every operation is
linearizable. Acceptor state is fsync'd before
any promise or acceptance leaves the node. Pure protocol in :mod:`.core`, the
server in :mod:`.node`.
"""

from __future__ import annotations

from splitbrain.systems.base import PythonSystem
from splitbrain.systems.capabilities import SystemTraits

#: why ``--nemesis membership`` is refused here (exit 64): the choice, argued
NO_MEMBERSHIP = (
    "this multi-Paxos has a fixed acceptor set by design: one phase 1 covers every future slot, and "
    "leaders pipeline slots without a bound, so a configuration chosen in slot i cannot govern slot "
    "i+alpha (Lamport's reconfiguration through the log) without adding a pipeline window and "
    "per-slot configurations to the acceptors, the catch-up and the recovery; Raft carries that test"
)

BUGS = {
    "accept-lower-ballot": "acceptors accept proposals whose ballot is below the one they promised",
    "ignore-promised-values": "a new leader ignores values reported in promises and reuses those slots",
    "acceptor-no-fsync": "acceptors answer promises and acceptances once written, before they are fsync'd, "
    "so a power loss makes them forget what they promised and accepted",
}

#: what ``partition`` draws on paxos: dueling proposers, Paxos's hard case (a deposed leader's
#: accepts still in flight once another ballot is promised; one phase 1 that must carry every value
#: a majority accepted). A bridge that leaves the leader on one side and a follower as the hub
#: (``leader-bridge``) makes two proposers duel over the hub for the whole window (a random bridge's
#: hub is the leader one time in five, and then nobody is deposed); overlapping majorities
#: (``majorities-ring``) elect and depose leaders over and over. The leader cut off (with a minority
#: or alone) and one-way cuts still come from ``partition-leader`` and ``partition-one-way`` (the run
#: opens with a leader cut), which depose a leader once, at the heal. In the general mix 116 of 200
#: default runs (seeds 1-200) drew neither a bridge nor overlapping majorities; with this list, 8 of 200.
#: A leader bridge in the list also makes every run duel alone, right after its opening leader cut, in
#: overlapping majorities (compose's ``duel`` burst: no hub that hears everyone can win and end it)
PARTITIONS = ("leader-bridge", "leader-bridge", "leader-bridge", "majorities-ring")

#: the workloads paxos serves; the first is what ``run`` uses when none is given. A set, as in
#: Jepsen's tests of replicated logs: the anomaly a broken Paxos makes is a diverged log (two values
#: chosen for one slot, each replica answering its clients from its own), and only a workload whose
#: effects accumulate keeps that visible. On a register the next write to the key (every ~40 ms at
#: the default rate) makes the replicas agree again, so a diverged slot showed only through a read
#: pending on the deposed leader at the heal: ``accept-lower-ballot`` was caught in 3 of 10 default
#: runs; a lost ``add`` stays lost, and every later read on a replica without it shows it
WORKLOADS = ("set", "register", "rw-register", "kv", "counter", "list-append", "txn-rw-register", "unique-ids")

SYSTEM = PythonSystem(
    name="paxos",
    module="splitbrain.systems.paxos",
    workloads=WORKLOADS,
    bugs=BUGS,
    traits=SystemTraits(unsupported_faults={"membership": NO_MEMBERSHIP}, partition_topologies=PARTITIONS),
)
