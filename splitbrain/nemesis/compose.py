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
  such a partition in few runs, so such a run opens with one of these
  bursts, alone, as other runs open with a leader cut (:data:`RECONFIGURE_WEIGHT`
  for more later). Owed until the loop's "last call" instead, it came late
  whenever a flapping burst before it ran long (four membership windows
  from 8.6 s to 19.2 s, the burst at 22 s): a removal delayed past its
  partition's heal found no partition at all, or left both sides a second to
  work before the heal, and raft's ``unsafe-membership`` went unseen (seed
  18 of one sweep, 16 of the next);

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

* ``duel`` -- dueling proposers, alone, for one to one and a half intervals, right after the
  leader cut, in a run whose partition a system aims at them (a dueling shape in
  ``SystemTraits.partition_topologies``: paxos): overlapping majorities (``majorities-ring``),
  where every node sees a majority and none sees everyone, so each leader elected is deposed by
  the nodes it cannot reach and no node can win for good. A broken Paxos (an acceptor taking a
  deposed leader's accepts) shows within a second of such a window. Left to the decks and the
  guarantees (one leader bridge anywhere in the run), 3 of 20 paxos runs (seeds 401-420) missed
  it: the bridge was skipped, its start pushed past its planned stop by the partition windows
  before it running late under load (402), or a clock bump and a disk fault on the bridge's hub
  let the hub (which hears everyone) win an election and end the duel (408);

and between bursts the cluster gets a recovery window (no faults) so that
what a fault broke can be observed once the system claims to be healthy.
How faults and partition shapes are dealt is :mod:`splitbrain.nemesis.deck`; what every run
gets whatever the bursts drew (a window of each group and each fault, essential windows) is
:mod:`splitbrain.nemesis.guarantees`.

Each fault's parameters come from its ``draw`` (``{}`` for a fault that draws
when applied), and every window gets its own seed, all from one
``random.Random``: one seed, one schedule.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from splitbrain.nemesis import guarantees
from splitbrain.nemesis.base import Reconfiguring
from splitbrain.nemesis.deck import TAIL_S, Builder, topologies
from splitbrain.nemesis.partition import DUELING_TOPOLOGIES
from splitbrain.nemesis.plan import Schedule

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
#: the shapes a duel burst asks for, the first its fault can draw: overlapping majorities have no
#: hub to win the duel for good; a leader bridge does (a follower that hears everyone)
DUEL_TOPOLOGIES = ("majorities-ring", *DUELING_TOPOLOGIES)


def generate(faults: list[str], nodes: list[str], rng: random.Random, time_limit_s: float,
             interval_s: float = 5.0, draws: Mapping[str, Any] | None = None) -> Schedule:
    """The default schedule: bursts (single, composed, flapping) with recovery windows between.

    ``draws`` maps a fault name to the object whose ``draw`` chooses its parameters in this
    schedule instead of the registered fault's (``partition`` as a system aims it); the same
    name applies them when the run starts the window."""
    b = Builder(faults, nodes, rng, draws)
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
    #: a run whose partitions can cut the leader off with a minority opens with that cut, alone; a run
    #: owing a reconfigure burst opens with that burst instead (the same cut, the removals inside it)
    cutter = None if owed else _cutter(b)
    opens_at = max(t, interval_s * LEADER_CUT_AT)
    if owed and opens_at + RECONFIGURE_SPAN[0] * interval_s <= time_limit_s:
        t = _reconfigure(b, opens_at, interval_s, time_limit_s)
        b.clean.append((opens_at, t))
        owed = False
        t += interval_s * rng.uniform(0.2, 0.6)  # recovery window
    if cutter is not None and t < end:
        t = max(t, interval_s * LEADER_CUT_AT)
        d = interval_s * rng.uniform(*LEADER_CUT_SPAN)
        b.add(cutter, t, min(t + d, time_limit_s), topology=LEADER_CUT_TOPOLOGY)
        b.clean.append((t, t + d))
        t += d + interval_s * rng.uniform(0.2, 0.6)  # recovery window
    duel = _dueler(b)  # None (and no draw) in a run no system aimed at dueling proposers
    if duel is not None and t < end:
        d = interval_s * rng.uniform(*guarantees.DUEL_SPAN)
        b.add(duel[0], t, min(t + d, time_limit_s), topology=duel[1])
        # the recovery window before it stays quiet too: a whole-cluster power loss guaranteed there
        # (guarantees._essential) restarts every node into the duel
        b.clean.append((max((e for _, e in b.clean if e <= t), default=t), t + d))
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
    guarantees.ensure(b, interval_s, end)
    return Schedule.from_windows(b.windows, tuple(nodes), origin)


def _cutter(b: Builder) -> str | None:
    """The run's partition fault that can cut the leader off with a minority, if it has one."""
    names = [n for n in b.groups.get("partition", []) if LEADER_CUT_TOPOLOGY in topologies(b.objs[n])]
    return names[0] if names else None


def _dueler(b: Builder) -> tuple[str, str] | None:
    """The partition fault a system aimed at dueling proposers (one of
    :data:`~splitbrain.nemesis.partition.DUELING_TOPOLOGIES` among its shapes) and the shape of its
    duel burst, if the run has one."""
    for name in sorted(b.aimed):
        shapes = topologies(b.objs[name])
        if any(t in DUELING_TOPOLOGIES for t in shapes):
            return name, next(t for t in DUEL_TOPOLOGIES if t in shapes)
    return None


#: a reconfigure burst's partition lasts this many intervals (drawn between the two)
RECONFIGURE_SPAN = (1.2, 2.0)


def _reconfigure(b: Builder, t: float, interval_s: float, time_limit_s: float) -> float:
    """Membership changes during a partition (see the module's docstring); returns when the burst ends.

    The partition is long enough for the side without the old leader to elect its own and for both
    sides to take client ops after the change; the removal starts once that election had time
    (0.4-0.7 intervals in: an election takes a few hundred ms on an idle machine, seconds on a
    loaded one), and the removed nodes, which were only cut off, rejoin with their data once the
    cut is healed."""
    rng = b.rng
    cut = next((n for n in b.groups["partition"] if RECONFIGURE_TOPOLOGY in topologies(b.objs[n])), None)
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


def _composed(b: Builder, t: float, interval_s: float, time_limit_s: float) -> float:
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
    b = Builder(faults, nodes, rng)
    t = 0.0
    while faults:
        t += interval_s * rng.uniform(0.5, 1.5)
        if t >= time_limit_s:
            break
        d = interval_s * rng.uniform(0.5, 1.5)
        b.add(rng.choice(b.names), t, min(t + d, time_limit_s))
        t += d
    return Schedule.from_windows(b.windows, tuple(nodes), {"generator": "sequential", "interval_s": interval_s})
