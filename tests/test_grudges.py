"""Every topology builds a grudge that keeps the promise its name makes."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from splitbrain.nemesis import grudges

node_lists = st.integers(min_value=2, max_value=11).map(lambda n: [f"n{i}" for i in range(1, n + 1)])
seeds = st.integers(min_value=0, max_value=2**32)


def sees(grudge, nodes, n):
    return set(nodes) - grudge.get(n, set())


def well_formed(grudge, nodes):
    assert set(grudge) <= set(nodes)
    for n, dropped in grudge.items():
        assert n not in dropped and dropped <= set(nodes)


def components(grudge, nodes):
    """Side of each node, asserting the grudge is a complete split into disjoint sides."""
    sides = {frozenset(sees(grudge, nodes, n)) for n in nodes}
    assert sorted(n for s in sides for n in s) == sorted(nodes)  # disjoint and covering
    for n in nodes:
        assert n in sees(grudge, nodes, n)
    return sides


@given(node_lists, seeds)
def test_halves_and_isolate_and_random_split_the_nodes(nodes, seed):
    for name, want in (("halves", None), ("isolate", 1), ("random", None)):
        g = grudges.TOPOLOGIES[name](nodes, random.Random(seed))
        well_formed(g, nodes)
        sides = components(g, nodes)
        assert len(sides) == 2
        sizes = sorted(len(s) for s in sides)
        if name == "halves":
            assert sizes[1] - sizes[0] <= 1
        if want:
            assert sizes[0] == want
        # symmetric: a partition between sides cuts both directions
        assert all(b in g.get(a, set()) for (a, b) in grudges.cut_links(g))


@given(node_lists.filter(lambda ns: len(ns) >= 3), seeds)
def test_majorities_ring_every_node_sees_a_distinct_majority(nodes, seed):
    g = grudges.majorities_ring(nodes, random.Random(seed))
    well_formed(g, nodes)
    assert set(g) == set(nodes)
    views = [frozenset(sees(g, nodes, n)) for n in nodes]
    assert all(len(v) > len(nodes) // 2 for v in views)
    assert all(n in sees(g, nodes, n) for n in nodes)
    assert len(set(views)) == len(nodes)
    if len(nodes) >= 4:
        assert grudges.cut_links(g)


@given(node_lists.filter(lambda ns: len(ns) >= 3), seeds)
def test_bridge_one_node_sees_both_sides_that_cannot_see_each_other(nodes, seed):
    g = grudges.bridge(nodes, random.Random(seed))
    well_formed(g, nodes)
    hubs = [n for n in nodes if not g.get(n)]
    assert len(hubs) == 1
    hub = hubs[0]
    others = [n for n in nodes if n != hub]
    sides = {frozenset(sees(g, nodes, n) - {hub}) for n in others}
    assert len(sides) == 2 and all(sides) and sorted(n for s in sides for n in s) == sorted(others)
    assert all(hub in sees(g, nodes, n) for n in nodes)


@given(node_lists, seeds)
def test_same_seed_same_grudge(nodes, seed):
    for topo in grudges.TOPOLOGIES.values():
        assert topo(nodes, random.Random(seed)) == topo(list(reversed(nodes)), random.Random(seed))


def test_cut_links_and_json():
    g = {"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": set()}
    assert grudges.cut_links(g) == [("n1", "n2"), ("n2", "n1"), ("n3", "n1")]
    assert grudges.to_json(g) == {"n1": ["n2", "n3"], "n2": ["n1"]}
