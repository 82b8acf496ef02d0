"""The public surface of splitbrain: everything a plugin imports, and nothing else.

A plugin is an ordinary Python package that declares entry points (each value
``"module:attribute"``) in one of these groups::

    [project.entry-points."splitbrain.systems"]
    mykv = "mykv_plugin:SYSTEM"          # an object satisfying System
    # also: splitbrain.workloads (Workload), splitbrain.faults (Fault),
    #       splitbrain.checkers (a Checker function), splitbrain.backends (a Backend class)

splitbrain loads them lazily: listing names imports nothing, and a plugin that
fails to import, or is not what its group needs, is reported in one line
naming its distribution while every other name keeps working.

A system is the smallest useful plugin. It needs ``name``, ``workloads``,
``bugs``, ``node_command(config, python) -> argv`` and ``client(host, port)``;
for a server speaking splitbrain's JSON-lines wire protocol (docs/wire-protocol.md)
``client`` is just ``WireClient(host, port)``. Optional abilities are
declared, never guessed at:

* ``traits = SystemTraits(...)``: default cluster size and faults, faults that
  cannot act on it, files to ship to every node (docker and ssh nodes get them in
  ``NodeConfig.files_dir``), peer addressing;
* ``configure(opts: SystemOpts) -> System``: read ``--bug`` and
  ``--system-opt KEY=VALUE`` once, before anything starts (raise
  ``UsageError`` for a bad one: exit 64);
* ``setup_node(node: NodeHandle)`` / ``teardown_node(node)``: run commands on,
  or upload files to, each node before it starts;
* ``async ready(host, port) -> bool`` (:class:`ReadinessProbe`): for nodes that
  open their port before they serve (a JVM ensemble electing a leader); the
  run waits until every node is ready before the workload and faults start;
* ``async leader(nodes) -> name`` (:class:`LeaderProbe`): which node leads,
  for the faults aimed at the leader;
* ``promises() -> str`` (:class:`Documented`): what this configuration
  guarantees, printed at the top of every report;
* ``members`` / ``remove_member`` / ``add_member`` (:class:`Membership`, with
  :class:`MembershipView` and :class:`MembershipChange`): the cluster's
  membership, for ``--nemesis membership``; a wiped node finds
  :data:`WIPED_MARKER` in its data dir and must join, not bootstrap.

The built-in etcd adapter (``splitbrain/systems/etcd.py``) imports only this
module; it is a complete example of a third-party system.
"""

from __future__ import annotations

from splitbrain.backends.base import Backend, ClusterSpec, Grudge, LinkMeasure, Measurement, PacketRule
from splitbrain.checkers.result import Anomaly, Checker, Result, Valid
from splitbrain.errors import HarnessError, SplitbrainError, UsageError
from splitbrain.history import NEMESIS, History, Op
from splitbrain.nemesis.base import Drawn, Fault, FaultNotEffective, NemesisContext, Reconfiguring
from splitbrain.systems.base import NodeConfig, System, SystemClient, WireClient
from splitbrain.systems.capabilities import (
    WIPED_MARKER,
    CommandResult,
    Configurable,
    Documented,
    LeaderProbe,
    Membership,
    MembershipChange,
    MembershipView,
    NodeHandle,
    NodeSetup,
    ReadinessProbe,
    SystemOpts,
    SystemTraits,
)
from splitbrain.workloads.base import BaseWorkload, CheckerSpec, Request, Workload

__all__ = [
    # systems under test
    "System", "NodeConfig", "SystemClient", "WireClient",
    "SystemTraits", "SystemOpts", "Configurable", "NodeSetup", "NodeHandle", "CommandResult",
    "ReadinessProbe", "Documented", "LeaderProbe", "Membership", "MembershipView", "MembershipChange",
    "WIPED_MARKER",
    # workloads
    "Workload", "BaseWorkload", "Request", "CheckerSpec",
    # faults
    "Fault", "Drawn", "Reconfiguring", "NemesisContext", "FaultNotEffective",
    # checkers and histories
    "Checker", "Result", "Anomaly", "Valid", "Op", "History", "NEMESIS",
    # backends
    "Backend", "ClusterSpec", "Grudge", "LinkMeasure", "Measurement", "PacketRule",
    # errors (each maps to an exit code)
    "SplitbrainError", "UsageError", "HarnessError",
]
