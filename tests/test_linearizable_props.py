"""Property tests: the search against the definition.

* Histories simulated from a real linearizable register (concurrent clients, each
  op taking effect at one random instant inside its interval, random ``info`` and
  ``fail`` outcomes) are always judged linearizable.
* On thousands of small random histories (arbitrary results, ``info`` and ``fail``
  ops, ops left pending) the checker agrees with a brute force that enumerates
  every subset of crashed ops and every order of them.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitbrain.checkers.linearizable import check_history, is_linearizable
from splitbrain.checkers.models import get_model
from splitbrain.history import Call, History, Op

PROPS = settings(deadline=None, suppress_health_check=list(HealthCheck))


def _ops_to_history(events: list[tuple[int, str, str, Any]], key: Any = None) -> History:
    return History([Op(index=i, process=p, type=t, f=f, value=v, time=i, key=key)
                    for i, (p, t, f, v) in enumerate(events)])


def simulate(rng: random.Random, n_ops: int, clients: int, values: int = 3, cas: bool = True) -> History:
    """A register whose ops take effect at one instant between their invoke and completion."""
    reg: Any = None
    events: list[tuple[int, str, str, Any]] = []
    pending: dict[int, dict[str, Any]] = {}
    idle = list(range(clients))
    next_proc = clients
    started = 0
    while started < n_ops or pending:
        choices = []
        if idle and started < n_ops:
            choices.append("invoke")
        if pending:
            choices += ["apply", "complete"]
        what = rng.choice(choices)
        if what == "invoke":
            p = idle.pop(rng.randrange(len(idle)))
            f = rng.choice(["read", "write", "cas"] if cas else ["read", "write"])
            v = None if f == "read" else rng.randrange(values)
            if f == "cas":
                v = [rng.randrange(values), rng.randrange(values)]
            pending[p] = {"f": f, "v": v, "applied": False, "out": None}
            events.append((p, "invoke", f, v))
            started += 1
        elif what == "apply":
            p = rng.choice(list(pending))
            op = pending[p]
            if not op["applied"]:
                op["applied"] = True
                if op["f"] == "read":
                    op["out"] = reg
                elif op["f"] == "write":
                    reg = op["v"]
                elif reg == op["v"][0]:
                    reg = op["v"][1]
                else:
                    op["failed"] = True
        else:
            p = rng.choice(list(pending))
            op = pending[p]
            if not op["applied"] or op.get("failed"):
                if op.get("failed") or rng.random() < 0.5:
                    outcome = "fail"
                else:
                    outcome = rng.choice(["info", "pending"])
            else:
                outcome = "ok" if rng.random() < 0.8 else "info"
            del pending[p]
            if outcome != "pending":  # a pending op never completes: its process is abandoned
                events.append((p, outcome, op["f"], op["out"] if op["f"] == "read" else op["v"]))
            if outcome == "info" or outcome == "pending":
                p = next_proc
                next_proc += 1
            idle.append(p)
    return _ops_to_history(events)


def _clients(rng: random.Random, n_ops: int, clients: int, invoke: Callable[[int], tuple[str, Any]],
             complete: Callable[[str, Any], Any], weights: list[int]) -> list[tuple[int, str, str, Any]]:
    """Events of ``clients`` closed-loop clients issuing ``n_ops`` ops with arbitrary interleaving:
    ``invoke(n)`` draws the n-th op's ``(f, value)``, ``complete(f, value)`` its answer; each
    completes ok/fail/info/never (``weights``), and a client whose op crashed comes back as a
    fresh process, as the harness's clients do."""
    events: list[tuple[int, str, str, Any]] = []
    pending: dict[int, tuple[str, Any]] = {}
    idle = list(range(clients))
    next_proc = clients
    started = 0
    while started < n_ops or pending:
        if idle and started < n_ops and (not pending or rng.random() < 0.5):
            p = idle.pop(rng.randrange(len(idle)))
            f, v = invoke(started)
            pending[p] = (f, v)
            events.append((p, "invoke", f, v))
            started += 1
            continue
        p = rng.choice(list(pending))
        f, v = pending.pop(p)
        out = complete(f, v)
        outcome = rng.choices(["ok", "fail", "info", "pending"], weights)[0]
        if outcome != "pending":
            events.append((p, outcome, f, out))
        if outcome in ("info", "pending"):
            p = next_proc
            next_proc += 1
        idle.append(p)
    return events


