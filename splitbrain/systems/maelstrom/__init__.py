"""Maelstrom nodes as splitbrain systems: any binary speaking Maelstrom's protocol, under real faults.

``splitbrain run maelstrom --bin ./node [--bin-arg ARG]... --workload lin-kv
--nemesis partition,kill`` runs the binary once per node, each behind a shim
(:mod:`.shim`) that gives it ``init`` and routes its messages over splitbrain's
peer links, so partitions, packet faults, kills, pauses and clock skew act on
real processes and real sockets. The harness plays Maelstrom's clients
(:mod:`.client`), runs the services nodes call (:mod:`.services`), records every
message (``messages.jsonl``, :mod:`splitbrain.messages`) and checks the
history with splitbrain's checkers (:mod:`.workloads`).

A killed node is restarted with a fresh ``init``, as a crashed server would be:
whatever it kept only in memory is gone, and the checker will say so.

On the docker and ssh backends the binary is shipped to each node (it must run
there: build it for the node image's Debian, statically linked, or pass
``--image``). This module stays standard-library-only at import time: the shim
runs as ``python3 -m splitbrain.systems.maelstrom`` on the nodes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

from splitbrain.systems.base import NodeConfig, SessionContext
from splitbrain.systems.capabilities import SystemOpts, SystemTraits

#: accepted workload names (Maelstrom's, then splitbrain's aliases); see .workloads
WORKLOAD_NAMES = ("lin-kv", "g-set", "g-counter", "pn-counter", "txn-list-append", "unique-ids", "broadcast", "echo",
                  "kv", "set", "counter", "list-append")
#: name of the binary in the directory a backend ships files to
SHIPPED_BIN = "maelstrom-node"


def _natural(name: str) -> tuple[Any, ...]:
    return tuple(int(x) if x.isdigit() else x for x in re.split(r"(\d+)", name))


@dataclass
class MaelstromSystem:
    """One user binary as a system. ``workload_for`` binds the workload the run uses
    (broadcast sends ``topology`` after ``init``); ``open_session`` starts the harness side."""

    binary: str | None = None
    args: tuple[str, ...] = ()
    name: str = "maelstrom"
    workloads: tuple[str, ...] = WORKLOAD_NAMES
    bugs: dict[str, str] = field(default_factory=dict)
    default_nodes: int = 5
    #: seconds a node has to answer ``init`` (``--system-opt init_timeout_s=S``)
    init_timeout_s: float = 10.0
    #: broadcast's topology (``--system-opt topology=tree|grid|line|total``; Maelstrom's default: tree)
    topology: str = "tree"
    workload: Any = None
    session: Any = None

    @property
    def traits(self) -> SystemTraits:
        """The binary is a file every backend ships to its nodes (``NodeConfig.files_dir``)."""
        return SystemTraits(default_nodes=self.default_nodes,
                            files={SHIPPED_BIN: os.path.abspath(self.binary)} if self.binary else {})

    def configure(self, opts: SystemOpts) -> MaelstromSystem:
        from splitbrain.systems.maelstrom.workloads import TOPOLOGIES

        opts.check_keys(self.name, ["topology", "init_timeout_s"])
        return replace(self, topology=opts.choice("topology", TOPOLOGIES, self.topology),
                       init_timeout_s=opts.number("init_timeout_s", self.init_timeout_s, low=0.1))

    def workload_for(self, name: str, nodes: list[str]) -> Any:
        from splitbrain.systems.maelstrom.workloads import workload_for

        self.workload = workload_for(name, nodes, self.topology)
        return self.workload

    def node_command(self, config: NodeConfig, python: str) -> list[str]:
        if not self.binary:
            from splitbrain.errors import UsageError

            raise UsageError("a Maelstrom node needs its binary: --bin PATH")
        shipped = config.files_dir
        binary = f"{shipped}/{SHIPPED_BIN}" if shipped else os.path.abspath(self.binary)
        node_ids = sorted([config.name, *config.peers], key=_natural)
        setup = self.workload.setup_messages(config.name, node_ids) if self.workload is not None else []
        m = {"bin": binary, "args": list(self.args), "node_ids": node_ids, "setup": setup,
             "init_timeout_s": self.init_timeout_s}
        cfg = replace(config, options={**config.options, "maelstrom": m})
        return [python, "-m", "splitbrain.systems.maelstrom", "--config", cfg.to_json()]

    def client(self, host: str, port: int) -> Any:
        from splitbrain.systems.maelstrom.client import MaelstromClient

        return MaelstromClient(host, port, self.session)

    def open_session(self, ctx: SessionContext) -> Any:
        from splitbrain.systems.maelstrom.session import Session

        self.session = Session(ctx)
        return self.session


def system_for(binary: str, args: list[str], name: str = "maelstrom") -> MaelstromSystem:
    """A system running ``binary args...`` as a Maelstrom node (for system files with
    ``protocol = "maelstrom"`` and for ``splitbrain run maelstrom --bin``)."""
    return MaelstromSystem(binary=binary, args=tuple(args), name=name)


#: the registry's entry: lists the workloads; ``run`` makes the real one from ``--bin``
SYSTEM = MaelstromSystem()
