"""The O(n log n) unique-write register path (zones) against the general search and a brute force.

Histories here write a fresh value every time, so every partition qualifies for the
zones; the same history is also judged with the zones switched off (the model with
``register_like=False``), and small ones by the exhaustive brute force of
``test_linearizable_props``. Outcomes cover ok, fail, info and never-completed ops,
reads of the initial value and of values nobody wrote.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.checkers._zones import qualifies
from splitbrain.checkers.linearizable import check_history, prepare
from splitbrain.checkers.models import get_model
from splitbrain.history import History, Op
from tests.test_linearizable_props import PROPS, brute_force


def unique_history(rng: random.Random, n_ops: int, clients: int, init: Any = None, kv: bool = False,
                   simulate: bool = False) -> History:
    """Unique writes; reads answer at random (or, with ``simulate``, from a real register)."""
    events: list[Op] = []
    pending: dict[int, list[Any]] = {}
    idle = list(range(clients))
    next_proc, started, counter = clients, 0, 0
    reg = init
    written: list[Any] = []
    rd, wr = ("get", "put") if kv else ("read", "write")

    def emit(p: int, t: str, f: str, v: Any) -> None:
        events.append(Op(index=len(events), process=p, type=t, f=f, value=v, time=len(events),
                         key="k" if kv else None))

    while started < n_ops or pending:
        if idle and started < n_ops and (not pending or rng.random() < 0.5):
            p = idle.pop(rng.randrange(len(idle)))
            if rng.random() < 0.5:
                counter += 1
                f, v = wr, (f"v{counter}" if kv else counter)
                written.append(v)
            else:
                f, v = rd, None
            pending[p] = [f, v, False, None]
            emit(p, "invoke", f, v)
            started += 1
            continue
        p = rng.choice(list(pending))
        if simulate and not pending[p][2] and rng.random() < 0.6:
            op = pending[p]
            op[2] = True
            if op[0] == wr:
                reg = op[1]
            else:
                op[3] = ("" if kv else None) if reg is None and kv else reg
            continue
        f, v, applied, seen = pending.pop(p)
        if simulate:
            outcome = ("ok" if rng.random() < 0.85 else "info") if applied else \
                rng.choices(["fail", "info", "pending"], [2, 1, 1])[0]
            out = seen if f == rd else v
        else:
            outcome = rng.choices(["ok", "fail", "info", "pending"], [7, 1, 2, 1])[0]
            choices = [init if not kv or init is not None else "", *written[-3:], *written[:1]]
            out = (rng.choice(choices) if rng.random() < 0.95 else ("nobody" if kv else -1)) if f == rd else v
        if outcome != "pending":
            emit(p, outcome, f, out)
        if outcome in ("info", "pending"):
            p = next_proc
            next_proc += 1
        idle.append(p)
    return History(events)


def _general(model: str) -> Any:
    return dataclasses.replace(get_model(model), register_like=False)


def _zoned(h: History, model: str, init: Any = None) -> Any:
    m = get_model(model)
    parts = prepare(h.calls(), m)
    assert all(qualifies(p.inputs, m.init(init)) for p in parts)
    res = check_history(h, model, init=init, timeout_s=60)
    assert res.stats["by_zones"] == len(parts)
    return res


@settings(PROPS, max_examples=800)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 7), clients=st.integers(1, 4), init=st.sampled_from([None, 0]))
def test_zones_agree_with_brute_force(seed: int, n: int, clients: int, init: Any) -> None:
    h = unique_history(random.Random(seed), n, clients, init=init)
    for model in ("register", "cas-register", "etcd", "knossos-register"):
        expected = brute_force(h, model, init)
        assert _zoned(h, model, init).valid is expected, (model, h.to_jsonl())


@settings(PROPS, max_examples=400)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 7), clients=st.integers(1, 4))
def test_zones_agree_with_brute_force_on_kv_gets(seed: int, n: int, clients: int) -> None:
    h = unique_history(random.Random(seed), n, clients, kv=True)
    assert _zoned(h, "kv").valid is brute_force(h, "kv"), h.to_jsonl()


@settings(PROPS, max_examples=600)
@given(seed=st.integers(0, 2**32), n=st.integers(5, 60), clients=st.integers(1, 8),
       simulate=st.booleans(), init=st.sampled_from([None, 0]))
def test_zones_agree_with_the_general_search(seed: int, n: int, clients: int, simulate: bool, init: Any) -> None:
    h = unique_history(random.Random(seed), n, clients, init=init, simulate=simulate)
    got = _zoned(h, "register", init)
    want = check_history(h, _general("register"), init=init, timeout_s=60)
    assert got.valid is want.valid, h.to_jsonl()
    if simulate:
        assert got.valid is True


def test_a_zone_verdict_explains_itself_with_a_prefix() -> None:
    # write 1 completes, then a read still sees the initial value: invalid
    h = History([Op(0, 0, "invoke", "write", 1), Op(1, 0, "ok", "write", 1),
                 Op(2, 1, "invoke", "read", None), Op(3, 1, "ok", "read", None)])
    res = check_history(h, "register")
    assert res.valid is False and res.stats["by_zones"] == 1
    assert res.details["unplaceable"] == [2] and res.details["longest_prefix"] == [0]


def test_repeated_values_and_cas_fall_back_to_the_search() -> None:
    m = get_model("cas-register")
    assert not qualifies([("w", 1), ("w", 1)], None)
    assert not qualifies([("w", 1), ("cas", 1, 2)], None)
    assert not qualifies([("w", None)], m.init(None))  # writes the initial value again
    assert qualifies([("w", 1), ("r",), ("w", 2)], None)
