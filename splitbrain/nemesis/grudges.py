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


TOPOLOGIES: dict[str, Callable[[Sequence[str], random.Random], Grudge]] = {
    "halves": halves,
    "isolate": isolate,
    "majorities-ring": majorities_ring,
    "bridge": bridge,
    "random": random_split,
}


def cut_links(grudge: Grudge) -> list[tuple[str, str]]:
    """The directed links (src, dst) a grudge cuts: dst drops src."""
    return sorted((src, dst) for dst, srcs in grudge.items() for src in srcs if src != dst)


def to_json(grudge: Grudge) -> dict[str, list[str]]:
    return {n: sorted(s) for n, s in sorted(grudge.items()) if s}
