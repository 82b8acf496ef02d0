"""What every generated schedule holds whatever the bursts drew, applied after them.

The bursts are random; a few things must not be left to the draw, because a run without them
tests less than its flags say: a window of every fault group the run has, a window of every
fault (a group's deck can leave one out), and a fault's essential window.
A fault with an essential window (``disk``: a power loss of every node at once) gets
one in every run: when the deck dealt none, one of its windows takes those parameters.
A partition a system aimed at dueling proposers (a dueling shape in its
``SystemTraits.partition_topologies``: paxos) gets one such window in every run where the partition
windows leave room (beside the duel burst that opens such a run: :mod:`splitbrain.nemesis.compose`),
and one aimed at one-way cuts into the leader (the ring) gets two intervals of them. A clock a
system aimed at its coordinators (the ring) gets one window that skews a minority of them far, for an
interval, while no process fault acts.

Each guarantee changes as little as it can (it takes a spare window or a gap), so every other
window is what the seed gave.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from splitbrain.nemesis.base import essential_of, holds_essential
from splitbrain.nemesis.clock import ClockFault
from splitbrain.nemesis.deck import TAIL_S, TOPOLOGY_WEIGHTS, Builder, topologies
from splitbrain.nemesis.partition import DUELING_TOPOLOGIES, ONE_WAY_LEADER


def ensure(b: Builder, interval_s: float, end: float) -> None:
    """Every group, every fault, and every essential window in ``b``'s schedule (in that order)."""
    for group in sorted(b.groups):
        _at_least_once(b, group, interval_s, end)
    for name in b.names:
        _each_fault(b, name, interval_s, end)
    for name in b.names:
        _essential(b, name, interval_s, end)
    for name in sorted(b.aimed):
        _duel(b, name, interval_s, end)
    for name in sorted(b.aimed):
        _own_shapes(b, name, interval_s, end)
    for name in sorted(b.aimed):
        _skew(b, name, interval_s, end)


def _at_least_once(b: Builder, group: str, interval_s: float, end: float) -> None:
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


def _each_fault(b: Builder, name: str, interval_s: float, end: float) -> None:
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
    shapes = topologies(b.objs[name])
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


def _overlap(b: Builder, i: int) -> float:
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


def _essential(b: Builder, name: str, interval_s: float, end: float) -> None:
    """A fault with an essential window (:class:`~splitbrain.nemesis.base.Essential`) gets it in
    every run: when no window of it drew those parameters, one of its windows past the first
    quarter of the run (so the system has acknowledged something to lose) takes them; with none
    there, or none of the fault at all, a new window goes in the first gap its group leaves there.
    Drawn last, so every other window of the schedule is what the seed gave before. (A fault the
    deck dealt no window, whose group had none to spare, used to get no essential window either:
    ``disk`` shares the process group with kill and pause, and 26 of 40 default raft runs, seeds
    401-440, had no power loss at all; raft ``no-fsync`` was caught in 1 of 3.)"""
    fault = b.objs[name]
    want = essential_of(fault)
    mine = [i for i, w in enumerate(b.windows) if w.fault == name]
    if not want or any(holds_essential(fault, b.windows[i].params) for i in mine) or end <= interval_s * 0.4:
        return
    late = [i for i in mine if b.windows[i].start_s >= end / 4]
    if not late:
        span = _quietest(b, b.group(name), end / 4, end, length=interval_s / 2)
        if span is not None:
            # its parameters are the essential ones, and the rng is left where it was: the windows
            # guaranteed after this one (a duel) are drawn as they were before it was added
            state = b.rng.getstate()
            b.add(name, *span, params=dict(want))
            b.rng.setstate(state)
            return
    if not mine:
        return  # no gap left for it: the group's windows fill the run
    i = b.rng.choice(late or mine)
    b.windows[i] = dataclasses.replace(b.windows[i], params={**b.windows[i].params, **want})


def _quietest(b: Builder, group: str, start: float, end: float, length: float) -> tuple[float, float] | None:
    """A span of up to ``length`` in [start, end] free of ``group``'s windows (and of the bursts
    meant to act alone) that other groups' windows overlap least, earliest among equals: a
    whole-cluster power loss laid over another fault's window wastes it (a one-way cut over which
    every node restarted tested nothing), so a window added for it goes where little else acts."""
    spans = [(s, e) for s, e in _gaps(b, group, start, end) if e - s >= length / 2]
    others = [(w.start_s, w.stop_s) for w in b.windows if b.group(w.fault) != group]
    best: tuple[float, float, float] | None = None
    for s, e in spans:
        size = min(length, e - s)
        for k in range(int((e - s - size) / 0.25) + 1):
            a = s + k * 0.25
            covered = sum(max(0.0, min(a + size, oe) - max(a, os_)) for os_, oe in others)
            if best is None or covered < best[0] - 1e-9:
                best = (covered, a, a + size)
    return None if best is None else (best[1], best[2])


