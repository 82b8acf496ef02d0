"""One-way topologies cut links in one direction only, and always cut something."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from splitbrain.nemesis import grudges

node_lists = st.integers(min_value=2, max_value=11).map(lambda n: [f"n{i}" for i in range(1, n + 1)])
seeds = st.integers(min_value=0, max_value=2**32)


def one_directional(g):
    links = set(grudges.cut_links(g))
    assert links
    assert all((dst, src) not in links for src, dst in links)
    assert all(src != dst for src, dst in links)
    return links


@given(node_lists, seeds)
def test_one_way_isolate_mutes_one_node_that_still_hears_everyone(nodes, seed):
    g = grudges.one_way_isolate(nodes, random.Random(seed))
    links = one_directional(g)
    srcs = {s for s, _ in links}
    assert len(srcs) == 1
    (mute,) = srcs
    assert links == {(mute, d) for d in nodes if d != mute}
    assert not g.get(mute)


@given(node_lists, seeds)
def test_one_way_halves_cuts_one_side_to_the_other(nodes, seed):
    g = grudges.one_way_halves(nodes, random.Random(seed))
    links = one_directional(g)
    srcs, dsts = {s for s, _ in links}, {d for _, d in links}
    assert not srcs & dsts and srcs | dsts == set(nodes)
    assert len(dsts) - len(srcs) in (0, 1)
    assert links == {(s, d) for s in srcs for d in dsts}


@given(node_lists, seeds)
def test_one_way_random_cuts_some_links_one_way_or_both(nodes, seed):
    g = grudges.one_way_random(nodes, random.Random(seed))
    links = set(grudges.cut_links(g))
    assert links and all(s != d and s in nodes and d in nodes for s, d in links)
    assert g == grudges.one_way_random(list(reversed(nodes)), random.Random(seed))