def random_history(rng: random.Random, n_ops: int, clients: int, values: int = 3) -> History:
    """Arbitrary results: anything a buggy register could answer."""
    def invoke(_: int) -> tuple[str, Any]:
        f = rng.choice(["read", "write", "cas"])
        return f, (None if f == "read" else rng.randrange(values) if f == "write"
                   else [rng.randrange(values), rng.randrange(values)])

    def complete(f: str, v: Any) -> Any:
        return rng.choice([None, *range(values)]) if f == "read" else v

    return _ops_to_history(_clients(rng, n_ops, clients, invoke, complete, [6, 1, 2, 1]))


def brute_force(history: History, model: str = "cas-register", init: Any = None) -> bool:
    """Exhaustive: some subset of the crashed ops plus all ok ops, in some real-time-respecting
    order, is a legal sequential run of the model."""
    m = get_model(model)
    calls: list[Call] = [c for c in history.calls() if m.prepare(c) is not None]  # the model's fail semantics
    must = [c for c in calls if c.type != "info" and c.complete_index is not None]
    maybe = [c for c in calls if c not in must]

    def ret(c: Call) -> float:
        return float("inf") if c not in must else float(c.complete_index)  # type: ignore[arg-type]

    for r in range(len(maybe) + 1):
        for extra in itertools.combinations(maybe, r):
            chosen = must + list(extra)
            for order in itertools.permutations(chosen):
                if any(ret(order[j]) < order[i].invoke_index for i in range(len(order))
                       for j in range(i + 1, len(order))):
                    continue
                state = m.init(init)
                for c in order:
                    io = m.prepare(c)
                    assert io is not None
                    ok, state = m.step(state, io[0], io[1])
                    if not ok:
                        break
                else:
                    return True
    return False


@settings(PROPS, max_examples=300)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 40), clients=st.integers(1, 6))
def test_simulated_linearizable_register_is_valid(seed: int, n: int, clients: int) -> None:
    h = simulate(random.Random(seed), n, clients)
    res = check_history(h, "cas-register", timeout_s=30)
    assert res.valid is True, (res.summary, h.to_jsonl())


@settings(PROPS, max_examples=100)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 30), clients=st.integers(1, 5))
def test_simulated_kv_is_valid_per_key(seed: int, n: int, clients: int) -> None:
    """Two keys' histories, concatenated (each key's real-time order kept), judged per key."""
    rng = random.Random(seed)
    events: list[Op] = []
    procs: dict[Any, int] = {}
    for key in ("a", "b"):
        for op in simulate(rng, n, clients, cas=False).ops:
            pid = procs.setdefault((key, op.process), len(procs))
            events.append(Op(index=len(events), process=pid, type=op.type, f=op.f, value=op.value, key=key))
    res = check_history(History(events), "kv", timeout_s=30)
    assert res.valid is True and res.stats["partitions"] <= 2


@settings(PROPS, max_examples=3000)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 7), clients=st.integers(1, 4))
def test_agrees_with_brute_force(seed: int, n: int, clients: int) -> None:
    h = random_history(random.Random(seed), n, clients)
    expected = brute_force(h)
    assert check_history(h, "cas-register").valid is expected, h.to_jsonl()
    assert is_linearizable(h.calls(), "cas-register") is expected


