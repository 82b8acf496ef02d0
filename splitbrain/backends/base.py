"""Where nodes live: the seam between the harness and the machines.

A backend owns node processes and the network between them. Everything above
this seam (run loop, nemesis, workloads) is backend-agnostic: a fault is
expressed as a call here (kill this node, apply this grudge, skew that clock).

All methods are coroutines; blocking SDKs (docker, paramiko) run them in a
thread with ``asyncio.to_thread``. A backend must make :meth:`teardown` safe
to call at any point, twice, and after a partial :meth:`setup`: it is called
from ``finally`` blocks and signal handlers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

#: A grudge maps a node to the set of nodes whose messages it drops
#: (Jepsen's representation of a partition). ``{"n1": {"n2"}}`` cuts n2 -> n1.
Grudge = dict[str, set[str]]


@dataclass
class ClusterSpec:
    """What the backend must start: which system, how many nodes, where to put files."""

    system: Any  # splitbrain.systems.base.System
    nodes: list[str]
    run_dir: str
    run_id: str
    bug: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: serve each node's data dir through the fault filesystem (a ``disk`` fault is scheduled)
    disk: bool = False


@dataclass
class PacketRule:
    """Degradation of the directed links (src -> dst)."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0  # probability in [0, 1]


@dataclass
class LinkMeasure:
    """One directed link src -> dst as a backend that carries the traffic itself counts it."""

    src: str
    dst: str
    cut: bool = False
    forwarded_bytes: int = 0
    dropped_bytes: int = 0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    #: bytes forwarded since the link was cut (anything but 0 is a leak)
    forwarded_since_cut: int = 0
    #: the backend's other counters (messages, connections, ...), for the record
    counters: dict[str, int] = field(default_factory=dict)


@dataclass
class Measurement:
    """What a backend measured to be in effect right now (:meth:`Backend.verify`), never what it
    remembers asking for: the nemesis checks each fault took effect against it.

    A field left ``None`` is one this backend cannot measure; a fault checked against it is then
    recorded as unverified instead of failing. Links are ``[src, dst]`` pairs, sorted.
    """

    #: directed links that carry nothing (partitions)
    cut: list[list[str]] | None = None
    #: cut links that forwarded bytes anyway, as "src->dst"
    leaking: list[str] | None = None
    #: directed links with loss or delay in effect
    degraded: list[list[str]] | None = None
    paused: list[str] | None = None
    killed: list[str] | None = None
    #: nodes gone without the harness killing them (lost control), one sentence each
    lost: list[str] = field(default_factory=list)
    #: wall-clock offsets from true time, seconds (nodes at 0 left out)
    clock: dict[str, float] | None = None
    #: per node: libfaketime is loaded into its process
    faketime: dict[str, bool] = field(default_factory=dict)
    #: per-link traffic counters, where the backend carries the traffic (leader probes use them)
    links: dict[str, LinkMeasure] | None = None
    #: per node: the fault filesystem's stats, where data dirs are served by it
    disk: dict[str, Any] | None = None
    #: what else this backend measured (container states, wall-clock skew, ...), for the record
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, report: Any) -> Measurement:
        """A backend's report as a Measurement: itself, or (a plugin backend written against the
        older dict report) the dict's known keys, the rest kept in ``details``."""
        if isinstance(report, Measurement):
            return report
        if not isinstance(report, dict):
            return cls()
        known = {f.name for f in fields(cls)} - {"links", "details"}
        m = cls(**{k: v for k, v in report.items() if k in known})
        m.details = {k: v for k, v in report.items() if k not in known and k != "links"}
        links = report.get("links")
        if isinstance(links, dict):
            m.links = {}
            for name, v in links.items():
                if isinstance(v, dict) and len(v.get("link") or ()) == 2:
                    src, dst = v["link"]
                    m.links[name] = LinkMeasure(src, dst, bool(v.get("cut")), int(v.get("forwarded_bytes", 0)),
                                                int(v.get("dropped_bytes", 0)))
        return m


