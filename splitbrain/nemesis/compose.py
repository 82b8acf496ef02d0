"""Making a schedule from a seed: which faults, when, for how long, overlapping how.

Bugs hide in combinations and in transitions, so the default schedule
(:func:`generate`) is a sequence of *bursts* separated by recovery windows:

* ``single`` -- one fault for about one interval (the classic nemesis);
* ``composed`` -- two or three faults of different kinds active at once, as
  Jepsen's combined nemesis does: a partition while a node is paused, a kill
  landing just before a partition heals (the second fault starts inside the
  first and may outlast it, so heals and crashes race);
* ``flapping`` -- one fault (a partition or a membership change when there is one) switched on and off
  every fraction of a second: leaders are deposed and re-elected over and over
  and many ops are in flight at every heal;
* ``reconfigure`` -- membership changes during a partition (only in a run that
  has both): the network is cut, the old leader with a minority when the run's
  partitions can draw that shape; once the other side had time to elect its
  own leader, the nodes the smallest side cannot reach are removed through
  that side (an operator replacing the nodes that look dead from where it
  stands; resolved when applied, from the measured cut) and added back, with
  their data, after the heal. Two changes from the cut-off side are where
  single-server reconfiguration breaks: a leader that takes them both can
  shrink its configuration to a majority it still has while the other side
  commits under the old one. A random draw put a membership window inside
  such a partition in few runs, so such a run gets at least one of these
  bursts (:data:`RECONFIGURE_WEIGHT` for more);

* ``leader-cut`` -- the leader cut off with a minority, alone, for one to one
  and a half intervals: Jepsen's canonical partition, where a deposed leader
  serves stale reads, acknowledges writes the majority never sees, or (with a
  miscounted quorum) keeps committing beside the new leader. Dealt from the
  decks, that shape came in whole runs only once or never, at the end of the
  run, or under a kill that left neither side a majority (raft's
  ack-before-commit missed seeds 401 and 403 so, in two sessions running);
  so every run whose partitions can draw it opens with one (the first burst,
  a leader elected by then), unless it owes a ``reconfigure`` burst (which
  cuts the leader off the same way). Placed at random, a burst owed this way
  came late: a flapping burst before it could take 20 s, and the cut then
  ended with the run, nothing read after its heal;

and between bursts the cluster gets a recovery window (no faults) so that
what a fault broke can be observed once the system claims to be healthy.
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

A fault with an essential window (``disk``: a power loss of every node at once) gets
one in every run: when the deck dealt none, one of its windows takes those parameters.

Each fault's parameters come from its ``draw`` (``{}`` for a fault that draws
when applied), and every window gets its own seed, all from one
``random.Random``: one seed, one schedule.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from typing import Any

from splitbrain.nemesis.base import Reconfiguring, essential_of, group_of, holds_essential
from splitbrain.nemesis.plan import Schedule, Window
from splitbrain.registry import FAULTS

#: burst kinds and how often each is drawn
BURSTS = {"single": 0.35, "composed": 0.4, "flapping": 0.25}
#: weight of the ``reconfigure`` burst beside :data:`BURSTS` in a run with membership and partition
#: faults (at least one comes anyway; this makes about a second in a 30 s run)
RECONFIGURE_WEIGHT = 0.5
#: the partition shape a reconfigure burst asks for when the run's partitions can draw it
RECONFIGURE_TOPOLOGY = "leader-minority"
#: the shape of a leader-cut burst, and its length in intervals (drawn between the two): long enough
#: for the majority to elect (etcd waits out a 1 s election timeout), write, and the cut-off side to
#: answer its clients from what it has
LEADER_CUT_TOPOLOGY = "leader-minority"
LEADER_CUT_SPAN = (1.0, 1.5)
#: the leader cut opens a run no sooner than this many intervals in: a loaded machine's first election
#: can take a second or two, and a cut before it deposes nobody
LEADER_CUT_AT = 0.4
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


class _Builder:
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
        if topology not in _topologies(fault):
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
        shapes = {n: _topologies(self.objs[n]) for n in names}
        if any(shapes.values()):
            self._refill_topologies(lambda t: any(t in s for s in shapes.values()))
            top = self._topologies[-1] if self._topologies else None
            fits = [n for n in names if top in shapes[n]]
            if fits:
                return self.rng.choice(fits)
        return self.rng.choice(names)

    def _refill_topologies(self, wanted: Any) -> None:
        if any(wanted(t) for t in self._topologies):
            return
        allowed: dict[str, int] = {}
        for name, fault in self.objs.items():
            shapes = _topologies(fault)
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
        shapes = _topologies(self.objs[name])
        if not shapes:
            return None
        self._refill_topologies(lambda t: t in shapes)
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


def _topologies(fault: Any) -> tuple[str, ...]:
    """The partition shapes a fault can draw (a partition fault's ``topologies``), else ()."""
    shapes = getattr(fault, "topologies", None)
    return tuple(dict.fromkeys(shapes)) if isinstance(shapes, tuple | list) and callable(
        getattr(fault, "draw", None)) else ()


def generate(faults: list[str], nodes: list[str], rng: random.Random, time_limit_s: float,
             interval_s: float = 5.0, draws: Mapping[str, Any] | None = None) -> Schedule:
    """The default schedule: bursts (single, composed, flapping) with recovery windows between.

    ``draws`` maps a fault name to the object whose ``draw`` chooses its parameters in this
    schedule instead of the registered fault's (``partition`` as a system aims it); the same
    name applies them when the run starts the window."""
    b = _Builder(faults, nodes, rng, draws)
    origin = {"generator": "bursts", "interval_s": interval_s, "time_limit_s": time_limit_s}
    if not faults:
        return Schedule((), tuple(nodes), origin)
    end = time_limit_s - TAIL_S
    t = interval_s * rng.uniform(0.2, 0.6)
    kinds, weights = list(BURSTS), list(BURSTS.values())
    #: a run with membership and partition faults owes one reconfigure burst until it has had one
    owed = "membership" in b.groups and "partition" in b.groups
    if owed:  # other runs draw exactly as before
        kinds, weights = [*kinds, "reconfigure"], [*weights, RECONFIGURE_WEIGHT]
    #: a run whose partitions can cut the leader off with a minority opens with that cut, alone (a run
    #: owing a reconfigure burst gets that cut there)
    cutter = None if owed else _cutter(b)
    if cutter is not None and t < end:
        t = max(t, interval_s * LEADER_CUT_AT)
        d = interval_s * rng.uniform(*LEADER_CUT_SPAN)
        b.add(cutter, t, min(t + d, time_limit_s), topology=LEADER_CUT_TOPOLOGY)
        b.clean.append((t, t + d))
        t += d + interval_s * rng.uniform(0.2, 0.6)  # recovery window
    while t < end:
        # the last start that leaves room for this burst and one more after it
        last_call = t + 2 * RECONFIGURE_SPAN[1] * interval_s >= end
        kind = "reconfigure" if owed and last_call else rng.choices(kinds, weights)[0]
        if kind == "reconfigure" and t + RECONFIGURE_SPAN[0] * interval_s > time_limit_s:
            kind = "composed"  # no room left for a change and both sides at work after it
        if kind == "reconfigure":
            t = _reconfigure(b, t, interval_s, time_limit_s)
            owed = False
        elif kind == "single":
            name = b.pick()
            d = interval_s * rng.uniform(0.5, 1.5)
            b.add(name, t, min(t + d, time_limit_s))
            t += d
        elif kind == "composed":
            t = _composed(b, t, interval_s, time_limit_s)
        else:
            name = b.flappable()
            for _ in range(rng.randint(3, 5)):
                if t >= end:
                    break
                # on long enough for an election (a deposed leader must be replaced to serve stale
                # data), off briefly: ops in flight at every heal
                on = interval_s * rng.uniform(0.2, 0.6)
                b.add(name, t, min(t + on, time_limit_s))
                t += on + interval_s * rng.uniform(0.05, 0.25)
        t += interval_s * rng.uniform(0.2, 0.6)  # recovery window
    for group in sorted(b.groups):
        _at_least_once(b, group, interval_s, end)
    for name in b.names:
        _each_fault(b, name, interval_s, end)
    for name in b.names:
        _essential(b, name, interval_s, end)
    return Schedule.from_windows(b.windows, tuple(nodes), origin)


def _cutter(b: _Builder) -> str | None:
    """The run's partition fault that can cut the leader off with a minority, if it has one."""
    names = [n for n in b.groups.get("partition", []) if LEADER_CUT_TOPOLOGY in _topologies(b.objs[n])]
    return names[0] if names else None


def _at_least_once(b: _Builder, group: str, interval_s: float, end: float) -> None:
    """A run gets at least one window of every fault group it has: bursts drawn without one would
    leave a 30 s run untested by a fault it was run with (ring's wall-clock bug shows only under a
    clock fault, and the deck alone left a third of its runs without one)."""
    names = [n for n in b.names if b.group(n) == group]
    if not names or any(w.fault in names for w in b.windows) or end <= interval_s * 0.4:
        return
    start = b.rng.uniform(interval_s * 0.2, max(interval_s * 0.2, end - interval_s))
    name, length = b.rng.choice(names), interval_s * b.rng.uniform(0.5, 1.5)
    for s, e in b.clean:  # not over a burst that must act alone: just after it, or else just before
        if start < e and s < start + length:
            start = e + interval_s * 0.2 if e + interval_s * 0.2 < end else max(0.0, s - length - interval_s * 0.2)
    b.add(name, start, min(start + length, end + TAIL_S))


def _each_fault(b: _Builder, name: str, interval_s: float, end: float) -> None:
    """A fault the deck dealt no window takes one from a fault of its group that has several: the
    deck deals groups, and ``all`` has three partition faults, so ``partition-one-way`` (the cut a
    node keeps trusting, where a fresh value sits on one replica for the whole window) came round
    in 57% of 30 s runs, and ring's unrepaired-read bug was caught in 4 of 5 runs that had one and
    1 of 5 that had none. The window taken is of the most abundant fault and shape (the deck's
    weights count: the leader cut off with a minority goes before a lone bridge) and, among those,
    the one other groups' faults overlap least, so the new fault acts on its own for a while (a
    one-way cut while every node lost power tests nothing). Same times, fresh parameters; the
    run's fault time is unchanged (adding windows instead tripled the process faults of ``all``,
    and their kills overlapped the cuts). Drawn after the bursts: the other windows stay as drawn."""
    if any(w.fault == name for w in b.windows) or end <= interval_s * 0.4:
        return
    shapes = _topologies(b.objs[name])
    if shapes and any(w.params.get("topology") in shapes for w in b.windows):
        return  # another fault already drew what this one would (the opening leader cut is partition-leader's)
    group = b.group(name)
    kinds: dict[tuple[str, Any], int] = {}
    count: dict[str, int] = {}
    for w in b.windows:
        kinds[w.fault, w.params.get("topology")] = kinds.get((w.fault, w.params.get("topology")), 0) + 1
        count[w.fault] = count.get(w.fault, 0) + 1
    spare = [i for i, w in enumerate(b.windows) if b.group(w.fault) == group and count[w.fault] > 1
             and not any(w.start_s < e and s < w.stop_s for s, e in b.clean)]  # bursts meant to stay as drawn
    if not spare:
        return

    def rank(i: int) -> tuple[float, float]:
        w = b.windows[i]
        top = w.params.get("topology")
        alone = w.stop_s - w.start_s - _overlap(b, i)
        return -min(kinds[w.fault, top] + TOPOLOGY_WEIGHTS.get(str(top), 0), 3), -round(alone * 2) / 2

    first = min(rank(i) for i in spare)
    i = b.rng.choice([i for i in spare if rank(i) == first])
    old = b.windows[i]
    b.add(name, old.start_s, old.stop_s)
    b.windows[i] = dataclasses.replace(b.windows.pop(), window=old.window)


def _overlap(b: _Builder, i: int) -> float:
    """Seconds of window ``i`` during which a window of another group is in effect."""
    w = b.windows[i]
    spans = sorted((max(o.start_s, w.start_s), min(o.stop_s, w.stop_s)) for o in b.windows
                   if b.group(o.fault) != b.group(w.fault) and o.start_s < w.stop_s and o.stop_s > w.start_s)
    covered, cursor = 0.0, w.start_s
    for s, e in spans:
        s = max(s, cursor)
        if e > s:
            covered += e - s
            cursor = e
    return covered


def _essential(b: _Builder, name: str, interval_s: float, end: float) -> None:
    """A fault with an essential window (:class:`~splitbrain.nemesis.base.Essential`) gets it in
    every run: when no window of it drew those parameters, one of its windows past the first
    quarter of the run (so the system has acknowledged something to lose) takes them; with none
    there, a new window goes in the first gap its group leaves there. Drawn last, so every other
    window of the schedule is what the seed gave before."""
    fault = b.objs[name]
    want = essential_of(fault)
    mine = [i for i, w in enumerate(b.windows) if w.fault == name]
    if not want or not mine or any(holds_essential(fault, b.windows[i].params) for i in mine):
        return
    late = [i for i in mine if b.windows[i].start_s >= end / 4]
    if not late:
        gap = _gap(b, b.group(name), end / 4, end, min_s=interval_s / 4)
        if gap is not None:
            b.add(name, gap[0], min(gap[1], gap[0] + interval_s))
            late = [len(b.windows) - 1]
    i = b.rng.choice(late or mine)
    b.windows[i] = dataclasses.replace(b.windows[i], params={**b.windows[i].params, **want})


def _gap(b: _Builder, group: str, start: float, end: float, min_s: float) -> tuple[float, float] | None:
    """The first stretch of at least ``min_s`` in [start, end] with no window of ``group``."""
    cursor = start
    for s, e in sorted([*((w.start_s, w.stop_s) for w in b.windows if b.group(w.fault) == group), *b.clean]):
        if s - cursor >= min_s:
            return cursor, s
        cursor = max(cursor, e)
    return (cursor, end) if end - cursor >= min_s else None


#: a reconfigure burst's partition lasts this many intervals (drawn between the two)
RECONFIGURE_SPAN = (1.2, 2.0)


def _reconfigure(b: _Builder, t: float, interval_s: float, time_limit_s: float) -> float:
    """Membership changes during a partition (see the module's docstring); returns when the burst ends.

    The partition is long enough for the side without the old leader to elect its own and for both
    sides to take client ops after the change; the removal starts once that election had time
    (0.4-0.7 intervals in: an election takes a few hundred ms on an idle machine, seconds on a
    loaded one), and the removed nodes, which were only cut off, rejoin with their data once the
    cut is healed."""
    rng = b.rng
    cut = next((n for n in b.groups["partition"] if RECONFIGURE_TOPOLOGY in _topologies(b.objs[n])), None)
    cut = cut or b.choose("partition")
    p_end = min(t + interval_s * rng.uniform(*RECONFIGURE_SPAN), time_limit_s)
    b.add(cut, t, p_end, topology=RECONFIGURE_TOPOLOGY)
    name = b.choose("membership")
    fault = b.objs[name]
    params = fault.reconfigure_draw(rng, list(b.nodes)) if isinstance(fault, Reconfiguring) else None
    m_start = t + interval_s * rng.uniform(0.4, 0.7)
    m_stop = max(m_start + interval_s * 0.6, p_end + interval_s * rng.uniform(0.0, 0.4))
    b.add(name, m_start, min(m_stop, time_limit_s), params=params)
    return max(p_end, m_stop)


def _composed(b: _Builder, t: float, interval_s: float, time_limit_s: float) -> float:
    """Two or three faults of different groups overlapping; returns when the burst ends."""
    rng = b.rng
    by_group: dict[str, list[str]] = {}
    for n in b.names:
        by_group.setdefault(b.group(n), []).append(n)
    first_group = b.group(b.pick())
    others = sorted(g for g in by_group if g != first_group)
    rng.shuffle(others)
    groups = [first_group, *others]
    picked = [b.choose(g) for g in groups[:rng.choice([2, 2, 3])]]
    first = interval_s * rng.uniform(0.6, 1.5)
    end = t + first
    b.add(picked[0], t, min(end, time_limit_s))
    for name in picked[1:]:
        # starts inside the first window; about half the time it outlasts it (heal-time races)
        s = t + first * rng.uniform(0.1, 0.9)
        e = end + interval_s * rng.uniform(-0.4, 0.5)
        b.add(name, s, min(max(e, s + 0.2), time_limit_s))
        end = max(end, e)
    return end


def sequential(faults: list[str], nodes: list[str], rng: random.Random, time_limit_s: float,
               interval_s: float = 5.0) -> Schedule:
    """One fault at a time: wait, start a random fault, let it act, stop it, repeat (the old nemesis)."""
    b = _Builder(faults, nodes, rng)
    t = 0.0
    while faults:
        t += interval_s * rng.uniform(0.5, 1.5)
        if t >= time_limit_s:
            break
        d = interval_s * rng.uniform(0.5, 1.5)
        b.add(rng.choice(b.names), t, min(t + d, time_limit_s))
        t += d
    return Schedule.from_windows(b.windows, tuple(nodes), {"generator": "sequential", "interval_s": interval_s})
