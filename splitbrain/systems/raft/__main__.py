"""``python3 -m splitbrain.systems.raft --config JSON``: run one Raft node."""

import sys

from splitbrain.systems.common.node import run_node
from splitbrain.systems.raft.node import RaftNode

if __name__ == "__main__":
    sys.exit(run_node(RaftNode))
