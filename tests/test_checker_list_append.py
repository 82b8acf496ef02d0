"""The list-append checker: every anomaly kind on a minimal history, and simulated correct stores."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.checkers.list_append import check_list_append
from splitbrain.errors import BadInputError
from tests.checker_sim import Builder, ListStore, simulate


def kinds(res) -> set[str]:
    return {a.kind for a in res.anomalies}


def txn(b: Builder, p: int, mops, out=None, typ: str = "ok") -> int:
    return b.call(p, "txn", mops, out if out is not None else mops, typ=typ)


def concurrent(b: Builder, *txns) -> list[int]:
    """Invoke all, then complete all: no real-time order between them."""
    idx = [b.invoke(p, "txn", mops) for p, mops, _ in txns]
    for p, _, out in txns:
        b.ok(p, out)
    return idx


def test_clean_history_is_valid() -> None:
    b = Builder()
    txn(b, 0, [["append", "x", 1]])
    txn(b, 1, [["r", "x", None], ["append", "x", 2]], [["r", "x", [1]], ["append", "x", 2]])
    txn(b, 0, [["r", "x", None], ["r", "y", None]], [["r", "x", [1, 2]], ["r", "y", None]])
    res = check_list_append(b.history())
    assert res.valid is True, [a.explanation for a in res.anomalies]
    assert res.stats["graph"]["ww_edges"] == 1 and res.stats["graph"]["wr_edges"] == 2


def test_g0_write_cycle() -> None:
    b = Builder()
    t1, t2 = concurrent(b, (0, [["append", "x", 1], ["append", "y", 2]], None),
                        (1, [["append", "x", 3], ["append", "y", 4]], None))
    b.ops[t1 + 2].value = b.ops[t1].value
    b.ops[t2 + 2].value = b.ops[t2].value
    txn(b, 2, [["r", "x", None], ["r", "y", None]], [["r", "x", [1, 3]], ["r", "y", [4, 2]]])
    res = check_list_append(b.history())
    assert "G0" in kinds(res)
    g0 = next(a for a in res.anomalies if a.kind == "G0")
    assert {e["type"] for e in g0.data["edges"]} == {"ww"}
    assert {e["from"] for e in g0.data["edges"]} == {t1, t2}
    assert {c["index"] for c in g0.data["cycle"]} == {t1, t2}


def test_g1c_circular_information_flow() -> None:
    b = Builder()
    concurrent(b, (0, [["append", "x", 1], ["r", "y", None]], [["append", "x", 1], ["r", "y", [2]]]),
               (1, [["append", "y", 2], ["r", "x", None]], [["append", "y", 2], ["r", "x", [1]]]))
    res = check_list_append(b.history())
    assert kinds(res) == {"G1c"}
    assert sorted(e["type"] for e in res.anomalies[0].data["edges"]) == ["wr", "wr"]


def test_g_single_read_skew() -> None:
    b = Builder()
    concurrent(b, (0, [["r", "x", None], ["r", "y", None]], [["r", "x", None], ["r", "y", [2]]]),
               (1, [["append", "x", 1], ["append", "y", 2]], [["append", "x", 1], ["append", "y", 2]]))
    txn(b, 2, [["r", "x", None]], [["r", "x", [1]]])
    res = check_list_append(b.history())
    assert kinds(res) == {"G-single-item"}
    assert sorted(e["type"] for e in res.anomalies[0].data["edges"]) == ["rw", "wr"]


def test_g2_item_write_skew() -> None:
    b = Builder()
    concurrent(b, (0, [["r", "x", None], ["append", "y", 1]], [["r", "x", None], ["append", "y", 1]]),
               (1, [["r", "y", None], ["append", "x", 2]], [["r", "y", None], ["append", "x", 2]]))
    txn(b, 2, [["r", "x", None], ["r", "y", None]], [["r", "x", [2]], ["r", "y", [1]]])
    res = check_list_append(b.history())
    assert kinds(res) == {"G2-item"}
    assert [e["type"] for e in res.anomalies[0].data["edges"]] == ["rw", "rw"]


def test_stale_read_is_a_realtime_cycle_only_under_realtime() -> None:
    b = Builder()
    txn(b, 0, [["append", "x", 1]])
    txn(b, 1, [["r", "x", None]], [["r", "x", None]])  # began after the append was acknowledged
    txn(b, 2, [["r", "x", None]], [["r", "x", [1]]])
    res = check_list_append(b.history())
    assert kinds(res) == {"G-single-item-realtime"}
    assert sorted(e["type"] for e in res.anomalies[0].data["edges"]) == ["realtime", "rw"]
    assert check_list_append(b.history(), realtime=False).valid is True


def test_unobserved_append_comes_after_the_longest_read() -> None:
    """An acknowledged append no read shows is ordered after the last version read (Elle's rule),
    so a later append that was seen but began after it completed makes a real-time G0."""
    b = Builder()
    t1 = txn(b, 0, [["append", "x", 1]])
    txn(b, 0, [["append", "x", 2]])
    txn(b, 1, [["r", "x", None]], [["r", "x", [2]]])
    res = check_list_append(b.history())
    assert "G0-realtime" in kinds(res)
    assert t1 in next(a for a in res.anomalies if a.kind == "G0-realtime").ops
    assert check_list_append(b.history(), realtime=False).valid is True


def test_incompatible_order_duplicates_and_garbage() -> None:
    b = Builder()
    txn(b, 0, [["append", "x", 1]])
    txn(b, 1, [["append", "x", 2]])
    txn(b, 2, [["r", "x", None]], [["r", "x", [1, 2]]])
    txn(b, 2, [["r", "x", None]], [["r", "x", [2, 1, 1]]])
    txn(b, 2, [["r", "y", None]], [["r", "y", [77]]])
    res = check_list_append(b.history(), realtime=False)
    assert {"incompatible-order", "duplicate-elements", "garbage-read"} <= kinds(res)


def test_aborted_and_intermediate_reads() -> None:
    b = Builder()
    bad = txn(b, 0, [["append", "x", 1]], typ="fail")
    txn(b, 1, [["r", "x", None]], [["r", "x", [1]]])
    txn(b, 1, [["append", "y", 1], ["append", "y", 2]])
    txn(b, 2, [["r", "y", None]], [["r", "y", [1]]])
    res = check_list_append(b.history(), realtime=False)
    assert {"G1a", "G1b"} <= kinds(res)
    g1a = next(a for a in res.anomalies if a.kind == "G1a")
    assert bad in g1a.ops and g1a.data["writer"] == bad


def test_internal_inconsistency() -> None:
    b = Builder()
    txn(b, 0, [["append", "x", 1]])
    txn(b, 1, [["append", "x", 3], ["r", "x", None]], [["append", "x", 3], ["r", "x", [1]]])
    res = check_list_append(b.history(), realtime=False)
    assert "internal" in kinds(res)


def test_info_txn_whose_append_is_seen_takes_part() -> None:
    b = Builder()
    txn(b, 0, [["append", "x", 1]], typ="info")
    txn(b, 1, [["r", "x", None]], [["r", "x", [1]]])
    res = check_list_append(b.history())
    assert res.valid is True and res.stats["graph"]["nodes"] == 2


def test_nothing_acknowledged_is_unknown() -> None:
    b = Builder()
    txn(b, 0, [["append", "x", 1]], typ="fail")
    assert check_list_append(b.history()).valid == "unknown"


def test_bad_input() -> None:
    b = Builder()
    txn(b, 0, [["append", "x", 1]])
    txn(b, 1, [["append", "x", 1]])
    with pytest.raises(BadInputError, match="unique values"):
        check_list_append(b.history())
    b = Builder()
    txn(b, 0, [["write", "x", 1]])
    with pytest.raises(BadInputError, match="micro-op"):
        check_list_append(b.history())
    b = Builder()
    txn(b, 0, [["r", "x", None]], [["r", "x", 5]])
    with pytest.raises(BadInputError, match="must return a list"):
        check_list_append(b.history())


def _gen(counter: list[int]):
    def gen(rng: random.Random):
        mops = []
        for _ in range(rng.randint(1, 3)):
            k = rng.choice("xyz")
            if rng.random() < 0.5:
                counter[0] += 1
                mops.append(["append", k, counter[0]])
            else:
                mops.append(["r", k, None])
        return "txn", None, mops
    return gen


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 50), procs=st.integers(1, 6))
def test_simulated_strict_serializable_store_is_valid(seed: int, n: int, procs: int) -> None:
    h = simulate(ListStore(), _gen([0]), random.Random(seed), n_ops=n, procs=procs,
                 final=("txn", None, [["r", k, None] for k in "xyz"]))
    res = check_list_append(h)
    if res.valid == "unknown":  # one lone transaction: Elle infers no dependency at all
        assert kinds(res) == {"empty-transaction-graph"}
    else:
        assert res.valid is True, [a.explanation for a in res.anomalies]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 50), procs=st.integers(1, 6))
def test_injected_g1c_is_caught(seed: int, n: int, procs: int) -> None:
    store = ListStore()
    h = simulate(store, _gen([0]), random.Random(seed), n_ops=n, procs=procs)
    b = Builder()
    b.ops = list(h.ops)
    x, y = list(store.lists.get("x", [])), list(store.lists.get("y", []))
    p = 10_000
    concurrent(b, (p, [["append", "x", "a"], ["r", "y", None]], [["append", "x", "a"], ["r", "y", [*y, "b"]]]),
               (p + 1, [["append", "y", "b"], ["r", "x", None]], [["append", "y", "b"], ["r", "x", [*x, "a"]]]))
    res = check_list_append(b.history())
    assert res.valid is False
    assert kinds(res) & {"G1c", "G1c-realtime", "G0", "G0-realtime"}, kinds(res)
