"""Partition topologies as pure data.

A grudge maps a node to the set of nodes whose messages it drops (Jepsen's
representation): ``{"n1": {"n2"}}`` cuts the link n2 -> n1 only. Topologies
are pure functions of the node list and a ``random.Random``, so a seed
reproduces the partition and the tests can check each promise with
hypothesis:

* ``halves`` (bisect): two sides as equal as possible, no link between them.
* ``isolate``: one node alone, the rest together.
* ``majorities-ring``: every node sees a majority, and no two nodes see the same
  majority (nodes sit on a ring and each sees its neighbours); leaders keep
  being elected and deposed.
* ``bridge``: two sides joined by one node that sees everyone.
* ``random``: two random non-empty sides.

One-way cuts (asymmetric networks, as a misrouted firewall rule or a
half-dead NIC makes them): the failure detector of a node that still *hears*
its peer keeps trusting it, so the node keeps sending into the void. Only
these make the "newer value on one replica" windows and the stale-leader
races last for the whole fault instead of its first second.

* ``one-way-isolate``: nobody hears one node, that node hears everyone.
* ``one-way-halves``: one half drops the other's messages; the other way flows.
* ``one-way-random``: each directed link is cut with probability 1/4 (at least one).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

Grudge = dict[str, set[str]]


def complete(components: Sequence[Sequence[str]]) -> Grudge:
    """Each node drops every node outside its own component."""
    everyone = {n for c in components for n in c}
    return {n: everyone - set(c) for c in components for n in c}


def _shuffled(nodes: Sequence[str], rng: random.Random) -> list[str]:
    out = sorted(nodes)
    rng.shuffle(out)
    return out


def halves(nodes: Sequence[str], rng: random.Random) -> Grudge:
    ns = _shuffled(nodes, rng)
    mid = len(ns) // 2
    return complete([ns[:mid], ns[mid:]])


def isolate(nodes: Sequence[str], rng: random.Random) -> Grudge:
    ns = _shuffled(nodes, rng)
    return complete([ns[:1], ns[1:]])


def majorities_ring(nodes: Sequence[str], rng: random.Random) -> Grudge:
    ns = _shuffled(nodes, rng)
    n = len(ns)
    m = n // 2 + 1
    grudge: Grudge = {}
    for i in range(n):
        window = [ns[(i + j) % n] for j in range(m)]
        center = window[m // 2]
        grudge[center] = set(ns) - set(window)
    return grudge


def bridge(nodes: Sequence[str], rng: random.Random) -> Grudge:
    ns = _shuffled(nodes, rng)
    mid = len(ns) // 2
    a, b, hub = ns[:mid], ns[mid + 1:], ns[mid]
    grudge = complete([a, b])
    grudge[hub] = set()
    return grudge


def random_split(nodes: Sequence[str], rng: random.Random) -> Grudge:
    ns = _shuffled(nodes, rng)
    if len(ns) < 2:
        return {n: set() for n in ns}
    k = rng.randint(1, len(ns) - 1)
    return complete([ns[:k], ns[k:]])


def one_way(srcs: Sequence[str], dsts: Sequence[str]) -> Grudge:
    """Cut src -> dst for every src in ``srcs``, dst in ``dsts``; replies still flow back."""
    return {d: set(srcs) - {d} for d in dsts if set(srcs) - {d}}


def one_way_isolate(nodes: Sequence[str], rng: random.Random) -> Grudge:
    ns = _shuffled(nodes, rng)
    return one_way(ns[:1], ns[1:])


def one_way_halves(nodes: Sequence[str], rng: random.Random) -> Grudge:
    ns = _shuffled(nodes, rng)
    mid = len(ns) // 2
    return one_way(ns[:mid], ns[mid:])


def one_way_random(nodes: Sequence[str], rng: random.Random) -> Grudge:
    ns = sorted(nodes)
    links = [(s, d) for s in ns for d in ns if s != d]
    cut = [link for link in links if rng.random() < 0.25]
    if not cut and links:
        cut = [rng.choice(links)]
    grudge: Grudge = {}
    for s, d in cut:
        grudge.setdefault(d, set()).add(s)
    return grudge


TOPOLOGIES: dict[str, Callable[[Sequence[str], random.Random], Grudge]] = {
    "halves": halves,
    "isolate": isolate,
    "majorities-ring": majorities_ring,
    "bridge": bridge,
    "random": random_split,
    "one-way-isolate": one_way_isolate,
    "one-way-halves": one_way_halves,
    "one-way-random": one_way_random,
}

#: what ``partition-one-way`` draws: scattered one-way links leave most nodes able to
#: work while trusting a peer they cannot reach (a mute node or half is soon suspected)
ONE_WAY = ("one-way-random",)


def cut_links(grudge: Grudge) -> list[tuple[str, str]]:
    """The directed links (src, dst) a grudge cuts: dst drops src."""
    return sorted((src, dst) for dst, srcs in grudge.items() for src in srcs if src != dst)


def to_json(grudge: Grudge) -> dict[str, list[str]]:
    return {n: sorted(s) for n, s in sorted(grudge.items()) if s}
