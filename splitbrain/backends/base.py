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

from dataclasses import dataclass, field
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

    async def verify(self) -> dict[str, Any]:
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