def _gaps(b: Builder, group: str, start: float, end: float) -> list[tuple[float, float]]:
    """Every stretch of [start, end] with no window of ``group`` and no burst meant to act alone."""
    return _free(sorted([*((w.start_s, w.stop_s) for w in b.windows if b.group(w.fault) == group), *b.clean]),
                 start, end)


def _free(busy: list[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    """The stretches of [start, end] that no span of ``busy`` (sorted) covers."""
    out, cursor = [], start
    for s, e in busy:
        if s >= end:
            break
        if s > cursor:
            out.append((cursor, s))
        cursor = max(cursor, e)
    if end > cursor:
        out.append((cursor, end))
    return out


def _gap(b: Builder, group: str, start: float, end: float, min_s: float) -> tuple[float, float] | None:
    """The first stretch of at least ``min_s`` in [start, end] with no window of ``group``."""
    cursor = start
    for s, e in sorted([*((w.start_s, w.stop_s) for w in b.windows if b.group(w.fault) == group), *b.clean]):
        if s - cursor >= min_s:
            return cursor, s
        cursor = max(cursor, e)
    return (cursor, end) if end - cursor >= min_s else None


#: a dueling window lasts this many intervals (drawn between the two): several elections, each
#: deposing the other side's proposer
DUEL_SPAN = (1.0, 1.5)


def _duel(b: Builder, name: str, interval_s: float, end: float) -> None:
    """A partition fault a system aimed at dueling proposers (a shape of
    :data:`~splitbrain.nemesis.partition.DUELING_TOPOLOGIES` in its list) gets at least one window
    of that shape. Paxos's broken ballots (an acceptor taking a deposed leader's accepts) show only
    while two proposers compete; a leader cut off and healed deposes one leader once, at the heal,
    and whether its in-flight accepts land first is a coin toss. Dealt from the system's weights,
    4 of 20 default paxos runs (seeds 401-420) drew no duel (``all`` has three partition faults
    sharing the partition turns), and those runs were caught only when that toss fell right.
    The window goes in the first gap of at least one interval that the partition group (and the
    bursts meant to act alone) leaves, else it takes over the longest partition window of a fault
    that has several. Drawn last, and only for such a fault: every other schedule is unchanged."""
    duel = [t for t in topologies(b.objs[name]) if t in DUELING_TOPOLOGIES]
    if not duel or end <= interval_s * 0.4 or any(
            w.fault == name and w.params.get("topology") in duel for w in b.windows):
        return
    group = b.group(name)
    gap = _gap(b, group, interval_s * 0.2, end, min_s=interval_s)
    if gap is not None:
        start = gap[0] + interval_s * 0.1
        b.add(name, start, min(gap[1], start + interval_s * b.rng.uniform(*DUEL_SPAN)), topology=duel[0])
        return
    _take_longest(b, name, group, duel[0], keep=frozenset())


def _take_longest(b: Builder, name: str, group: str, topology: str, keep: frozenset[str]) -> bool:
    """Turn the longest window of ``group`` that can be spared into a ``topology`` window of
    ``name``, same times (a window is spared when its fault is ``name`` or has others, it is not of
    a shape in ``keep``, and no burst meant to act alone holds it); False when none can be."""
    count: dict[str, int] = {}
    for w in b.windows:
        count[w.fault] = count.get(w.fault, 0) + 1
    spare = [i for i, w in enumerate(b.windows) if b.group(w.fault) == group
             and (w.fault == name or count[w.fault] > 1) and w.params.get("topology") not in keep
             and not any(w.start_s < e and s < w.stop_s for s, e in b.clean)]
    if not spare:
        return False
    i = max(spare, key=lambda i: (round(b.windows[i].stop_s - b.windows[i].start_s, 1), -i))
    old = b.windows[i]
    b.add(name, old.start_s, old.stop_s, topology=topology)
    b.windows[i] = dataclasses.replace(b.windows.pop(), window=old.window)
    return True


#: intervals of one-way cuts into the leader (:data:`~splitbrain.nemesis.partition.ONE_WAY_LEADER`) every
#: run of a system that aims its partitions at them gets
OWN_SPAN = 2.0


def _own_shapes(b: Builder, name: str, interval_s: float, end: float) -> None:
    """A partition fault a system aimed at one-way cuts into the leader (the ring) gets
    :data:`OWN_SPAN` intervals of them: dealt from the decks, the ring's one-way cuts lasted 0 to
    12 s of a 30 s run (none in 5 of 20 default runs, seeds 401-420), and an unrepaired quorum
    read shows only under one (a writer that trusts a replica it cannot reach leaves a fresh value
    on one replica while the other two still answer readers). Partition windows are taken
    over, longest first, keeping their times (the opening leader cut and other bursts meant to stay
    as drawn are left alone, as is the only window of any fault); what is still missing goes in the
    gaps of at least half an interval that the partition group leaves. Drawn last, and only for such
    a fault: every other schedule is unchanged."""
    own = [t for t in topologies(b.objs[name]) if t in ONE_WAY_LEADER]
    if not own or end <= interval_s * 0.4:
        return
    group = b.group(name)

    def span() -> float:
        return sum(w.stop_s - w.start_s for w in b.windows if w.fault == name and w.params.get("topology") in own)

    while span() < OWN_SPAN * interval_s:
        if not _take_longest(b, name, group, own[0], keep=frozenset(own)):
            break
    while (left := OWN_SPAN * interval_s - span()) > 0:  # then new windows in the group's gaps
        gap = _gap(b, group, interval_s * 0.2, end, min_s=interval_s / 2)
        if gap is None:
            return
        start = gap[0] + interval_s * 0.1
        b.add(name, start, min(gap[1], start + max(left, interval_s / 2)), topology=own[0])


#: the clock window of a system whose coordinators stamp writes with their clocks lasts this many
#: intervals (less only where the process faults leave no such stretch), and is this many intervals
#: clear of any process fault's planned start or stop (a restart takes seconds on a loaded machine)
SKEW_SPAN, SKEW_CLEAR = 1.0, 0.2
#: groups whose windows stop a node coordinating (a kill, pause, power loss; a removal)
_STOPPERS = ("process", "membership")


def _skew(b: Builder, name: str, interval_s: float, end: float) -> None:
    """A clock fault a system aimed at its coordinators (``SystemTraits.coordinator_clocks``: the
    ring) gets one window of :meth:`~splitbrain.nemesis.clock.ClockFault.skew_draw` (a minority of
    the nodes, one ahead and one behind, each at least an interval off), :data:`SKEW_SPAN` long, where
    no process fault acts, and where other faults act least. Dealt from the decks, the ring's
    ``lww-clock`` missed 3 of 20 default runs (seeds 401-420): the only clock window lasted 0.2 s,
    during a whole-cluster power loss (412); its node was paused for the whole window (420); its
    nodes, a few seconds under lossy links and cuts, wrote little (405). A clock window there
    already is taken over (its times and parameters), one at most; else one is added. Drawn last,
    and only for such a fault: every other window is what the seed gave."""
    fault = b.objs[name]
    if not isinstance(fault, ClockFault) or not fault.coordinators or end <= interval_s * 0.4:
        return
    length, clear = interval_s * SKEW_SPAN, interval_s * SKEW_CLEAR
    busy = sorted([*((w.start_s - clear, w.stop_s + clear) for w in b.windows if b.group(w.fault) in _STOPPERS),
                   *b.clean])
    group = b.group(name)
    best: tuple[tuple[float, int, float], float, float, list[int]] | None = None
    for s, e in _free(busy, interval_s * 0.2, end):
        size = min(length, e - s)
        for k in range(int((e - s - size) / 0.25) + 1):
            a = s + k * 0.25
            mine = [i for i, w in enumerate(b.windows) if b.group(w.fault) == group and w.start_s < a + size
                    and a < w.stop_s]
            if len(mine) > 1:
                continue
            others = sum(max(0.0, min(a + size, w.stop_s) - max(a, w.start_s)) for w in b.windows
                         if b.group(w.fault) != group)
            rank = (-round(size, 1), len(mine), round(others, 2))
            if best is None or rank < best[0]:
                best = (rank, a, a + size, mine)
    if best is None:
        return
    _, start, stop, mine = best
    params = fault.skew_draw(b.rng, list(b.nodes), interval_s)
    if not mine:
        b.add(name, start, stop, params=params)
        return
    old = b.windows[mine[0]]
    b.windows[mine[0]] = dataclasses.replace(old, fault=name, start_s=round(start, 3), stop_s=round(stop, 3),
                                             params=params)
