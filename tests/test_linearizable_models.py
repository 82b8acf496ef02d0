"""The checker's semantics, one promise per test: models, info/fail outcomes, limits,
explanations, and the shrinking primitive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from splitbrain.checkers.linearizable import check_history, is_linearizable
from splitbrain.checkers.models import MODELS, get_model
from splitbrain.errors import BadInputError, UsageError
from splitbrain.formats import read_history
from splitbrain.history import History, Op


def hist(*events: tuple[Any, ...]) -> History:
    """events: (process, type, f, value[, key])"""
    ops = []
    for i, e in enumerate(events):
        key = e[4] if len(e) > 4 else None
        ops.append(Op(index=i, process=e[0], type=e[1], f=e[2], value=e[3], time=i, key=key))
    return History(ops, source="t.jsonl")


def valid(h: History, model: str = "cas-register", init: Any = None) -> Any:
    return check_history(h, model, init=init).valid


def test_read_must_see_the_last_write() -> None:
    assert valid(hist((0, "invoke", "write", 1), (0, "ok", "write", 1),
                      (1, "invoke", "read", None), (1, "ok", "read", 1))) is True
    assert valid(hist((0, "invoke", "write", 1), (0, "ok", "write", 1),
                      (1, "invoke", "read", None), (1, "ok", "read", 2))) is False


def test_concurrent_ops_may_take_effect_in_either_order() -> None:
    h = hist((0, "invoke", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", 1), (0, "ok", "write", 1),
             (2, "invoke", "read", None), (2, "ok", "read", 1))
    assert valid(h) is True


def test_info_may_take_effect_late_or_never() -> None:
    base = [(0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "write", 2), (1, "info", "write", 2)]
    assert valid(hist(*base, (2, "invoke", "read", None), (2, "ok", "read", 1))) is True  # never
    assert valid(hist(*base, (2, "invoke", "read", None), (2, "ok", "read", 2))) is True  # late
    assert valid(hist(*base, (2, "invoke", "read", None), (2, "ok", "read", 3))) is False
    # an unfinished invoke is an info op; a cas that could never succeed simply did not happen
    assert valid(hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "cas", [5, 6]),
                      (2, "invoke", "read", None), (2, "ok", "read", 1))) is True


def test_fail_did_not_happen_but_etcd_fail_cas_is_an_observation() -> None:
    h = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "cas", [1, 2]), (1, "fail", "cas", [1, 2]))
    assert valid(h, "cas-register") is True
    assert valid(h, "etcd") is False  # the compare cannot have failed: the register held 1
    timed_out = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None),
                     (1, "fail", "read", None))
    assert valid(timed_out, "etcd") is True


def test_knossos_nil_read_is_a_wildcard_but_ours_is_an_observation() -> None:
    h = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", None))
    assert valid(h, "knossos-cas-register") is True
    assert valid(h, "cas-register") is False


def test_init_sets_the_initial_state() -> None:
    h = hist((0, "invoke", "read", None), (0, "ok", "read", 0))
    assert valid(h) is False and valid(h, init=0) is True


def test_kv_partitions_by_key_and_speaks_porcupine_ops() -> None:
    h = hist((0, "invoke", "write", 1, "a"), (0, "ok", "write", 1, "a"), (1, "invoke", "write", 2, "b"),
             (1, "ok", "write", 2, "b"), (2, "invoke", "read", None, "a"), (2, "ok", "read", 1, "a"),
             (3, "invoke", "append", "x", "c"), (3, "ok", "append", "x", "c"),
             (4, "invoke", "get", None, "c"), (4, "ok", "get", "x", "c"), (5, "invoke", "get", None, "d"),
             (5, "ok", "get", "", "d"))
    res = check_history(h, "kv")
    assert res.valid is True and res.stats["partitions"] == 4
    bad = hist((0, "invoke", "write", 1, "a"), (0, "ok", "write", 1, "a"), (2, "invoke", "read", None, "b"),
               (2, "ok", "read", 1, "b"))
    res = check_history(bad, "kv")
    assert res.valid is False and res.details["key"] == "b"


def test_multi_register_and_mutex() -> None:
    txn = hist((0, "invoke", "txn", [["write", "x", 1], ["write", "y", 2]]),
               (0, "ok", "txn", [["write", "x", 1], ["write", "y", 2]]),
               (1, "invoke", "txn", [["read", "x", None], ["read", "y", None]]),
               (1, "ok", "txn", [["read", "x", 1], ["read", "y", 0]]))
    assert valid(txn, "multi-register", {"x": 0, "y": 0}) is False
    assert valid(hist((0, "invoke", "txn", [["read", "y", None]]), (0, "ok", "txn", [["read", "y", 0]])),
                 "multi-register", {"x": 0, "y": 0}) is True
    two = hist((0, "invoke", "acquire", None), (0, "ok", "acquire", None), (1, "invoke", "acquire", None),
               (1, "ok", "acquire", None))
    assert valid(two, "mutex") is False
    handoff = hist((0, "invoke", "acquire", None), (0, "ok", "acquire", None), (1, "invoke", "acquire", None),
                   (2, "invoke", "release", None),
                   (2, "ok", "release", None), (1, "ok", "acquire", None))
    assert valid(handoff, "mutex") is True


def test_nemesis_ops_are_ignored() -> None:
    h = hist((0, "invoke", "write", 1), ("nemesis", "info", "start-partition", {"nodes": ["n1"]}),
             (0, "ok", "write", 1), ("nemesis", "info", "stop-partition", None))
    assert valid(h) is True


def test_wrong_value_shape_is_bad_input_naming_the_op() -> None:
    h = hist((0, "invoke", "cas", 3), (0, "ok", "cas", 3))
    with pytest.raises(BadInputError, match=r"op 0 \(cas by process 0\): cas value must be \[old, new\]") as e:
        check_history(h, "cas-register")
    assert e.value.path == "t.jsonl" and e.value.line == 2
    with pytest.raises(BadInputError, match="not an operation of this model"):
        check_history(hist((0, "invoke", "acquire", None)), "register")
    with pytest.raises(UsageError):
        get_model("nope")
    with pytest.raises(UsageError):
        MODELS["multi-register"].init(3)


def test_explanation_points_at_the_read_and_the_prefix() -> None:
    h = hist((0, "invoke", "write", 0), (0, "ok", "write", 0), (1, "invoke", "read", None),
             (2, "invoke", "write", 4), (2, "ok", "write", 4), (1, "ok", "read", 3))
    res = check_history(h, "cas-register")
    assert res.valid is False and res.checker == "linearizable"
    d = res.details
    assert d["unplaceable"] == [2] and d["longest_prefix"][0] == 0 and set(d["final_states"]) <= {0, 4}
    assert "returned 3" in d["expected"]
    (a,) = res.anomalies
    assert a.kind == "nonlinearizable" and a.ops == [2, 5]


def test_limits_end_in_unknown_never_in_valid(data_dir: Path) -> None:
    h = read_history(data_dir / "porcupine" / "jepsen" / "etcd_002.log")  # valid, ~170k configurations
    slow = check_history(h, "etcd", timeout_s=1e-6)
    assert slow.valid == "unknown" and "time limit" in slow.summary
    small = check_history(h, "etcd", max_memory_mb=0.5)
    assert small.valid == "unknown" and "memory cap" in small.summary
    assert check_history(h, "etcd").valid is True


def test_an_illegal_partition_ends_the_check_early(data_dir: Path) -> None:
    """c50-bad: keys 0 and 9 take more than 30 s alone; keys 1, 2, 3, 4 and 6 are illegal in milliseconds."""
    res = check_history(read_history(data_dir / "porcupine" / "kv" / "c50-bad.txt"), "kv", timeout_s=20)
    assert res.valid is False and res.details["key"] in ("1", "2", "3", "4", "6")


def test_is_linearizable_over_a_subset_of_calls() -> None:
    h = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", 2),
             (2, "invoke", "read", None), (2, "ok", "read", 1))
    calls = h.calls()
    assert is_linearizable(calls, "cas-register") is False
    assert is_linearizable([calls[0], calls[2]], "cas-register") is True
    assert is_linearizable([calls[1]], get_model("cas-register"), init=2) is True
