"""Shared runtime for splitbrain's own systems (raft, paxos, ...): standard library only.

* :mod:`.node`    -- the process entry: ``--config`` parsing, wall-clock log lines,
  SIGTERM, the client port, a ticker that survives a bad tick.
* :mod:`.peers`   -- one-way JSON-line peer messages, so the harness can cut one
  directed link; sync handlers (raft) or one task per message (paxos, ring).
* :mod:`.storage` -- fsync'd atomic state files, an append-only log that survives a
  torn last record, and a group-commit log for handlers that await their fsync.
* :mod:`.machine` -- the deterministic state machine behind every client op of
  :mod:`splitbrain.systems.wire`, so replicas that apply the same log agree.
"""

from splitbrain.systems.common.machine import StateMachine
from splitbrain.systems.common.node import NodeApp, run_node, tick_forever
from splitbrain.systems.common.peers import PeerNet
from splitbrain.systems.common.storage import AppendLog, GroupCommitLog, atomic_write, read_json

__all__ = [
    "AppendLog",
    "GroupCommitLog",
    "NodeApp",
    "PeerNet",
    "StateMachine",
    "atomic_write",
    "read_json",
    "run_node",
    "tick_forever",
]
