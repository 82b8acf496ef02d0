"""The register stream: fresh write values, so a pending write explains at most one value."""

from __future__ import annotations

import itertools
import random
from collections import Counter

from splitbrain.registry import WORKLOADS


def test_writes_and_cas_new_values_are_never_reused_per_key() -> None:
    for name in ("register", "kv", "rw-register"):
        reqs = list(itertools.islice(WORKLOADS.get(name).requests(random.Random(5)), 2000))
        new = Counter((r.key, r.value if r.f == "write" else r.value[1]) for r in reqs if r.f in ("write", "cas"))
        assert new and max(new.values()) == 1, name


def test_cas_expects_a_recent_write_of_its_key_and_mix_holds() -> None:
    reqs = list(itertools.islice(WORKLOADS.get("kv").requests(random.Random(9)), 4000))
    written: dict[str, list[int]] = {}
    cas = 0
    for r in reqs:
        if r.f == "cas":
            cas += 1
            assert r.value[0] in written[r.key][-3:], (r, written[r.key][-3:])
        if r.f in ("write", "cas"):
            written.setdefault(r.key, []).append(r.value if r.f == "write" else r.value[1])
    fs = Counter(r.f for r in reqs)
    assert 0.45 < fs["read"] / len(reqs) < 0.55 and 0.2 < cas / len(reqs) < 0.3


def test_stream_is_seeded() -> None:
    w = WORKLOADS.get("register")
    assert list(itertools.islice(w.requests(random.Random(1)), 300)) == list(
        itertools.islice(w.requests(random.Random(1)), 300))
