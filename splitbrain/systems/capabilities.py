"""What a system *may* do beyond the :class:`~splitbrain.systems.base.System` protocol.

Jepsen keeps its ``DB`` protocol tiny and declares optional abilities as
separate protocols (``Kill``, ``Pause``, ``LogFiles``) that the harness checks
for before using. splitbrain does the same, so a plugin author implements only
what their system needs and the harness never guesses with ``getattr``:

* :class:`SystemTraits` -- plain facts as fields (default cluster size, faults
  that cannot act on it, files to ship to nodes, how peers address each
  other). A system declares them as ``traits = SystemTraits(...)``;
  :func:`traits_of` is the one place that reads them.
* :class:`Configurable` -- ``configure(opts)`` receives the run's
  :class:`SystemOpts` (``--bug`` and every ``--system-opt KEY=VALUE``) once,
  before anything starts, and returns the system to use for the run. Bad
  options raise :class:`~splitbrain.errors.UsageError` (exit 64) right there.
* :class:`NodeSetup` -- ``setup_node(node)`` runs on each node after its
  files are shipped and before its process starts; ``teardown_node(node)``
  before the node's logs are collected. ``node`` is a :class:`NodeHandle`:
  run a command on that node, upload a file to it, on any backend.
* :class:`Documented` -- ``promises()``: what this configuration of the system
  promises (and so which anomalies are its documented behaviour, not a bug),
  printed at the top of every run's report.
* :class:`LeaderProbe` -- ``async leader(nodes)``: which node leads, for the
  faults aimed at the leader.
* :class:`ReadinessProbe` -- ``async ready(host, port)``: whether a node
  serves yet (not merely accepts connections); the run waits for every node
  (:func:`wait_serving`) before the workload and the nemesis start.
* :class:`Membership` -- ``members``/``remove_member``/``add_member``: the
  cluster's membership view and changes to it, which the ``membership`` fault
  drives (a system without it refuses ``--nemesis membership``, exit 64).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from splitbrain.errors import UsageError


@dataclass(frozen=True)
class SystemOpts:
    """The run's choices a system may act on: the seeded ``bug`` and ``--system-opt KEY=VALUE`` pairs.

    Values are strings, as typed; the typed getters validate and convert them
    and raise :class:`UsageError` naming the key and what is allowed, so a typo
    stops the run before a node starts. Call :meth:`check_keys` with the keys
    your system understands so an unknown key is refused, not ignored.
    """

    bug: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)

    def choice(self, key: str, allowed: Sequence[str], default: str) -> str:
        """The value of ``key``, which must be one of ``allowed`` (``default`` when absent)."""
        value = self.values.get(key, default)
        if value not in allowed:
            raise UsageError(f"--system-opt {key}={value!r}: allowed values: {', '.join(allowed)}")
        return value

    def integer(self, key: str, default: int, low: int | None = None, high: int | None = None) -> int:
        """The value of ``key`` as an int within [low, high] (``default`` when absent)."""
        raw = self.values.get(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise UsageError(f"--system-opt {key}={raw!r}: expected an integer") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise UsageError(f"--system-opt {key}={value}: must be within [{low}, {high}]")
        return value

    def number(self, key: str, default: float, low: float | None = None) -> float:
        """The value of ``key`` as a float >= low (``default`` when absent)."""
        raw = self.values.get(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise UsageError(f"--system-opt {key}={raw!r}: expected a number") from None
        if low is not None and value < low:
            raise UsageError(f"--system-opt {key}={value}: must be >= {low}")
        return value

    def check_keys(self, system: str, known: Sequence[str]) -> None:
        """Refuse keys the system does not understand (exit 64, listing the ones it does)."""
        unknown = sorted(set(self.values) - set(known))
        if unknown:
            valid = ", ".join(sorted(known)) or "(none)"
            raise UsageError(f"system {system!r} has no option {unknown[0]!r}; its --system-opt keys: {valid}")


def parse_system_opts(pairs: Sequence[str]) -> dict[str, str]:
    """``["reads=sync", "wait=3"]`` -> ``{"reads": "sync", "wait": "3"}``; a malformed pair is exit 64."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--system-opt expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


