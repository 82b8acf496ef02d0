"""The counter checker: bounds from acknowledged and possible adds, negative increments included."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.checkers.counter import check_counter
from splitbrain.errors import BadInputError
from tests.checker_sim import Builder, CounterStore, simulate


def test_reads_within_bounds_are_valid() -> None:
    b = Builder()
    b.call(0, "add", 2, 2)
    b.invoke(1, "add", 3)
    b.call(2, "read", None, 5)  # the concurrent +3 may have landed
    b.ok(1, 3)
    b.call(2, "read", None, 5)
    assert check_counter(b.history()).valid is True


def test_read_below_acknowledged_sum_names_read_and_bounds() -> None:
    b = Builder()
    b.call(0, "add", 2, 2)
    r = b.call(1, "read", None, 1)
    res = check_counter(b.history())
    assert res.valid is False
    (a,) = res.anomalies
    assert a.kind == "out-of-bounds" and a.ops == [r, r + 1]
    assert (a.data["lower"], a.data["upper"], a.data["read"]) == (2, 2, 1)


def test_read_above_all_possible_adds_is_caught_and_failed_adds_do_not_count() -> None:
    b = Builder()
    b.call(0, "add", 5, typ="fail")
    b.call(1, "add", 1, typ="info")
    b.call(2, "read", None, 6)
    res = check_counter(b.history())
    assert res.valid is False and res.anomalies[0].data["upper"] == 1


def test_info_add_may_land_any_time_after_its_invoke() -> None:
    b = Builder()
    b.call(0, "add", 4, typ="info")
    b.call(1, "read", None, 0)
    b.call(1, "read", None, 4)
    b.call(1, "read", None, 0)  # not linearizable, but the counter checker only bounds each read
    assert check_counter(b.history()).valid is True


def test_negative_increments_widen_the_bounds_downwards() -> None:
    b = Builder()
    b.call(0, "add", 10, 10)
    b.call(1, "add", -3, typ="info")
    b.call(2, "read", None, 7)
    b.call(2, "read", None, 10)
    assert check_counter(b.history()).valid is True
    b.call(2, "read", None, 6)
    res = check_counter(b.history())
    assert res.valid is False and (res.anomalies[0].data["lower"], res.anomalies[0].data["upper"]) == (7, 10)


def test_acknowledged_negative_add_lowers_the_upper_bound() -> None:
    b = Builder()
    b.call(0, "add", 5, 5)
    b.call(0, "add", -5, -5)
    b.call(1, "read", None, 5)
    res = check_counter(b.history())
    assert res.valid is False and res.anomalies[0].data["upper"] == 0


def test_init_incr_synonym_null_read_and_keys() -> None:
    b = Builder()
    b.call(0, "incr", 1, 1, key="a")
    b.call(0, "read", None, 11, key="a")
    b.call(0, "read", None, None, key="b")
    assert check_counter(b.history(), init=10).valid is True
    assert check_counter(b.history()).valid is False


def test_never_read_is_unknown_and_bad_shapes_are_bad_input() -> None:
    b = Builder()
    b.call(0, "add", 1, 1)
    assert check_counter(b.history()).valid == "unknown"
    assert check_counter(Builder().history()).valid == "unknown"
    b.call(0, "read", None, "7")
    with pytest.raises(BadInputError, match="integer"):
        check_counter(b.history())
    b2 = Builder()
    b2.call(0, "add", 1.5, 1.5)
    with pytest.raises(BadInputError, match="integer"):
        check_counter(b2.history())


def _gen(rng: random.Random):
    if rng.random() < 0.3:
        return "read", "c", None
    return "add", "c", rng.randint(-3, 5)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 80), procs=st.integers(1, 6))
def test_simulated_correct_counter_is_valid(seed: int, n: int, procs: int) -> None:
    h = simulate(CounterStore(), _gen, random.Random(seed), n_ops=n, procs=procs, final=("read", "c", None))
    res = check_counter(h)
    assert res.valid is True, [a.explanation for a in res.anomalies]


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 80), procs=st.integers(1, 6), low=st.booleans())
def test_out_of_bounds_read_is_always_caught(seed: int, n: int, procs: int, low: bool) -> None:
    rng = random.Random(seed)
    h = simulate(CounterStore(), _gen, rng, n_ops=n, procs=procs, final=("read", "c", None))
    reads = [op for op in h.ops if op.f == "read" and op.type == "ok"]
    victim = rng.choice(reads)
    adds = [op.value for op in h.ops if op.f == "add" and op.type == "invoke"]
    # Beyond anything any subset of the adds could sum to.
    victim.value = (sum(v for v in adds if v < 0) - 1) if low else (sum(v for v in adds if v > 0) + 1)
    res = check_counter(h)
    assert res.valid is False
    assert any(victim.index in a.ops for a in res.anomalies)
