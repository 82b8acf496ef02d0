"""raft: a Raft replicated key-value store (standard library only). See :mod:`.node`."""

from splitbrain.systems.capabilities import SystemTraits
from splitbrain.systems.membership import MemberedPythonSystem
from splitbrain.systems.raft.node import BUGS

SYSTEM = MemberedPythonSystem(
    name="raft",
    module="splitbrain.systems.raft",
    workloads=("register", "kv", "set", "counter", "list-append", "txn-rw-register", "unique-ids"),
    bugs=BUGS,
    # a membership change goes to every node at once: each forwards it to the leader it knows, so
    # under a partition the leader of each side gets it (a client that retries everywhere)
    fan_out=True,
    # two clients a key (register, kv): a key written by every client hides a deposed leader's lost
    # acknowledged writes behind the new majority's (see SystemTraits.clients_per_key; README,
    # "Independent keys": ack-before-commit missed 1 seed in 20 with 10 a key, none with 2)
    traits=SystemTraits(clients_per_key=2),
)
