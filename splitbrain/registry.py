"""Name -> implementation registries for every extension point.

Each extension point (System, Workload, Fault, Backend, Checker) has one
registry mapping a user-facing name to a ``"module:attribute"`` string, so
that listing names never imports heavy modules and an unknown name fails
early with the list of valid ones (exit 64).
"""

from __future__ import annotations

import importlib
from typing import Any

from splitbrain.errors import UsageError


class Registry:
    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)
        self._loaded: dict[str, Any] = {}

    def names(self) -> list[str]:
        return sorted(self._entries)

    def register(self, name: str, target: str | Any) -> None:
        if isinstance(target, str):
            self._entries[name] = target
        else:
            self._entries[name] = f"<object {name}>"
            self._loaded[name] = target

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> Any:
        if name not in self._entries:
            raise UsageError(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}")
        if name not in self._loaded:
            module, _, attr = self._entries[name].partition(":")
            self._loaded[name] = getattr(importlib.import_module(module), attr)
        return self._loaded[name]


SYSTEMS = Registry(
    "system",
    {
        "raft": "splitbrain.systems.raft:SYSTEM",
        "paxos": "splitbrain.systems.paxos:SYSTEM",
        "ring": "splitbrain.systems.ring:SYSTEM",
        "etcd": "splitbrain.systems.etcd:SYSTEM",
        "memkv": "splitbrain.systems.memkv:SYSTEM",
    },
)

WORKLOADS = Registry(
    "workload",
    {
        "register": "splitbrain.workloads.register:WORKLOAD",
        "rw-register": "splitbrain.workloads.rw_register:WORKLOAD",
        "kv": "splitbrain.workloads.kv:WORKLOAD",
        "set": "splitbrain.workloads.set:WORKLOAD",
        "counter": "splitbrain.workloads.counter:WORKLOAD",
        "list-append": "splitbrain.workloads.list_append:WORKLOAD",
        "unique-ids": "splitbrain.workloads.unique_ids:WORKLOAD",
    },
)

class FaultRegistry(Registry):
    """Faults, plus ``partition:<topology>``: a partition that draws only that topology.

    Aiming a run at one topology (``partition:bridge`` for dueling leaders,
    ``partition:halves`` for split brain) is how a user targets a suspicion,
    and it needs no new fault per topology.
    """

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or ":" not in name:
            return super().__contains__(name)
        try:
            self.get(name)
        except UsageError:
            return False
        return True

    def get(self, name: str) -> Any:
        base, sep, topology = name.partition(":")
        if not sep:
            return super().get(name)
        if base != "partition":
            raise UsageError(f"unknown fault {name!r}: only partition takes a topology (partition:<topology>)")
        from splitbrain.nemesis.partition import only

        return only(topology)


FAULTS = FaultRegistry(
    "fault",
    {
        "kill": "splitbrain.nemesis.process:KILL",
        "pause": "splitbrain.nemesis.process:PAUSE",
        "partition": "splitbrain.nemesis.partition:FAULT",
        "partition-one-way": "splitbrain.nemesis.partition:ONE_WAY",
        "partition-leader": "splitbrain.nemesis.partition:LEADER",
        "packet": "splitbrain.nemesis.packet:FAULT",
        "clock": "splitbrain.nemesis.clock:FAULT",
    },
)

BACKENDS = Registry(
    "backend",
    {
        "local": "splitbrain.backends.local:LocalBackend",
        "docker": "splitbrain.backends.docker:DockerBackend",
        "ssh": "splitbrain.backends.ssh:SshBackend",
    },
)

CHECKERS = Registry(
    "checker",
    {
        "linearizable": "splitbrain.checkers.linearizable:check_history",
        "set": "splitbrain.checkers.set:check_set",
        "counter": "splitbrain.checkers.counter:check_counter",
        "unique-ids": "splitbrain.checkers.unique_ids:check_unique_ids",
        "list-append": "splitbrain.checkers.list_append:check_list_append",
        "perf": "splitbrain.checkers.perf:check_perf",
    },
)