@dataclass(frozen=True)
class SystemTraits:
    """Facts about a system the harness and backends act on. Every field has the common default.

    ``files`` maps a file name on the node to a path on the control host; the
    backend ships each file into the node's ``NodeConfig.files_dir`` before the
    node starts (on the local backend too, so a command works the same
    everywhere). ``shared_peer_addresses``: members must agree on every peer's
    address (etcd derives its cluster ID from them), so backends give every
    node the same address for a peer instead of one proxy per directed link.
    ``line_protocol``: peers exchange newline-delimited messages, so a link
    proxy may hold back whole lines (set False for gRPC/HTTP2 and other binary
    peer protocols).

    ``extra_ports``: ports peers dial besides the peer port (ZooKeeper's
    leader-election port; Redis Sentinel's port, which also serves clients).
    Each name gets a port of its own in ``NodeConfig.ports``, except
    ``"client"``, which names the client port itself when peers dial it too.
    Every port peers dial, ``"peer"`` included, is in ``NodeConfig.addresses``,
    and on the local backend each goes through the harness's proxies, so a
    partition cuts them all (local backend: with ``shared_peer_addresses``).
    ``debs``: Debian packages the node needs; the docker backend runs the
    system's nodes on an image that has them (``splitbrain image build``).
    """

    default_nodes: int = 5
    #: fault name -> why it cannot act on this system (run refuses it, ``all`` leaves it out)
    unsupported_faults: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    shared_peer_addresses: bool = False
    line_protocol: bool = True
    #: what ``run`` injects when no ``--nemesis`` is given: every supported fault, unless the
    #: system is not distributed (memkv: nothing to partition, a kill loses all by design)
    default_nemesis: str = "all"
    #: the topologies ``partition`` draws on this system, each as often as listed (empty: the
    #: fault's general mix). For a system whose documented anomaly needs one particular cut, as
    #: Jepsen's per-system tests chose their nemeses: ZooKeeper's stale reads need a follower cut
    #: off while the leader keeps a majority (``isolate-follower``), Sentinel's lost writes a
    #: primary cut off with its clients (``isolate-leader``); names from
    #: :mod:`splitbrain.nemesis.partition`, checked when a run is built
    partition_topologies: tuple[str, ...] = ()
    #: the node a client talks to coordinates its writes, and ordering them by that node's wall clock
    #: is the anomaly to look for (a Dynamo-style last-write-wins store: the ring's ``lww-clock``): every
    #: run with the ``clock`` fault then gets one window skewing a minority of the nodes far enough to
    #: invert their writes' order, an interval long and clear of process faults
    #: (:func:`splitbrain.nemesis.guarantees.ensure`)
    coordinator_clocks: bool = False
    extra_ports: tuple[str, ...] = ()
    debs: tuple[str, ...] = ()
    #: seconds a node may take to open its client port when the backend's own default is shorter
    #: (a JVM on a loaded machine takes long); None: the backend's default
    start_timeout_s: float | None = None
    #: a removed member cannot come back with its old data (etcd: its member ID is gone for good),
    #: so the ``membership`` fault always wipes it before adding it back
    rejoin_wiped_only: bool = False
    #: a removed member's process exits by itself (etcd) instead of serving ``not-member``
    removed_member_exits: bool = False
    #: a membership change sent through a side without a majority (a partition's small side) that is
    #: not answered within this many seconds is dropped by the system (etcd: the request ends with its
    #: connection, and an entry the cut-off leader appended is overwritten after the heal), so the
    #: ``membership`` fault stops waiting then. None: wait the whole change timeout, as such a change
    #: may stay pending and land at the heal (the ring's joint change; abandoned after 3 s, it completed
    #: unwatched and a correct ring lost 330 of 664 acknowledged set elements, seed 3)
    side_change_s: float | None = None
    #: clients sharing a key when the workload has independent keys and the user gave no
    #: ``--clients-per-key`` (None: the workload's own, register's 10). A leader-based system whose
    #: nodes all forward to one leader wants few: after a cut deposes the leader, the majority's
    #: writes to a key the deposed leader's clients also wrote mask the writes it acknowledged and
    #: lost (a lost write shows only to a read returning an older value), while two clients on two
    #: nodes keep a key's writers on both sides of most cuts, and some keys with no writer on the
    #: majority's side at all. ``--ops-per-key 0`` (one key for the run) keeps the workload's own
    clients_per_key: int | None = None


