"""The unique-ids checker: duplicates name every op that returned the id."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.checkers.unique_ids import check_unique_ids
from splitbrain.errors import BadInputError
from tests.checker_sim import Builder, IdStore, simulate


def test_distinct_ids_valid_and_info_ignored() -> None:
    b = Builder()
    b.call(0, "generate", None, 1)
    b.call(1, "generate", None, typ="info")
    b.call(2, "generate", None, "n1-7")
    res = check_unique_ids(b.history())
    assert res.valid is True and res.stats["acknowledged"] == 2 and res.stats["attempts"] == 3


def test_duplicate_names_both_ops() -> None:
    b = Builder()
    first = b.call(0, "generate", None, 7)
    b.call(1, "generate", None, 8)
    second = b.call(2, "generate", None, 7)
    res = check_unique_ids(b.history())
    assert res.valid is False
    (a,) = res.anomalies
    assert a.kind == "duplicate" and a.data["id"] == 7
    assert a.ops == [first, first + 1, second, second + 1]


def test_structured_ids_compare_by_value() -> None:
    b = Builder()
    b.call(0, "generate", None, [1, "n1"])
    b.call(1, "generate", None, [1, "n1"])
    assert check_unique_ids(b.history()).valid is False


def test_nothing_acknowledged_is_unknown_and_null_id_is_bad_input() -> None:
    b = Builder()
    b.call(0, "generate", None, typ="fail")
    assert check_unique_ids(b.history()).valid == "unknown"
    b.call(1, "generate", None, None)
    with pytest.raises(BadInputError):
        check_unique_ids(b.history())


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(2, 80), procs=st.integers(1, 6))
def test_simulated_ids_valid_and_an_injected_duplicate_is_caught(seed: int, n: int, procs: int) -> None:
    rng = random.Random(seed)
    h = simulate(IdStore(), lambda r: ("generate", None, None), rng, n_ops=n, procs=procs, p_fail=0.05, p_info=0.05)
    assert check_unique_ids(h).valid in (True, "unknown")
    oks = [op for op in h.ops if op.type == "ok"]
    if len(oks) < 2:
        return
    a, b = rng.sample(oks, 2)
    b.value = a.value
    res = check_unique_ids(h)
    assert res.valid is False and {a.index, b.index} <= set(res.anomalies[0].ops)
