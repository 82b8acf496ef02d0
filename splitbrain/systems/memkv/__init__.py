"""memkv: a trivial in-memory store, one independent node per process.

Not a distributed system: each node holds its own state and never talks to
its peers. It exists so the harness can be tested and benchmarked on its own
(generators, clients, store, checkers, exit codes) without a consensus
protocol in the way: run it with one node, or point every client at one node.
It speaks :mod:`splitbrain.systems.wire` and serves every workload.

Seeded bugs, for proving the harness reports what it should:
``stale-read`` answers reads from a copy that lags one write behind (exit 1);
``crash-on-start`` exits at startup with an error in its log (exit 255).
"""

from __future__ import annotations

from splitbrain.systems.base import PythonSystem
from splitbrain.systems.capabilities import SystemTraits

BUGS = {
    "stale-read": "reads are served from a copy that lags one write behind",
    "crash-on-start": "the node exits during startup (tests the harness's start-failure path)",
}

SYSTEM = PythonSystem(
    name="memkv",
    module="splitbrain.systems.memkv",
    workloads=("register", "kv", "set", "counter", "list-append", "txn-rw-register", "unique-ids"),
    bugs=BUGS,
    traits=SystemTraits(default_nodes=1, default_nemesis="none"),  # one node is the useful default: nodes do not replicate
)
