"""Shared runtime for splitbrain's own systems (raft, paxos, ...): standard library only.

* :mod:`.node`    -- the process entry: ``--config`` parsing, wall-clock log lines,
  SIGTERM, the client port.
* :mod:`.peers`   -- one-way JSON-line peer messages, so the harness can cut one
  directed link.
* :mod:`.storage` -- fsync'd atomic state files and an append-only log that survives a
  torn last record.
* :mod:`.machine` -- the deterministic state machine behind every client op of
  :mod:`splitbrain.systems.wire`, so replicas that apply the same log agree.
"""

from splitbrain.systems.common.machine import StateMachine
from splitbrain.systems.common.node import NodeApp, run_node
from splitbrain.systems.common.peers import PeerNet
from splitbrain.systems.common.storage import AppendLog, atomic_write, read_json

__all__ = ["AppendLog", "NodeApp", "PeerNet", "StateMachine", "atomic_write", "read_json", "run_node"]
