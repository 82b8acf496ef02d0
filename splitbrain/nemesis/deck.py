"""Dealing faults and partition shapes from shuffled decks, the schedule builder's one source of draws.

Faults of the same group (:func:`~splitbrain.nemesis.base.group_of`) never
overlap. Groups are dealt from a shuffled deck (:data:`GROUP_WEIGHTS` copies
of each), not drawn independently: every kind of fault the run has gets its
turn before any kind comes round again, so a 30-second run is not left
without, say, a clock fault by the luck of the draw (the one fault a bug
built on wall clocks shows under). Partition shapes are dealt the same way
(:data:`TOPOLOGY_WEIGHTS`): the leader cut off with a minority, the leader
alone, scattered one-way cuts, overlapping majorities (two leaders at once),
a bridge node and plain halves each come round, instead of the shapes that
find dueling leaders turning up in one run of five. A partition a system
aims (``draws``, from ``SystemTraits.partition_topologies``) is dealt by the
system's own weights. ``interval_s`` sets the scale of windows and gaps (``--nemesis-interval``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from splitbrain.nemesis.base import group_of
from splitbrain.nemesis.plan import Window
from splitbrain.registry import FAULTS

#: copies of a fault group in the deck, against 1 for the others: the network faults find the most
#: bugs (split brains, deposed leaders, stale replicas; at 3 copies one run in twenty-five had none),
#: process faults next (crash recovery); membership
#: changes as often as partitions when asked for (each window is two changes: a removal, a re-add)
GROUP_WEIGHTS = {"partition": 4, "process": 2, "membership": 3}
#: copies of each partition shape in the topology deck; a shape not listed is dealt only when the
#: run's partition faults allow nothing listed (``partition:isolate``)
TOPOLOGY_WEIGHTS = {"leader-minority": 3, "isolate-leader": 1, "one-way-random": 1, "majorities-ring": 1,
                    "bridge": 1, "halves": 1}
#: no fault starts in the last this many seconds of the main phase (it would be healed at once)
TAIL_S = 1.0


def _params(fault: Any, rng: random.Random, nodes: list[str]) -> dict[str, Any]:
    draw = getattr(fault, "draw", None)
    return draw(rng, list(nodes)) if draw is not None else {}


class Builder:
    """A schedule being built: its windows so far, the group and shape decks they are dealt from,
    and the spans of bursts that must act alone."""

    def __init__(self, faults: list[str], nodes: list[str], rng: random.Random,
                 draws: Mapping[str, Any] | None = None) -> None:
        self.objs = {name: (draws or {}).get(name) or FAULTS.get(name) for name in faults}
        #: faults a system aimed (``draws``): their partition shapes are dealt by their own weights
        self.aimed = {name for name in faults if (draws or {}).get(name) is not None}
        self.names = list(faults)
        self.nodes, self.rng = list(nodes), rng
        self.windows: list[Window] = []
        self.groups: dict[str, list[str]] = {}
        for n in self.names:
            self.groups.setdefault(self.group(n), []).append(n)
        self._deck: list[str] = []
        self._topologies: list[str] = []
        #: spans of bursts meant to act alone (leader-cut): windows added later keep out of them
        self.clean: list[tuple[float, float]] = []

    def add(self, name: str, start_s: float, stop_s: float, topology: str | None = None,
            params: dict[str, Any] | None = None) -> None:
        """A window of ``name``; its shape dealt from the deck unless ``topology`` (one it can draw) is
        asked for, its parameters drawn unless given."""
        fault: Any = self.objs[name]  # with ``topologies``, a ``draw`` that takes a shape (:func:`_topologies`)
        if topology not in topologies(fault):
            topology = self._deal_topology(name)
        if params is None:
            params = fault.draw(self.rng, list(self.nodes), topology) if topology else \
                _params(fault, self.rng, self.nodes)
        self.windows.append(Window(name, round(start_s, 3), round(max(stop_s, start_s + 0.05), 3),
                                   len(self.windows), params, self.rng.randrange(2**31)))

    def group(self, name: str) -> str:
        return group_of(self.objs[name])

    def pick(self) -> str:
        """A fault: its group dealt from the deck (refilled and shuffled when empty), then a fault of it."""
        if not self._deck:
            self._deck = [g for g in sorted(self.groups) for _ in range(GROUP_WEIGHTS.get(g, 1))]
            self.rng.shuffle(self._deck)
        return self.choose(self._deck.pop())

    def choose(self, group: str) -> str:
        """A fault of ``group``; for partitions, one that can draw the next shape of the topology deck."""
        names = self.groups[group]
        shapes = {n: topologies(self.objs[n]) for n in names}
        if any(shapes.values()):
            self._refilltopologies(lambda t: any(t in s for s in shapes.values()))
            top = self._topologies[-1] if self._topologies else None
            fits = [n for n in names if top in shapes[n]]
            if fits:
                return self.rng.choice(fits)
        return self.rng.choice(names)

    def _refilltopologies(self, wanted: Any) -> None:
        if any(wanted(t) for t in self._topologies):
            return
        allowed: dict[str, int] = {}
        for name, fault in self.objs.items():
            shapes = topologies(fault)
            if name in self.aimed:  # a system aimed this fault: its own list is the weights
                for t in getattr(fault, "topologies", ()):
                    allowed[t] = allowed.get(t, 0) + 1
                continue
            weighted = [t for t in shapes if TOPOLOGY_WEIGHTS.get(t, 0)]
            for t in weighted or shapes:  # a fault of unlisted shapes only still gets them dealt
                allowed[t] = max(allowed.get(t, 0), TOPOLOGY_WEIGHTS.get(t, 0) or 1)
        self._topologies = [t for t in sorted(allowed) for _ in range(allowed[t])]
        self.rng.shuffle(self._topologies)

    def _deal_topology(self, name: str) -> str | None:
        """The last card of the topology deck this fault can draw (refilling the deck if none is)."""
        shapes = topologies(self.objs[name])
        if not shapes:
            return None
        self._refilltopologies(lambda t: t in shapes)
        for i in range(len(self._topologies) - 1, -1, -1):
            if self._topologies[i] in shapes:
                return self._topologies.pop(i)
        return None

    def flappable(self) -> str:
        """A fault to switch on and off: a partition or a membership change when the run has one."""
        # membership flaps too when asked for: remove, re-add, remove... is the churn a rebalancing
        # store or a reconfiguring consensus system must survive
        groups = [g for g in ("partition", "membership") if g in self.groups]
        return self.choose(self.rng.choice(groups)) if groups else self.rng.choice(self.names)


def topologies(fault: Any) -> tuple[str, ...]:
    """The partition shapes a fault can draw (a partition fault's ``topologies``), else ()."""
    shapes = getattr(fault, "topologies", None)
    return tuple(dict.fromkeys(shapes)) if isinstance(shapes, tuple | list) and callable(
        getattr(fault, "draw", None)) else ()

