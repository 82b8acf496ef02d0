"""A brute-force oracle for tiny transactional histories, and a generator of such histories.

The oracle decides serializability by definition: some total order of the
committed transactions, run one after another from empty state, returns
exactly the values they read (for strict serializability, an order that also
respects real time: a transaction that completed before another was invoked
comes first). It enumerates every permutation, so it only suits a handful of
transactions; it shares no code with the checkers it judges.

The generator makes histories a sloppy store could produce: appends (or
writes) take effect in a random order, and each read sees either the current
state or a stale prefix of it (plus the transaction's own writes), so some
histories are serializable and many are not, in every way Elle names.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from splitbrain.history import History, Op

Txn = list[list[Any]]  # micro-ops as completed


def _run(order: list[int], txns: list[Txn], kind: str) -> bool:
    state: dict[Any, Any] = {}
    for i in order:
        for f, k, v in txns[i]:
            if f == "append":
                state[k] = [*state.get(k, []), v]
            elif f == "w":
                state[k] = v
            elif kind == "list-append":
                if (v or []) != state.get(k, []):
                    return False
            elif v != state.get(k):
                return False
    return True


def serializable(txns: list[Txn], kind: str, before: set[tuple[int, int]] | None = None) -> bool:
    """Is there a serial order of ``txns`` (respecting ``before`` pairs) that explains every read?"""
    for order in itertools.permutations(range(len(txns))):
        if before:
            pos = {t: n for n, t in enumerate(order)}
            if any(pos[a] > pos[b] for a, b in before):
                continue
        if _run(list(order), txns, kind):
            return True
    return False


def generate(rng: random.Random, n: int, kind: str, keys: str = "xy", stale: float = 0.3,
             concurrent: float = 0.5) -> tuple[History, list[Txn], set[tuple[int, int]]]:
    """A history of ``n`` committed transactions plus a final read of every key after all of them.

    Returns (history, completed txns in the order given to the oracle, real-time pairs)."""
    state: dict[Any, list[Any]] = {k: [] for k in keys}
    counter = itertools.count(1)
    done: list[Txn] = []
    for _ in range(n):
        mine: dict[Any, list[Any]] = {}
        txn: Txn = []
        for _ in range(rng.randint(1, 3)):
            k = rng.choice(keys)
            if rng.random() < 0.5:
                v = next(counter)
                mine[k] = [*mine.get(k, []), v]
                txn.append(["append" if kind == "list-append" else "w", k, v])
            else:
                base = state[k]
                if rng.random() < stale and base:
                    base = base[: rng.randint(0, len(base) - 1)]
                seen = base + mine.get(k, [])
                txn.append(["r", k, list(seen) if kind == "list-append" else (seen[-1] if seen else None)])
        for k, vs in mine.items():
            state[k] = state[k] + vs
        done.append(txn)
    final: Txn = [["r", k, list(state[k]) if kind == "list-append" else (state[k][-1] if state[k] else None)]
                  for k in keys]
    # Real time: each txn is invoked, then completed at a random later point; the final read comes last.
    events: list[tuple[str, int]] = []
    open_: list[int] = []
    for i in range(n):
        events.append(("invoke", i))
        open_.append(i)
        while open_ and rng.random() > concurrent:
            events.append(("ok", open_.pop(rng.randrange(len(open_)))))
    rng.shuffle(open_)
    events += [("ok", i) for i in open_]
    events += [("invoke", n), ("ok", n)]
    txns = [*done, final]
    ops: list[Op] = []
    completed_at: dict[int, int] = {}
    invoked_at: dict[int, int] = {}
    for typ, i in events:
        value = txns[i] if typ == "ok" else [[f, k, None] if f == "r" else [f, k, v] for f, k, v in txns[i]]
        (invoked_at if typ == "invoke" else completed_at)[i] = len(ops)
        ops.append(Op(index=len(ops), process=i, type=typ, f="txn", value=value, time=len(ops)))
    before = {(a, b) for a in range(n + 1) for b in range(n + 1) if completed_at[a] < invoked_at[b]}
    return History(ops), txns, before