@runtime_checkable
class HasTraits(Protocol):
    """A system that declares :class:`SystemTraits`."""

    traits: SystemTraits


def traits_of(system: object) -> SystemTraits:
    """The system's traits, or the defaults when it declares none."""
    return system.traits if isinstance(system, HasTraits) else SystemTraits()


@runtime_checkable
class Configurable(Protocol):
    """A system whose behaviour depends on the run's options (a seeded bug, ``--system-opt``)."""

    def configure(self, opts: SystemOpts) -> Any:
        """Validate ``opts`` and return the System to use for this run (``self`` if nothing changes).
        Raise UsageError for options it does not accept."""
        ...


def configure(system: Any, opts: SystemOpts, name: str) -> Any:
    """Apply the run's options: a :class:`Configurable` system gets them; any other refuses ``--system-opt``."""
    if isinstance(system, Configurable):
        return system.configure(opts)
    if opts.values:
        raise UsageError(f"system {name!r} takes no --system-opt (got {', '.join(sorted(opts.values))})")
    return system


@dataclass(frozen=True)
class CommandResult:
    """What a command run on a node returned."""

    exit_code: int
    output: str  # stdout and stderr, interleaved


@runtime_checkable
class NodeHandle(Protocol):
    """One node as a setup hook sees it, whatever the backend (local process, container, ssh host)."""

    #: the node's name (n1, n2, ...)
    name: str
    #: where shipped files are, on the node (``{dir}`` in a system file)
    files_dir: str
    #: the node's data directory, on the node
    data_dir: str

    def run(self, argv: Sequence[str], timeout_s: float = 60.0) -> CommandResult:
        """Run ``argv`` on the node (not through a shell) in ``files_dir``; never raises on a non-zero exit."""
        ...

    def upload(self, local: str | Path, name: str) -> str:
        """Copy a control-host file into ``files_dir/name`` on the node; returns its path there."""
        ...


@runtime_checkable
class NodeSetup(Protocol):
    """A system that prepares each node before it starts (install, write config) and cleans up after."""

    def setup_node(self, node: NodeHandle) -> None:
        """Called once per node, after its files are shipped and before its process starts.
        Raise HarnessError to abort the run (exit 255) with a message naming the node."""
        ...

    def teardown_node(self, node: NodeHandle) -> None:
        """Called once per node at teardown, before logs are collected; must not raise."""
        ...


@runtime_checkable
class Documented(Protocol):
    """A system that says what it promises, in its own documentation's words, so a report that
    shows an anomaly also says whether the system ever promised otherwise."""

    def promises(self) -> str:
        """One paragraph: the guarantees of this configuration and where they are documented."""
        ...


@runtime_checkable
class LeaderProbe(Protocol):
    """A system that can say which node leads (Jepsen's ``Primary``): faults aimed at the leader
    (``partition-leader``, half of ``partition``'s draws) ask it instead of guessing from traffic,
    which finds no leader in a system whose gossip outweighs its replication (Redis Sentinel)."""

    async def leader(self, nodes: Mapping[str, tuple[str, int]]) -> str | None:
        """The leading node's name, given every node's client address; None when unknown. Must
        return within a few seconds."""
        ...


@runtime_checkable
class OwnWorkloads(Protocol):
    """A system that makes the workload for its cluster itself (Maelstrom's message shapes bind
    node names into the ops) instead of taking one from the workload registry; its
    ``workloads`` lists the names it accepts."""

    def workload_for(self, name: str, nodes: list[str]) -> Any:
        """The workload ``name`` for a cluster of ``nodes``."""
        ...


