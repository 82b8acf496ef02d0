"""Run directories for the report tests, written by hand so they do not need the harness."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from splitbrain.checkers.linearizable import check_history
from splitbrain.history import History, Op

START_WALL = 1_700_000_000.0
HOSTILE = ["<script>alert(1)</script>", '" onerror="alert(1)', "javascript:alert(1)",
           "</script><script>alert(2)</script>", "<img src=x onerror=alert(3)>", "\u2028\u2029"]


def _test_json(d: Path, **over: Any) -> None:
    test = {"system": "memkv", "workload": "register", "nemesis": ["partition"], "nodes": ["n1", "n2", "n3"],
            "backend": "local", "backend_options": {}, "time_limit_s": 10, "concurrency": 3, "rate": 50,
            "seed": 7, "bug": None, "run_id": "t", "start_wall_time": START_WALL,
            "command": "splitbrain run memkv --workload register --nemesis partition --seed 7"}
    test.update(over)
    (d / "test.json").write_text(json.dumps(test))


def _logs(d: Path, lines_per_node: int = 60, hostile: bool = False) -> None:
    for i, n in enumerate(("n1", "n2", "n3")):
        (d / "nodes" / n).mkdir(parents=True, exist_ok=True)
        msgs = []
        for k in range(lines_per_node):
            msg = f"{n} applied entry {k}"
            if hostile and k % 10 == 0:
                msg += " " + HOSTILE[k // 10 % len(HOSTILE)]
            msgs.append(f"{START_WALL + k * 0.05 + i * 0.001:.6f} INFO {msg}\n")
        (d / "nodes" / n / "node.log").write_text("".join(msgs))


def _write_history(d: Path, ops: list[Op], torn: bool = False) -> History:
    with open(d / "history.jsonl", "w", encoding="utf-8") as fh:
        for op in ops:
            fh.write(op.to_line() + "\n")
        if torn:
            fh.write('{"index": 99999, "process": 0, "ty')
    return History(ops)


def _results(d: Path, h: History, model: str = "cas-register") -> dict[str, Any]:
    res = check_history(h, model=model, timeout_s=30)
    out = {"valid": res.valid, "checkers": {"linearizable": res.to_json()}, "ops": len(h.client_ops()) // 2,
           "faults": len(h.nemesis_ops()) // 2, "seed": 7, "duration_s": h.ops[-1].time / 1e9}
    (d / "results.json").write_text(json.dumps(out, default=str))
    return out


def stale_read_run(d: Path, hostile: bool = False, results: bool = True, torn: bool = False) -> Path:
    """A register run with a stale read during a partition: not linearizable."""
    d.mkdir(parents=True, exist_ok=True)
    _test_json(d, **({"command": "splitbrain run memkv " + HOSTILE[0]} if hostile else {}))
    _logs(d, hostile=hostile)
    ms = 1_000_000
    spec = [  # (process, f, value, output, t0 ms, t1 ms, node, outcome)
        (0, "write", 1, 1, 10, 40, "n1", "ok"),
        (1, "read", None, 1, 50, 70, "n2", "ok"),
        (2, "write", 2, 2, 100, 130, "n1", "ok"),
        (0, "read", None, 2, 140, 160, "n1", "ok"),
        (1, "read", None, 1, 300, 330, "n3", "ok"),   # stale: 2 was acknowledged at 130
        (2, "write", 3, None, 310, 900, "n3", "info"),
        (0, "cas", [2, 4], None, 400, 420, "n1", "fail"),
    ]
    events: list[tuple[int, dict[str, Any]]] = []
    for p, f, v, out, t0, t1, node, typ in spec:
        if hostile and f == "write" and v == 3:
            v = HOSTILE[0]
        events.append((t0 * ms, {"process": p, "type": "invoke", "f": f, "value": v, "node": node}))
        events.append((t1 * ms, {"process": p, "type": typ, "f": f, "value": out if typ == "ok" else v,
                                 "node": node, "error": (HOSTILE[3] if hostile else "timeout") if typ == "info" else None}))
    events.append((200 * ms, {"process": "nemesis", "type": "info", "f": "start-partition",
                              "value": {"grudge": {"n3": ["n1", "n2"]}, "note": HOSTILE[4] if hostile else ""}}))
    events.append((800 * ms, {"process": "nemesis", "type": "info", "f": "stop-partition", "value": None}))
    events.sort(key=lambda e: e[0])
    ops = [Op(index=i, time=t, **{k: v for k, v in e.items() if v is not None}) for i, (t, e) in enumerate(events)]

    _write_history(d, ops, torn=torn)
    if results:
        _results(d, History(ops))
    return d


def big_run(d: Path, n_calls: int, seed: int = 1) -> Path:
    """``n_calls`` register ops (2 * n_calls history events) under periodic partitions; valid."""
    d.mkdir(parents=True, exist_ok=True)
    conc = 10
    _test_json(d, concurrency=conc, time_limit_s=n_calls // 500)
    _logs(d, lines_per_node=2000)
    rnd = random.Random(seed)
    ops: list[Op] = []
    t = 0
    proc = list(range(conc))
    value = 0
    idx = 0
    fault_on = False
    for i in range(n_calls):
        t += rnd.randint(100_000, 3_000_000)
        if i % 2000 == 1000:
            f = "stop-partition" if fault_on else "start-partition"
            ops.append(Op(idx, "nemesis", "info", f, {"nodes": ["n1"]} if not fault_on else None, t))
            idx += 1
            fault_on = not fault_on
        lane = i % conc
        p = proc[lane]
        if rnd.random() < 0.5:
            value += 1
            inv = Op(idx, p, "invoke", "write", value, t, node=f"n{lane % 3 + 1}")
            typ = rnd.choice(["ok"] * 18 + ["fail", "info"])
            comp = Op(idx + 1, p, typ, "write", value, t + rnd.randint(50_000, 900_000), node=inv.node)
        else:
            inv = Op(idx, p, "invoke", "read", None, t, node=f"n{lane % 3 + 1}")
            comp = Op(idx + 1, p, "ok", "read", value, t + rnd.randint(50_000, 900_000), node=inv.node)
        ops.append(inv)
        ops.append(comp)
        idx += 2
        if comp.type == "info":
            proc[lane] += conc
    for k, op in enumerate(sorted(ops, key=lambda o: o.time)):
        op.index = k
    ops.sort(key=lambda o: o.index)
    _write_history(d, ops)
    (d / "results.json").write_text(json.dumps({"valid": True, "checkers": {"perf": {
        "checker": "perf", "valid": True, "summary": "ok", "anomalies": [], "stats": {}, "details": {},
        "seconds": 0.0, "error": None}}, "ops": n_calls, "faults": n_calls // 2000, "seed": seed,
        "duration_s": t / 1e9}))
    return d


def _ops_at(events: list[tuple[Any, str, str, Any]]) -> list[Op]:
    return [Op(index=i, process=p, type=typ, f=f, value=v, time=(i + 1) * 10_000_000, node="n1")
            for i, (p, typ, f, v) in enumerate(events)]


def _store_results(d: Path, res: Any, n: int) -> None:
    (d / "results.json").write_text(json.dumps({"valid": res.valid, "checkers": {res.checker: res.to_json()},
                                                "ops": n, "faults": 0, "seed": 7, "duration_s": 1.0}, default=str))


def cycle_run(d: Path) -> Path:
    """A list-append run with a G0 write cycle (two txns ordered both ways on x and y)."""
    from splitbrain.checkers.list_append import check_list_append

    d.mkdir(parents=True, exist_ok=True)
    _test_json(d, workload="list-append", nemesis=[])
    _logs(d, lines_per_node=5)
    a = [["append", "x", 1], ["append", "y", 2]]
    b = [["append", "x", 3], ["append", "y", 4]]
    ops = _ops_at([(0, "invoke", "txn", a), (1, "invoke", "txn", b), (0, "ok", "txn", a), (1, "ok", "txn", b),
                   (2, "invoke", "txn", [["r", "x", None], ["r", "y", None]]),
                   (2, "ok", "txn", [["r", "x", [1, 3]], ["r", "y", [4, 2]]])])
    _write_history(d, ops)
    _store_results(d, check_list_append(History(ops)), 3)
    return d


def lost_run(d: Path) -> Path:
    """A set run whose final read misses two acknowledged adds."""
    from splitbrain.checkers.set import check_set

    d.mkdir(parents=True, exist_ok=True)
    _test_json(d, workload="set", nemesis=[])
    _logs(d, lines_per_node=5)
    ev: list[tuple[Any, str, str, Any]] = []
    for v in range(5):
        ev += [(0, "invoke", "add", v), (0, "ok", "add", v)]
    ev += [(1, "invoke", "read", None), (1, "ok", "read", [0, 2, 4])]
    ops = _ops_at(ev)
    _write_history(d, ops)
    _store_results(d, check_set(History(ops)), 6)
    return d
