"""Synthetic histories of known verdict, written straight to ``history.jsonl``.

For benchmarks and memory tests at sizes no real run in a test suite reaches
(100k to 5M ops): each generator simulates a correct object (every op takes
effect at one instant between its invocation and completion) with ``clients``
concurrent processes, some ops timing out (``info``, the process replaced by a
fresh one), and streams JSON lines to a file without holding the history. With
``invalid=True`` one read in the middle returns a value it cannot have seen (a
value overwritten long before, or for sets an element never added), so the
verdict is known either way.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from typing import IO, Any

__all__ = ["SHAPES", "write_counter", "write_kv", "write_register", "write_set"]


class _Sim:
    """Drives ``clients`` processes through invoke -> apply -> complete, in random interleaving."""

    def __init__(self, fh: IO[str], rng: random.Random, clients: int, info_rate: float) -> None:
        self.fh, self.rng, self.info_rate = fh, rng, info_rate
        self.index = 0
        self.procs = list(range(clients))
        self.next_proc = clients
        self.state: list[list[Any] | None] = [None] * clients  # per slot: [proc, f, key, value, applied, out]

    def emit(self, proc: int, typ: str, f: str, value: Any, key: Any = None) -> None:
        k = "" if key is None else f'"key":{json.dumps(key)},'
        self.fh.write(f'{{"index":{self.index},"process":{proc},"type":"{typ}","f":"{f}",{k}'
                      f'"value":{json.dumps(value)},"time":{self.index * 1000}}}\n')
        self.index += 1


def write_register(path: str | os.PathLike[str], n_ops: int, *, clients: int = 8, unique: bool = True,
                   values: int = 5, cas: bool = False, invalid: bool = False, seed: int = 0,
                   info_rate: float = 0.01) -> None:
    """One register: unique writes (1, 2, 3, ...) or ``values`` reused ones, optionally cas."""
    rng = random.Random(seed)
    reg: list[Any] = [None]
    counter = [0]
    history: list[Any] = []
    bad_at = n_ops // 2 if invalid else -1
    made = [0]

    def invoke() -> tuple[str, Any, Any]:
        made[0] += 1
        r = rng.random()
        if cas and r < 0.3:
            return "cas", None, [rng.randrange(values), rng.randrange(values)]
        if r < 0.5:
            return "read", None, None
        counter[0] += 1
        return "write", None, (counter[0] if unique else rng.randrange(values))

    injected = [False]
    bad_reads: list[list[Any]] = []  # held, so identity tells them apart

    def on_ok(st: list[Any]) -> None:
        if st[1] == "write":  # acknowledged writes: one 200 acknowledgements old is surely overwritten
            history.append(st[3])
            del history[:-256]
        elif any(st is b for b in bad_reads):
            injected[0] = True  # acknowledged: a bad read that timed out would have shown nothing

    def apply(st: list[Any]) -> None:
        f = st[1]
        if f == "read":
            if not injected[0] and made[0] >= bad_at >= 0 and len(history) > 200:
                st[5] = history[-200] if unique else values + 7  # long overwritten / never written
                bad_reads.append(st)
            else:
                st[5] = reg[0]
        elif f == "write":
            reg[0] = st[3]
        elif reg[0] == st[3][0]:
            reg[0] = st[3][1]
        else:
            st.append("fail")  # the compare failed: it completes as fail

    with open(path, "w", encoding="utf-8") as fh:
        _run_states(_Sim(fh, rng, clients, info_rate), n_ops, invoke, apply, on_ok)


def _run_states(sim: _Sim, n_ops: int, invoke: Callable[[], tuple[str, Any, Any]],
                apply: Callable[[list[Any]], None], on_ok: Callable[[list[Any]], None] | None = None) -> None:
    """Invoke, apply (the instant it takes effect), complete: one random process at a time."""
    started = busy = 0
    rng = sim.rng
    n = len(sim.procs)
    while started < n_ops or busy:
        slot = rng.randrange(n)
        st = sim.state[slot]
        if st is None:
            if started >= n_ops:
                continue
            f, key, value = invoke()
            st = sim.state[slot] = [sim.procs[slot], f, key, value, False, None]
            sim.emit(st[0], "invoke", f, value, key)
            started += 1
            busy += 1
        elif not st[4]:
            st[4] = True
            apply(st)
        else:
            if len(st) > 6:
                sim.emit(st[0], "fail", st[1], st[3], st[2])
            elif rng.random() < sim.info_rate:
                sim.emit(st[0], "info", st[1], st[3], st[2])
                sim.procs[slot] = sim.next_proc
                sim.next_proc += 1
            else:
                sim.emit(st[0], "ok", st[1], st[5] if st[1] in ("read", "get") else st[3], st[2])
                if on_ok is not None:
                    on_ok(st)
            sim.state[slot] = None
            busy -= 1


def write_kv(path: str | os.PathLike[str], n_ops: int, *, clients: int = 20, keys: int = 10, values: int = 5,
             invalid: bool = False, seed: int = 0, info_rate: float = 0.01) -> None:
    """Registers per key (read/write with reused values), ``clients`` processes over ``keys`` keys."""
    rng = random.Random(seed)
    regs: dict[str, Any] = {}
    bad = [n_ops // 2 if invalid else -1]
    made = [0]

    def invoke() -> tuple[str, Any, Any]:
        made[0] += 1
        key = str(rng.randrange(keys))
        if rng.random() < 0.5:
            return "read", key, None
        return "write", key, rng.randrange(values)

    def apply(st: list[Any]) -> None:
        if st[1] == "read":
            if 0 <= bad[0] <= made[0]:
                st[5] = values + 7
                bad[0] = -1
            else:
                st[5] = regs.get(st[2])
        else:
            regs[st[2]] = st[3]

    with open(path, "w", encoding="utf-8") as fh:
        _run_states(_Sim(fh, rng, clients, info_rate), n_ops, invoke, apply)


def write_set(path: str | os.PathLike[str], n_ops: int, *, clients: int = 8, invalid: bool = False,
              seed: int = 0) -> None:
    """Adds of 0, 1, 2, ... then one final read of everything (minus one acknowledged add if invalid)."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        sim = _Sim(fh, rng, clients, 0.0)
        counter = [0]

        def invoke() -> tuple[str, Any, Any]:
            counter[0] += 1
            return "add", None, counter[0] - 1

        _run_states(sim, n_ops - 1, invoke, lambda st: None)
        p = sim.next_proc
        elements = list(range(counter[0]))
        if invalid and elements:
            elements.pop(len(elements) // 2)
        sim.emit(p, "invoke", "read", None)
        sim.emit(p, "ok", "read", elements)


def write_counter(path: str | os.PathLike[str], n_ops: int, *, clients: int = 8, invalid: bool = False,
                  seed: int = 0) -> None:
    """Adds of 1 and reads of the running total; if invalid, one read in the middle is far too high."""
    rng = random.Random(seed)
    total = [0]
    bad = [n_ops // 2 if invalid else -1]
    made = [0]

    def invoke() -> tuple[str, Any, Any]:
        made[0] += 1
        return ("read", None, None) if rng.random() < 0.3 else ("add", None, 1)

    def apply(st: list[Any]) -> None:
        if st[1] == "read":
            st[5] = total[0] + (10**6 if 0 <= bad[0] <= made[0] else 0)
            if 0 <= bad[0] <= made[0]:
                bad[0] = -1
        else:
            total[0] += st[3]

    with open(path, "w", encoding="utf-8") as fh:
        _run_states(_Sim(fh, rng, clients, 0.0), n_ops, invoke, apply)


#: name -> (writer, model) for the benchmark and the memory tests
SHAPES: dict[str, tuple[Callable[..., None], str]] = {
    "register-unique": (write_register, "register"),
    "register-reused": (lambda p, n, **kw: write_register(p, n, unique=False, cas=True, clients=5, **kw),
                        "cas-register"),
    "kv": (write_kv, "kv"),
    "set": (write_set, "set"),
    "counter": (write_counter, "counter"),
}
