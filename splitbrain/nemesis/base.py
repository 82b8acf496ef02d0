"""What a fault is: a verb pair the nemesis schedule can start and stop.

A :class:`Fault` acts only through the backend seam
(:class:`splitbrain.backends.base.Backend`), so every fault runs on every
backend. ``start`` returns a JSON-able dict saying exactly what it did (which
nodes, which grudge, which links); that dict becomes the ``value`` of the
``start-<fault>`` op in the history, so a reader of the history can line up
anomalies with faults. ``stop`` undoes it and says what it undid.

Faults are applied from a schedule made before the run
(:mod:`splitbrain.nemesis.plan`). A fault that can say up front what it will do
also has ``draw(rng, nodes) -> params`` (the :class:`Drawn` capability): the
schedule stores those JSON parameters (which nodes, which topology, what
delay) and ``start`` reads them back from ``ctx.params``, so a stored schedule
is readable, replayable and shrinkable. Targets that depend on the cluster
("the leader") stay symbolic in the parameters and ``start`` resolves them,
recording the resolution in the dict it returns. A fault without ``draw`` still
works: it draws when applied, from ``ctx.rng``, which the runner seeds per
fault window, so a replay draws the same.

A fault that silently does nothing gives false confidence, so after acting,
a fault asks the backend what is *measured* to be in effect
(``backend.verify()``) and raises :class:`FaultNotEffective` when the
measurement disagrees. Keys a backend does not report are skipped (marked
unverified), never assumed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

from splitbrain.backends.base import LinkCounting, LinkMeasure, Measurement
from splitbrain.errors import HarnessError


class FaultNotEffective(HarnessError):
    """The backend's measurement says an applied fault is not in effect."""

    def __init__(self, fault: str, message: str, details: dict[str, Any]) -> None:
        self.fault = fault
        self.details = details
        super().__init__(f"fault {fault} did not take effect: {message}")


@dataclass
class NemesisContext:
    backend: Any  # splitbrain.backends.base.Backend
    nodes: list[str]
    rng: random.Random
    #: per-fault memory between start and stop (what to undo)
    state: dict[str, Any] = field(default_factory=dict)
    #: the parameters the schedule drew for the fault being started ({} = draw now from ``rng``)
    params: dict[str, Any] = field(default_factory=dict)
    #: asks the system which node leads (a LeaderProbe system), else None
    leader: Callable[[], Awaitable[str | None]] | None = None
    #: the system's Membership capability bound to the cluster (a MembershipAccess), else None
    membership: Any = None


@runtime_checkable
class Fault(Protocol):
    """A fault the nemesis schedule starts and stops. Act only through ``ctx.backend``, draw every
    random choice from ``ctx.rng``, return a JSON-able dict of what was done (it becomes the
    history op's value), and verify the effect with ``ctx.backend.verify()``. A start that changed
    nothing its window must keep says ``"held": False`` (the runner then does not hold a late start's
    window open for its whole planned length)."""

    name: str

    async def start(self, ctx: NemesisContext) -> dict[str, Any]: ...

    async def stop(self, ctx: NemesisContext) -> dict[str, Any]: ...


@runtime_checkable
class Drawn(Protocol):
    """A fault that draws its parameters when the schedule is made (before the run).

    ``draw`` is pure: the same rng state and nodes give the same JSON-able
    parameters. Faults in the same ``group`` (optional attribute, default the
    fault's name) act on the same thing (the network's one grudge, a process's
    signals) and are never scheduled to overlap.
    """

    name: str

    def draw(self, rng: random.Random, nodes: list[str]) -> dict[str, Any]: ...


@runtime_checkable
class Essential(Protocol):
    """A fault with one window every run must have (:func:`splitbrain.nemesis.compose.generate`).

    ``essential`` holds the parameters of that window (``disk``: a power loss of every node at
    once, the only one that loses what a quorum acknowledged and never fsync'd); when no window
    the deck dealt has them, the schedule gives them to one of the fault's windows. ``start``
    reads them from ``ctx.params`` like drawn ones, so a stored schedule replays them. ``None``:
    nothing is essential (a variant that never crashes)."""

    name: str

    @property
    def essential(self) -> dict[str, Any] | None: ...


def essential_of(fault: Any) -> dict[str, Any]:
    """The parameters of ``fault``'s essential window (empty: it has none)."""
    return (fault.essential if isinstance(fault, Essential) else None) or {}


def holds_essential(fault: Any, params: dict[str, Any]) -> bool:
    """Whether a window's ``params`` are ``fault``'s essential window (they hold its essential
    parameters): the schedule's builder deals one per run, and the runner never skips it."""
    want = essential_of(fault)
    return bool(want) and want.items() <= params.items()


@runtime_checkable
class Reconfiguring(Protocol):
    """A membership fault a ``reconfigure`` burst can aim (:func:`splitbrain.nemesis.compose.generate`):
    during a partition that cuts the leader off with a minority, the burst asks it for one window's
    parameters through ``reconfigure_draw``: the nodes the small side cannot reach, removed through
    that side, back with their data after the heal (the overlap of two majorities lost, where a
    reconfiguring system breaks). A membership fault without it (a plugin's) still gets a window in
    the burst, with whatever its own ``draw`` gives. Pure like :meth:`Drawn.draw`: the same rng state
    and nodes give the same JSON-able parameters."""

    name: str

    def reconfigure_draw(self, rng: random.Random, nodes: list[str]) -> dict[str, Any]: ...


