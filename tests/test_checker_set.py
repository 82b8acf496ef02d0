"""The set checker on hand-made histories (each anomaly kind) and simulated correct stores."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.checkers.set import check_set
from splitbrain.errors import BadInputError
from tests.checker_sim import Builder, SetStore, simulate


def kinds(res) -> set[str]:
    return {a.kind for a in res.anomalies}


def test_clean_history_is_valid_with_recovered_counted() -> None:
    b = Builder()
    b.call(0, "add", 1, 1, key="s")
    b.call(1, "add", 2, key="s", typ="info")  # unknown, turns up: recovered
    b.call(2, "add", 3, key="s", typ="info")  # unknown, absent: fine
    b.call(3, "add", 4, key="s", typ="fail")  # failed, absent: fine
    b.call(4, "read", None, [1, 2], key="s")
    res = check_set(b.history())
    assert res.valid is True, res.summary
    assert res.stats["recovered"] == 1 and res.stats["lost"] == 0
    assert res.details["keys"]["s"]["recovered"] == [2]


def test_lost_element_names_the_add_and_the_final_read() -> None:
    b = Builder()
    add = b.call(0, "add", 1, 1, key="s")
    b.call(0, "add", 2, 2, key="s")
    read = b.call(1, "read", None, [2], key="s")
    res = check_set(b.history())
    assert res.valid is False
    (a,) = res.anomalies
    assert a.kind == "lost" and a.data["element"] == 1
    assert add in a.ops and read in a.ops and read + 1 in a.ops


def test_add_acknowledged_during_the_final_read_is_not_lost() -> None:
    b = Builder()
    b.invoke(0, "add", 1, key="s")
    b.invoke(1, "read", None, key="s")
    b.ok(0, 1)  # ack arrives after the read began: the read may legitimately miss it
    b.ok(1, [])
    res = check_set(b.history())
    assert res.valid is True
    assert res.stats["unresolved"] == 1


def test_unexpected_and_failed_present_and_duplicate() -> None:
    b = Builder()
    b.call(0, "add", 1, key="s", typ="fail")
    b.call(1, "read", None, [1, 1, 99], key="s")
    res = check_set(b.history())
    assert res.valid is False
    assert kinds(res) == {"unexpected", "failed-present", "duplicate"}
    assert next(a for a in res.anomalies if a.kind == "unexpected").data["element"] == 99


def test_element_read_before_its_add_was_invoked_is_unexpected() -> None:
    b = Builder()
    b.call(0, "read", None, [5], key="s")
    b.call(1, "add", 5, 5, key="s")
    b.call(2, "read", None, [5], key="s")
    res = check_set(b.history())
    assert kinds(res) == {"unexpected"}


def test_stale_reads_counted_and_judged_only_when_linearizable() -> None:
    b = Builder()
    b.call(0, "add", 1, 1, key="s")
    b.call(1, "read", None, [], key="s")  # began after the ack, misses it
    b.call(2, "read", None, [1], key="s")
    assert check_set(b.history()).valid is True
    assert check_set(b.history()).stats["stale"] == 1
    strict = check_set(b.history(), linearizable=True)
    assert strict.valid is False and kinds(strict) == {"stale"}


def test_keys_are_independent_and_unread_key_is_unknown() -> None:
    b = Builder()
    b.call(0, "add", 1, 1, key="a")
    b.call(0, "add", 1, 1, key="b")
    b.call(0, "read", None, [1], key="a")
    res = check_set(b.history())
    assert res.valid == "unknown" and "never read" in res.summary
    b.call(0, "read", None, [], key="b")
    res = check_set(b.history())
    assert res.valid is False and res.anomalies[0].key == "b"


def test_empty_history_is_unknown_and_elements_may_be_json_objects() -> None:
    assert check_set(Builder().history()).valid == "unknown"
    b = Builder()
    b.call(0, "add", {"x": [1]}, {"x": [1]})
    b.call(0, "read", None, [{"x": [1]}])
    assert check_set(b.history()).valid is True


def test_read_of_a_non_list_is_bad_input() -> None:
    b = Builder()
    b.call(0, "read", None, 3, key="s")
    with pytest.raises(BadInputError, match="list of elements"):
        check_set(b.history())


def _set_gen(counter: list[int], keys: int):
    def gen(rng: random.Random):
        counter[0] += 1
        return "add", f"k{rng.randrange(keys)}", counter[0]
    return gen


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 60), procs=st.integers(1, 6), keys=st.integers(1, 3))
def test_simulated_correct_set_is_valid(seed: int, n: int, procs: int, keys: int) -> None:
    rng = random.Random(seed)
    h = simulate(SetStore(), _set_gen([0], keys), rng, n_ops=n, procs=procs,
                 final=("read", None, None), final_keys=[f"k{i}" for i in range(keys)])
    res = check_set(h)
    assert res.valid is True, (res.summary, [a.explanation for a in res.anomalies])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 60), procs=st.integers(1, 6))
def test_dropping_an_acknowledged_element_is_caught(seed: int, n: int, procs: int) -> None:
    rng = random.Random(seed)
    h = simulate(SetStore(), _set_gen([0], 1), rng, n_ops=n, procs=procs, final=("read", None, None),
                 final_keys=["k0"])
    final = h.ops[-1]
    acked = [op.value for op in h.ops[:-2] if op.f == "add" and op.type == "ok"]
    if not acked:
        return
    victim = rng.choice(acked)
    final.value = [e for e in final.value if e != victim]
    res = check_set(h)
    assert res.valid is False
    assert any(a.kind == "lost" and a.data["element"] == victim for a in res.anomalies)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(2, 60), procs=st.integers(1, 6))
def test_hiding_an_element_from_a_later_read_is_stale(seed: int, n: int, procs: int) -> None:
    rng = random.Random(seed)
    counter = [0]

    def gen(r: random.Random):
        if r.random() < 0.3:
            return "read", "k0", None
        counter[0] += 1
        return "add", "k0", counter[0]

    h = simulate(SetStore(), gen, rng, n_ops=n, procs=procs, final=("read", "k0", None))
    assert check_set(h, linearizable=True).valid is True
    calls = h.calls()
    reads = [c for c in calls[:-1] if c.f == "read" and c.type == "ok"]
    pairs = [(a, r) for a in calls if a.f == "add" and a.type == "ok" for r in reads
             if r.invoke_index > a.complete_index]
    if not pairs:
        return
    add, read = rng.choice(pairs)
    op = h.ops[read.complete_index]
    op.value = [e for e in op.value if e != add.value]
    assert check_set(h).valid is True and check_set(h).stats["stale"] >= 1
    res = check_set(h, linearizable=True)
    assert res.valid is False and any(a.data["element"] == add.value for a in res.anomalies if a.kind == "stale")