@runtime_checkable
class ReadinessProbe(Protocol):
    """A system whose nodes accept connections before they serve (a JVM ensemble electing a
    leader, sentinels still discovering each other). The run waits, bounded, until every node
    is ready before the workload and the nemesis start, so faults hit a working cluster and
    the start-up is not counted against it."""

    async def ready(self, host: str, port: int) -> bool:
        """Whether the node whose client port is at host:port serves requests now. Must return
        within a few seconds; an exception counts as not ready."""
        ...


async def wait_serving(system: object, nodes: Mapping[str, tuple[str, int]], timeout_s: float) -> float:
    """Poll a :class:`ReadinessProbe` system until every node is ready; seconds it took (0 for other
    systems). HarnessError naming the nodes still not ready after ``timeout_s``."""
    import asyncio
    import time

    from splitbrain.errors import HarnessError

    if not isinstance(system, ReadinessProbe):
        return 0.0
    start = time.monotonic()
    waiting = dict(nodes)
    while waiting:
        for name, (host, port) in list(waiting.items()):
            try:
                ok = await asyncio.wait_for(system.ready(host, port), 5.0)
            except Exception:  # noqa: BLE001 - any failure of the probe means "not yet"
                ok = False
            if ok:
                del waiting[name]
        if not waiting:
            break
        if time.monotonic() - start > timeout_s:
            raise HarnessError(f"node(s) {', '.join(sorted(waiting))} accept connections but did not "
                               f"become ready within {timeout_s:.0f} s")
        await asyncio.sleep(0.2)
    return time.monotonic() - start


#: A file the harness leaves in a node's emptied data dir when it wipes the node (the ``membership``
#: fault): the node was a member before and must *join* the running cluster, not bootstrap a new one
#: (Raft would otherwise come back with the initial configuration and an empty log, and vote again).
WIPED_MARKER = "splitbrain-wiped"


@dataclass(frozen=True)
class MembershipView:
    """What one node says the members are. ``version`` orders views (a Raft config's log index,
    the ring's epoch, etcd's raft index); ``pending``: a change is still in flight (joint ring,
    uncommitted Raft config), so the view may yet move."""

    members: tuple[str, ...]
    node: str
    version: int = 0
    pending: bool = False


ChangeOutcome = Literal["applied", "refused", "unknown"]


@dataclass(frozen=True)
class MembershipChange:
    """The answer to one membership change. ``applied``: the system says it took effect (the
    fault then verifies it in the view); ``refused``: it definitely did not (another change in
    flight, no quorum to decide it: allowed, recorded); ``unknown``: no answer (it may still land)."""

    outcome: ChangeOutcome
    node: str = ""
    members: tuple[str, ...] = ()
    reason: str = ""


@runtime_checkable
class Membership(Protocol):
    """A system whose members can be removed and added while it runs (Jepsen's membership nemesis).

    ``nodes`` maps every node of the run to its client address; the system
    asks whichever nodes it likes (a member, the leader) and must return
    within ``timeout_s`` or so. Changes are one node at a time; a system that
    serializes them answers ``refused`` to a change while another is in flight.
    A removed node that still runs answers client requests with the definite
    error ``not-member``. ``add_member(..., wiped=True)``: the node's data dir
    was emptied (with :data:`WIPED_MARKER` left in it) and it must join as new.
    """

    async def members(self, nodes: Mapping[str, tuple[str, int]], timeout_s: float) -> MembershipView:
        """The newest view among the nodes that answer; raise (any exception) when none does."""
        ...

    async def remove_member(self, node: str, nodes: Mapping[str, tuple[str, int]],
                            timeout_s: float) -> MembershipChange: ...

    async def add_member(self, node: str, nodes: Mapping[str, tuple[str, int]], timeout_s: float,
                         wiped: bool) -> MembershipChange: ...