@runtime_checkable
class Backend(Protocol):
    """Where nodes live (see the module docs). A plugin backend is a class taking its options dict;
    ``teardown`` must be safe at any point, twice, and after a partial ``setup``."""

    name: str

    async def setup(self, cluster: ClusterSpec) -> None:
        """Install and start every node; return once every node's client port accepts connections.
        Raise NodeStartError naming the node (with its log tail) when one does not come up."""
        ...

    async def teardown(self) -> None:
        """Heal every fault, stop every node, collect logs into the run dir, release resources."""
        ...

    def client_address(self, node: str) -> tuple[str, int]:
        """Where the control node reaches ``node``'s client port."""
        ...

    async def kill(self, node: str) -> None: ...          # SIGKILL (or docker kill)
    async def start(self, node: str) -> None: ...         # restart a killed node from its data dir
    async def pause(self, node: str) -> None: ...         # SIGSTOP / cgroup freeze
    async def resume(self, node: str) -> None: ...

    async def partition(self, grudge: Grudge) -> None:
        """Replace the current partition by ``grudge`` (empty grudge = fully connected)."""
        ...

    async def packet(self, links: list[tuple[str, str]], rule: PacketRule) -> None:
        """Degrade the given directed links; ``PacketRule()`` restores them."""
        ...

    async def clock(self, node: str, offset_s: float) -> None:
        """Set ``node``'s wall-clock offset from true time (monotonic clock untouched)."""
        ...

    async def verify(self) -> Measurement:
        """Report the faults actually in effect (blocked links, paused nodes, clock offsets),
        measured, not remembered, so the nemesis can check a fault took effect."""
        ...

    async def heal(self) -> None:
        """Undo every network, packet, pause and clock fault; restart killed nodes."""
        ...


@runtime_checkable
class DiskBackend(Protocol):
    """The capability the ``disk`` fault needs: nodes whose data dirs are served by lazyfs
    (:mod:`splitbrain.backends.disk.lazyfs`) when ``ClusterSpec.disk`` is set."""

    async def disk(self, node: str, request: dict[str, Any]) -> dict[str, Any]:
        """Send one control request (stats, crash, fsync-error, slow-fsync, clear) to ``node``'s
        fault filesystem; its answer (a crash answers with what it dropped)."""
        ...

    async def power_loss(self, node: str, torn: bool, seed: int) -> dict[str, Any]:
        """Kill ``node`` and drop everything it never synced, in the order this backend needs
        so that nothing is written in between; the crash report (dropped bytes, files, names)."""
        ...


@runtime_checkable
class DiskPrecheck(Protocol):
    """A disk backend that can say, before a run, why its fault filesystem cannot work on this
    machine (no ``/dev/fuse``, no FUSE binding): the run is refused with exit 64, not started."""

    @staticmethod
    def disk_unavailable() -> str | None:
        """Why the fault filesystem cannot be mounted here, or None."""
        ...


@runtime_checkable
class LinkCounting(Protocol):
    """A backend that carries peer traffic itself can read its link counters alone, far cheaper
    than a whole :meth:`Backend.verify` (which also proves no connection bypasses the links, reads
    every fault filesystem's stats, ...). Finding the leader by its traffic reads them twice per
    leader-aimed fault: through ``verify`` that took up to 3 s on a loaded machine, and a run's
    opening leader cut came 3.3 s late."""

    async def link_counters(self) -> dict[str, LinkMeasure]:
        """Every directed link's counters now (``Measurement.links``' shape); empty when none."""
        ...


@runtime_checkable
class WipingBackend(Protocol):
    """The capability the ``membership`` fault needs to bring a node back empty: a removed node
    is killed, then its data dir emptied (leaving the wiped marker its system reads at start)."""

    async def wipe(self, node: str) -> None:
        """Empty ``node``'s data dir (the node is stopped)."""
        ...


@runtime_checkable
class NodeListChecker(Protocol):
    """A backend whose nodes are a fixed set (hosts in a nodes file) checks before a run that the
    cluster fits, so a run never starts on fewer hosts than nodes."""

    def check_nodes(self, nodes: list[str]) -> None:
        """Raise UsageError when ``nodes`` cannot be placed."""
        ...

