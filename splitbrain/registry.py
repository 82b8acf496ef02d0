"""Name -> implementation registries for every extension point, built-in and from plugins.

Each extension point (System, Workload, Fault, Backend, Checker) has one
:class:`Registry` mapping a user-facing name to a ``"module:attribute"``
string, so that listing names never imports heavy modules and an unknown
name fails early with the list of valid ones (exit 64).

Plugins add names through entry points (``splitbrain.systems``,
``splitbrain.workloads``, ``splitbrain.faults``, ``splitbrain.checkers``,
``splitbrain.backends``): discovery reads package metadata only; a plugin is
imported when its name is first asked for. A plugin that cannot be imported,
or whose object is not what its group needs, fails only when it is the one
asked for (exit 64, one line naming its distribution); every other name keeps
working. A plugin name that clashes with a built-in is refused (listed in
:meth:`Registry.problems`), never silently shadowing ours.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from splitbrain.errors import UsageError

if TYPE_CHECKING:  # annotations only: building the registries imports no implementation
    from splitbrain.backends.base import Backend
    from splitbrain.checkers.result import Checker
    from splitbrain.nemesis.base import Fault
    from splitbrain.systems.base import System
    from splitbrain.workloads.base import Workload

T = TypeVar("T")

BUILT_IN = "built-in"


@dataclass(frozen=True)
class Entry:
    """Where a name comes from: a ``module:attribute`` target and its origin (built-in or a distribution)."""

    target: str
    origin: str = BUILT_IN


class Registry(Generic[T]):
    """One extension point: names -> lazily imported implementations of ``T``.

    ``group`` is the entry-point group plugins register in; ``check`` says what
    is wrong with a loaded plugin object (``None`` when it fits), so a bad
    plugin is one clear line instead of a traceback deep inside a run.
    """

    def __init__(self, kind: str, entries: dict[str, str], group: str | None = None,
                 check: Callable[[Any], str | None] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._check = check
        self._entries: dict[str, Entry] = {name: Entry(target) for name, target in entries.items()}
        self._loaded: dict[str, T] = {}
        self._problems: dict[str, str] = {}
        self._discovered = group is None

    def _discover(self) -> None:
        """Read the group's entry points from installed metadata (imports nothing)."""
        if self._discovered:
            return
        self._discovered = True
        try:
            eps = importlib.metadata.entry_points(group=self.group or "")
        except Exception as e:  # noqa: BLE001 - broken metadata must not hide the built-ins
            self._problems[f"<{self.group}>"] = f"cannot read entry points: {type(e).__name__}: {e}"
            return
        for ep in eps:
            dist = ep.dist.name if ep.dist is not None else "an unknown distribution"
            existing = self._entries.get(ep.name)
            if existing is not None:
                if existing.target != ep.value or existing.origin != dist:
                    self._problems[ep.name] = (f"{self.kind} {ep.name!r} from {dist} refused: the name is taken "
                                               f"by {existing.origin}")
                continue
            self._entries[ep.name] = Entry(ep.value, dist)

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def origin(self, name: str) -> str:
        """``built-in`` or the distribution that provides ``name``."""
        self._discover()
        entry = self._entries.get(name)
        return entry.origin if entry else "unknown"

    def problems(self) -> dict[str, str]:
        """Plugins refused at discovery (name clashes, unreadable metadata): name -> one line."""
        self._discover()
        return dict(self._problems)

    def register(self, name: str, target: str | T) -> None:
        if isinstance(target, str):
            self._entries[name] = Entry(target)
        else:
            self._entries[name] = Entry(f"<object {name}>")
            self._loaded[name] = target

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._entries

    def get(self, name: str) -> T:
        self._discover()
        if name not in self._entries:
            refused = f" ({self._problems[name]})" if name in self._problems else ""
            raise UsageError(f"unknown {self.kind} {name!r}{refused}; valid: {', '.join(self.names())}")
        if name not in self._loaded:
            entry = self._entries[name]
            if entry.origin == BUILT_IN:
                module, _, attr = entry.target.partition(":")
                self._loaded[name] = getattr(importlib.import_module(module), attr)
            else:
                self._loaded[name] = self._load_plugin(name, entry)
        return self._loaded[name]

    def _load_plugin(self, name: str, entry: Entry) -> T:
        where = f"{self.kind} {name!r} from {entry.origin} ({entry.target})"
        module, _, attr = entry.target.partition(":")
        try:
            obj: Any = importlib.import_module(module.strip())
            for part in filter(None, attr.strip().split(".")):
                obj = getattr(obj, part)
        except Exception as e:  # noqa: BLE001 - any failure inside someone else's import is one line
            raise UsageError(f"{where} cannot be loaded: {type(e).__name__}: {e}") from None
        problem = self._check(obj) if self._check else None
        if problem:
            raise UsageError(f"{where} is not a valid {self.kind}: {problem}")
        return obj