@settings(PROPS, max_examples=500)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 6), clients=st.integers(1, 4), init=st.integers(0, 2))
def test_agrees_with_brute_force_with_init_and_knossos_nil_reads(seed: int, n: int, clients: int,
                                                                 init: int) -> None:
    h = random_history(random.Random(seed), n, clients)
    for model in ("cas-register", "knossos-cas-register", "etcd"):
        assert check_history(h, model, init=init).valid is brute_force(h, model, init), (model, h.to_jsonl())


def _unseen_histories(seed: int, n: int, clients: int) -> History:
    """Twice as many values as a read can name: many pending writes are never observed."""
    return random_history(random.Random(seed), n, clients, values=6)


@settings(PROPS, max_examples=1500)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 7), clients=st.integers(1, 4))
def test_dropping_unseen_pending_writes_agrees_with_brute_force(seed: int, n: int, clients: int) -> None:
    h = _unseen_histories(seed, n, clients)
    for model in ("cas-register", "register" if all(c.f != "cas" for c in h.calls()) else "cas-register"):
        assert check_history(h, model).valid is brute_force(h, model), (model, h.to_jsonl())


def test_unseen_pending_writes_are_in_fact_dropped_often() -> None:
    import dataclasses

    from splitbrain.checkers.linearizable import prepare

    m = get_model("cas-register")
    plain = dataclasses.replace(m, unseen_pending=False)
    dropped = 0
    for seed in range(400):
        calls = _unseen_histories(seed, 7, 4).calls()
        kept = sum(len(p.calls) for p in prepare(calls, m))
        full = sum(len(p.calls) for p in prepare(calls, plain))
        dropped += kept < full
    assert dropped > 100  # the property above exercises the pruning, not just the plain search


def random_append_history(rng: random.Random, n_ops: int, clients: int) -> History:
    """One kv key under get/put/append of tokens (a prefix code, so the precedence edges of
    :mod:`splitbrain.checkers._appends` apply; some values carried by two ops), gets answering
    plausible strings: a put or nothing, then some appended tokens in some order; sometimes
    what a register did."""
    puts: list[str] = []
    appends: list[str] = []
    state = ""

    def invoke(n: int) -> tuple[str, Any]:
        f = rng.choice(["get", "put", "append", "append"])
        same = puts if f == "put" else appends if f == "append" else []
        v = None if f == "get" else f"{n}{'p' if f == 'put' else 'a'}."
        if same and rng.random() < 0.2:
            v = rng.choice(same)  # a value another op carries too: edges only where values name one op
        same.append(v)
        return f, v

    def complete(f: str, v: Any) -> Any:
        nonlocal state
        if rng.random() < 0.5:  # take effect now, as a correct store would
            if f == "put":
                state = v
            elif f == "append":
                state += v
        if f != "get":
            return v
        if rng.random() < 0.5:
            return state
        out = rng.choice(["", *puts]) if rng.random() < 0.7 else ""
        return out + "".join(rng.sample(appends, rng.randrange(min(len(appends), 3) + 1)))

    return _ops_to_history(_clients(rng, n_ops, clients, invoke, complete, [7, 1, 2, 1]), key="k")


@settings(PROPS, max_examples=2000)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 7), clients=st.integers(1, 4))
def test_kv_appends_agree_with_brute_force(seed: int, n: int, clients: int) -> None:
    """The guided order and the precedence edges read off gets never change a verdict."""
    h = random_append_history(random.Random(seed), n, clients)
    assert check_history(h, "kv").valid is brute_force(h, "kv"), h.to_jsonl()


def test_append_histories_exercise_the_precedence_edges() -> None:
    from splitbrain.checkers._appends import precedence
    from splitbrain.checkers.linearizable import _positions, prepare

    m = get_model("kv")
    with_edges = valid = 0
    for seed in range(300):
        h = random_append_history(random.Random(seed), 7, 3)
        for p in prepare(h.calls(), m):
            with_edges += precedence(*_positions(p), p.inputs, p.outputs, None) is not None
        valid += check_history(h, "kv").valid is True
    assert with_edges > 50 and 20 < valid < 280  # edges are built often, and both verdicts occur