@runtime_checkable
class Healing(Protocol):
    """A fault with a final word: ``heal(ctx)`` runs at the end of every run that scheduled it,
    after every fault is stopped and before the backend heals, and restores what a ``stop``
    may have left undone (membership: every node a member again). It raises
    :class:`FaultNotEffective` when it cannot (the run then ends 255); its dict is recorded."""

    name: str

    async def heal(self, ctx: NemesisContext) -> dict[str, Any]: ...


def node_lock(ctx: NemesisContext, node: str) -> asyncio.Lock:
    """One lock per node, shared by every fault that stops and starts processes (kill, pause,
    membership's wipe), held across the act and its verification: two faults of different groups
    must not restart a node the other just killed between the kill and its measurement."""
    locks = ctx.state.setdefault("_node_locks", {})
    return locks.setdefault(node, asyncio.Lock())


def held_down(ctx: NemesisContext) -> set[str]:
    """Nodes a fault keeps down on purpose until it brings them back itself: a removed etcd member,
    wiped, may start only once it is added back (started before, it finds itself missing from the
    cluster and exits). A kill's or pause's stop leaves these to that fault."""
    held: set[str] = ctx.state.setdefault("_held_down", set())
    return held


def group_of(fault: Any) -> str:
    return str(getattr(fault, "group", None) or fault.name)


def params_for(fault: Any, ctx: NemesisContext) -> dict[str, Any]:
    """The scheduled parameters, or a fresh draw when started without a schedule."""
    if ctx.params:
        return ctx.params
    draw = getattr(fault, "draw", None)
    return draw(ctx.rng, list(ctx.nodes)) if draw is not None else {}


def minority(n: int) -> int:
    """The largest group that is not a majority (at least 1)."""
    return max(1, (n - 1) // 2)


def draw_targets(rng: random.Random, nodes: list[str]) -> dict[str, Any]:
    """Jepsen's node selectors: one random node, a random minority, or the leader.

    Random picks are concrete node names; ``{"select": "leader"}`` is symbolic,
    resolved when applied (:func:`resolve_targets`), with a drawn ``fallback``
    for when no leader can be measured.
    """
    mode = rng.choice(["one", "minority", "leader"])
    k = 1 if mode != "minority" else rng.randint(1, minority(len(nodes)))
    targets = sorted(rng.sample(sorted(nodes), k))
    if mode == "leader":
        return {"select": "leader", "fallback": targets[0]}
    return {"select": mode, "nodes": targets}


async def resolve_targets(ctx: NemesisContext, spec: dict[str, Any]) -> tuple[str, list[str]]:
    """``(how they were chosen, nodes)`` for a target spec from :func:`draw_targets`."""
    if spec.get("select") == "leader":
        node, how = await leaderish(ctx, str(spec.get("fallback") or sorted(ctx.nodes)[0]))
        return f"leader:{how}", [node]
    nodes = [str(n) for n in spec.get("nodes") or [] if n in ctx.nodes]
    return str(spec.get("select", "nodes")), nodes


async def pick_targets(ctx: NemesisContext) -> tuple[str, list[str]]:
    """Draw and resolve at once (a fault started without a schedule)."""
    return await resolve_targets(ctx, draw_targets(ctx.rng, list(ctx.nodes)))


async def _outgoing_bytes(ctx: NemesisContext) -> dict[str, int] | None:
    links: dict[str, LinkMeasure] | None
    if isinstance(ctx.backend, LinkCounting):
        links = await ctx.backend.link_counters()
    else:
        links = Measurement.of(await ctx.backend.verify()).links
    if not links:
        return None
    out: dict[str, int] = {}
    for v in links.values():
        out[v.src] = out.get(v.src, 0) + v.forwarded_bytes
    return out


async def leaderish(ctx: NemesisContext, fallback: str, window_s: float = 0.3) -> tuple[str, str]:
    """The node that sent the most peer traffic in the last ``window_s``, and how it was chosen.

    In a leader-based system (Raft, multi-Paxos) the leader talks to everyone
    (heartbeats, replication) while followers mostly answer it, so the busiest
    sender is the leader, measured from the backend's link counters without
    asking the system. Faults aimed at the leader are the ones that find stale
    reads and lost writes. Without counters (or in a leaderless system, where
    it is just some node) ``fallback``, drawn from the seeded rng by the caller
    so the rng sequence is the same either way, is used.
    """
    if ctx.leader is not None:
        try:
            named = await asyncio.wait_for(ctx.leader(), 3.0)
        except Exception:  # noqa: BLE001 - a probe that fails falls back to the traffic counters
            named = None
        if named in ctx.nodes:
            return named, "system-reported"
    before = await _outgoing_bytes(ctx)
    if before is None:
        return fallback, "random"
    await asyncio.sleep(window_s)
    after = await _outgoing_bytes(ctx) or {}
    deltas = {n: after.get(n, 0) - before.get(n, 0) for n in sorted(ctx.nodes)}
    best = max(deltas, key=lambda n: deltas[n])
    if deltas[best] <= 0:
        return fallback, "random"
    return best, "busiest-sender"


#: what :func:`measured` can be asked for: the fields of a Measurement
MEASURED = frozenset(f.name for f in fields(Measurement))


async def measured(ctx: NemesisContext, fault: str, key: str) -> Any:
    """One field of ``backend.verify()`` (a :class:`Measurement` field name), or None when the
    backend does not measure it."""
    if key not in MEASURED:
        raise ValueError(f"{fault}: {key!r} is not a measurement; one of {sorted(MEASURED)}")
    return getattr(Measurement.of(await ctx.backend.verify()), key)
