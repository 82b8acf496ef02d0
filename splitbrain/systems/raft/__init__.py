"""raft: a Raft replicated key-value store (standard library only). See :mod:`.node`."""

from splitbrain.systems.base import PythonSystem
from splitbrain.systems.raft.node import BUGS

SYSTEM = PythonSystem(
    name="raft",
    module="splitbrain.systems.raft",
    workloads=("register", "kv", "set", "counter", "list-append", "txn-rw-register", "unique-ids"),
    bugs=BUGS,
)