def _missing(obj: Any, protocol: type, members: tuple[str, ...]) -> str | None:
    if isinstance(obj, protocol):
        return None
    absent = [m for m in members if not hasattr(obj, m)]
    return f"missing {', '.join(absent)}" if absent else f"does not satisfy {protocol.__name__}"


def _check_system(obj: Any) -> str | None:
    from splitbrain.systems.base import System

    problem = _missing(obj, System, ("name", "workloads", "bugs", "node_command", "client"))
    if problem is None and not all(isinstance(w, str) for w in obj.workloads):
        return "workloads must be a sequence of workload names"
    return problem


def _check_workload(obj: Any) -> str | None:
    from splitbrain.workloads.base import Workload

    return _missing(obj, Workload, ("name", "ops", "no_effect", "requests", "to_wire", "from_wire",
                                    "final_requests", "checkers"))


def _check_fault(obj: Any) -> str | None:
    from splitbrain.nemesis.base import Fault

    return _missing(obj, Fault, ("name", "start", "stop"))


def _check_callable(obj: Any) -> str | None:
    return None if callable(obj) else f"{type(obj).__name__} is not callable"


SYSTEMS: Registry[System] = Registry(
    "system",
    {
        "raft": "splitbrain.systems.raft:SYSTEM",
        "paxos": "splitbrain.systems.paxos:SYSTEM",
        "ring": "splitbrain.systems.ring:SYSTEM",
        "etcd": "splitbrain.systems.etcd:SYSTEM",
        "memkv": "splitbrain.systems.memkv:SYSTEM",
        "maelstrom": "splitbrain.systems.maelstrom:SYSTEM",
    },
    group="splitbrain.systems",
    check=_check_system,
)

WORKLOADS: Registry[Workload] = Registry(
    "workload",
    {
        "register": "splitbrain.workloads.register:WORKLOAD",
        "rw-register": "splitbrain.workloads.rw_register:WORKLOAD",
        "kv": "splitbrain.workloads.kv:WORKLOAD",
        "set": "splitbrain.workloads.set:WORKLOAD",
        "sets": "splitbrain.workloads.set:SETS",
        "counter": "splitbrain.workloads.counter:WORKLOAD",
        "list-append": "splitbrain.workloads.list_append:WORKLOAD",
        "txn-rw-register": "splitbrain.workloads.txn_rw_register:WORKLOAD",
        "unique-ids": "splitbrain.workloads.unique_ids:WORKLOAD",
    },
    group="splitbrain.workloads",
    check=_check_workload,
)


class FaultRegistry(Registry["Fault"]):
    """Faults, plus ``partition:<topology>``: a partition that draws only that topology
    (and ``disk:<variant>``: a disk fault of one kind).

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

    def get(self, name: str) -> Fault:
        base, sep, topology = name.partition(":")
        if not sep:
            return super().get(name)
        if base == "disk":
            from splitbrain.nemesis.disk import variant

            return variant(topology)
        if base != "partition":
            raise UsageError(f"unknown fault {name!r}: only partition:<topology> and disk:<variant> take a suffix")
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
        "disk": "splitbrain.nemesis.disk:FAULT",
        "membership": "splitbrain.nemesis.membership:FAULT",
    },
    group="splitbrain.faults",
    check=_check_fault,
)

#: backends are classes: the registry holds the class, a run instantiates it with its options
BACKENDS: Registry[type[Backend]] = Registry(
    "backend",
    {
        "local": "splitbrain.backends.local.backend:LocalBackend",
        "docker": "splitbrain.backends.docker.backend:DockerBackend",
        "ssh": "splitbrain.backends.ssh.backend:SshBackend",
    },
    group="splitbrain.backends",
    check=_check_callable,
)

CHECKERS: Registry[Checker] = Registry(
    "checker",
    {
        "linearizable": "splitbrain.checkers.linearizable:check_history",
        "set": "splitbrain.checkers.set:check_set",
        "counter": "splitbrain.checkers.counter:check_counter",
        "unique-ids": "splitbrain.checkers.unique_ids:check_unique_ids",
        "list-append": "splitbrain.checkers.list_append:check_list_append",
        "rw-register": "splitbrain.checkers.rw_register:check_rw_register",
        "txn-rw-register": "splitbrain.checkers.rw_register:check_rw_register",
        "perf": "splitbrain.checkers.perf:check_perf",
        "eventual-set": "splitbrain.checkers.eventual_set:check_eventual_set",
        "echo": "splitbrain.checkers.echo:check_echo",
    },
    group="splitbrain.checkers",
    check=_check_callable,
)
