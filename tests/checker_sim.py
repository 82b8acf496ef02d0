"""Histories for checker tests: a tiny builder, and a simulator of correct stores.

The simulator runs concurrent clients against an in-memory store that applies
each op atomically at some instant between its invocation and completion (so the
history is linearizable by construction). Ops may also fail (not applied) or
crash (``info``: applied or not, possibly *after* the client gave up), with a
fresh process number afterwards, as the history contract demands. Checkers of
correctness properties must call such histories valid, whatever the interleaving.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from splitbrain.history import History, Op


class Builder:
    """Write histories by hand: ``b.invoke(0, "add", 1); b.ok(0, 1)``. Time = index."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self._f: dict[Any, tuple[str, Any]] = {}

    def invoke(self, p: int, f: str, value: Any = None, key: Any = None) -> int:
        self._f[p] = (f, key)
        return self._add(p, "invoke", f, value, key)

    def _add(self, p: Any, typ: str, f: str, value: Any, key: Any) -> int:
        i = len(self.ops)
        self.ops.append(Op(index=i, process=p, type=typ, f=f, value=value, time=i * 1000, key=key))
        return i

    def complete(self, p: int, typ: str, value: Any = None) -> int:
        f, key = self._f.pop(p)
        return self._add(p, typ, f, value, key)

    def ok(self, p: int, value: Any = None) -> int:
        return self.complete(p, "ok", value)

    def fail(self, p: int) -> int:
        return self.complete(p, "fail")

    def info(self, p: int) -> int:
        return self.complete(p, "info")

    def call(self, p: int, f: str, value: Any = None, out: Any = None, key: Any = None, typ: str = "ok") -> int:
        """A whole op at once; returns the invocation index."""
        i = self.invoke(p, f, value, key)
        self.complete(p, typ, out if typ == "ok" else None)
        return i

    def nemesis(self, f: str, value: Any = None) -> int:
        return self._add("nemesis", "info", f, value, None)

    def history(self) -> History:
        return History(list(self.ops))


# ----------------------------------------------------------------------------- stores

class SetStore:
    def __init__(self) -> None:
        self.s: dict[Any, set[Any]] = {}

    def apply(self, f: str, key: Any, value: Any) -> Any:
        s = self.s.setdefault(key, set())
        if f == "add":
            s.add(value)
            return value
        return sorted(s)


class CounterStore:
    def __init__(self) -> None:
        self.n: dict[Any, int] = {}

    def apply(self, f: str, key: Any, value: Any) -> Any:
        if f == "add":
            self.n[key] = self.n.get(key, 0) + value
            return value
        return self.n.get(key, 0)


class IdStore:
    def __init__(self) -> None:
        self.next = 0

    def apply(self, f: str, key: Any, value: Any) -> Any:
        self.next += 1
        return self.next


class ListStore:
    def __init__(self) -> None:
        self.lists: dict[Any, list[Any]] = {}

    def apply(self, f: str, key: Any, value: Any) -> Any:
        out = []
        for mf, k, v in value:
            if mf == "append":
                self.lists.setdefault(k, []).append(v)
                out.append([mf, k, v])
            else:
                cur = self.lists.get(k)
                out.append([mf, k, list(cur) if cur else None])
        return out


# ----------------------------------------------------------------------------- simulator

Gen = Callable[[random.Random], tuple[str, Any, Any]]  # -> (f, key, value)


def simulate(store: Any, gen: Gen, rng: random.Random, *, n_ops: int, procs: int = 4,
             p_fail: float = 0.1, p_info: float = 0.1, final: tuple[str, Any, Any] | None = None,
             final_keys: list[Any] | None = None) -> History:
    """Run ``n_ops`` random ops from ``procs`` concurrent clients against ``store``.

    Each step either invokes (idle process), applies a pending op (its linearization
    point), completes one, or applies a crashed op late. After all ops, optional final
    ops (``final`` with key replaced by each of ``final_keys``) run alone.
    """
    b = Builder()
    next_proc = procs
    idle = list(range(procs))
    pending: dict[int, dict[str, Any]] = {}
    zombies: list[dict[str, Any]] = []  # crashed, not yet applied: may apply later
    issued = 0
    while issued < n_ops or pending:
        choices = []
        if idle and issued < n_ops:
            choices.append("invoke")
        if pending:
            choices += ["step", "step"]
        if zombies:
            choices.append("zombie")
        what = rng.choice(choices)
        if what == "invoke":
            p = idle.pop(rng.randrange(len(idle)))
            f, key, value = gen(rng)
            b.invoke(p, f, value, key)
            pending[p] = {"f": f, "key": key, "value": value, "applied": False, "out": None}
            issued += 1
        elif what == "zombie":
            z = zombies.pop(rng.randrange(len(zombies)))
            if rng.random() < 0.5:
                store.apply(z["f"], z["key"], z["value"])
        else:
            p = rng.choice(list(pending))
            op = pending[p]
            if not op["applied"]:
                r = rng.random()
                if r < p_fail:
                    b.fail(p)
                elif r < p_fail + p_info:
                    b.info(p)
                    zombies.append(op)
                else:
                    op["out"] = store.apply(op["f"], op["key"], op["value"])
                    op["applied"] = True
                    continue
                del pending[p]
            else:
                if rng.random() < p_info:
                    b.info(p)
                else:
                    b.ok(p, op["out"])
                del pending[p]
            if b.ops[-1].type == "info":
                p, next_proc = next_proc, next_proc + 1
            idle.append(p)
    if final is not None:
        for k in final_keys or [final[1]]:
            p = next_proc
            next_proc += 1
            b.invoke(p, final[0], final[2], k)
            b.ok(p, store.apply(final[0], k, final[2]))
    return b.history()
