"""ZooKeeper and Redis with Sentinel: cluster start time, ops/s and detection rates over seeds.

usage: python bench/realsys.py [--seeds 10] [--first-seed 1] [--time-limit 30] [--parallel 1]
                               [--plans zk-plain,zk-sync,redis,redis-wait1,redis-none] [--backend local]

Each plan is ``splitbrain run`` over seeds at the defaults a user gets with ``--nemesis
partition`` (the interval, the cluster size and the way ``partition`` is aimed on each system,
``SystemTraits.partition_topologies``): no per-seed tuning. Per plan it prints how many runs
gave the verdict the documentation predicts, the mean time from start to ports open and to
serving (the readiness probe), the mean ok ops/s, the stale reads (ZooKeeper: reads of a value
already overwritten by a write that completed before the read began) or the acknowledged adds
lost (Redis; ``redis-none`` is the control without faults, where nothing may be lost),
whether ZooKeeper's writes and cas alone (reads dropped) stay linearizable, and the machine's
load average while the plan ran: the machine is shared, and a loaded machine starts JVMs
slowly and fails over late.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _runs import Plan, run  # noqa: E402

PLANS = {
    "zk-plain": Plan("zookeeper", "register", verdict="invalid",
                     why="plain reads: a follower cut off from a leader that keeps its majority answers "
                     "from its own copy while the majority writes on"),
    "zk-sync": Plan("zookeeper", "register", verdict="valid", why="sync() before every read: linearizable",
                    extra=("--system-opt", "reads=sync")),
    "redis": Plan("redis-sentinel", "set", verdict="invalid",
                  why="asynchronous replication: the old primary's acknowledged adds vanish at failover"),
    "redis-wait1": Plan("redis-sentinel", "set", verdict="figure", why="WAIT 1 on every add narrows the window",
                        extra=("--system-opt", "wait=1")),
    "redis-none": Plan("redis-sentinel", "set", verdict="valid", why="no faults: nothing may be lost",
                       nemesis="none"),
}
_UP = re.compile(r"cluster of \d+ up in ([\d.]+) s")
_READY = re.compile(r"cluster of \d+ ready \(serving\) in ([\d.]+) s")


def _times(run_dir: Path) -> tuple[float | None, float | None]:
    try:
        text = (run_dir / "harness.log").read_text(errors="replace")
    except OSError:
        return None, None
    up, ready = _UP.search(text), _READY.search(text)
    return (float(up.group(1)) if up else None, float(ready.group(1)) if ready else None)


def _ops(run_dir: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []


def ok_rate(ops: list[dict[str, Any]]) -> float | None:
    """ok client ops per second of the main phase."""
    times = [op["time"] for op in ops if op.get("type") == "ok" and op.get("process") != "nemesis"]
    return len(times) / ((times[-1] - times[0]) / 1e9) if len(times) > 1 and times[-1] > times[0] else None


def stale_reads(ops: list[dict[str, Any]]) -> int:
    """Reads that returned a value certainly overwritten before they began.

    Write values are unique per key (the register workload), so a read of ``v`` is stale when
    some write of ``w != v`` completed before the read was invoked, and that write was invoked
    after the write of ``v`` completed: ``v`` was gone before the read started.
    """
    invoked: dict[Any, dict[str, Any]] = {}
    writes: dict[Any, list[tuple[int, int, Any]]] = {}  # key -> (invoke time, ok time, value)
    reads: list[tuple[Any, int, Any]] = []  # (key, invoke time, value)
    for op in ops:
        if op.get("process") == "nemesis":
            continue
        if op.get("type") == "invoke":
            invoked[op["process"]] = op
            continue
        inv = invoked.pop(op.get("process"), None)
        if inv is None or op.get("type") != "ok":
            continue
        key = op.get("key")
        if op["f"] == "read":
            reads.append((key, inv["time"], op.get("value")))
        elif op["f"] in ("write", "cas"):
            value = op["value"][1] if op["f"] == "cas" else op["value"]
            writes.setdefault(key, []).append((inv["time"], op["time"], value))
    stale = 0
    for key, began, value in reads:
        ws = writes.get(key, [])
        done_v = [ok for _, ok, v in ws if v == value]
        if done_v and any(v != value and ok < began and inv > done_v[0] for inv, ok, v in ws):
            stale += 1
    return stale


def writes_linearizable(ops: list[dict[str, Any]]) -> bool | None:
    """The history without its reads (writes and cas only) checked as a kv register: ZooKeeper's
    writes must stay linearizable even when its plain reads are stale. None: not decided."""
    kept = [op for op in ops if op.get("process") != "nemesis" and op.get("f") != "read"]
    if not kept:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
        for i, op in enumerate(kept):
            fh.write(json.dumps({**op, "index": i}) + "\n")
    try:
        proc = subprocess.run([sys.executable, "-m", "splitbrain", "check", "--model", "kv", "--timeout", "120",
                               fh.name], capture_output=True, timeout=300)
    finally:
        os.unlink(fh.name)
    return {0: True, 1: False}.get(proc.returncode)


def lost_adds(run_dir: Path) -> tuple[int, int]:
    """Acknowledged adds and those lost, from the set checker's summary."""
    try:
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        return 0, 0
    summary = str((results.get("checkers", {}).get("set") or {}).get("summary", ""))
    m, n = re.search(r"(\d+) acknowledged", summary), re.search(r"(\d+) lost", summary)
    return (int(m.group(1)) if m else 0), (int(n.group(1)) if n else 0)


def failover_named(run_dir: Path) -> bool:
    """The report's localization names the failover (Sentinel's promotion in the quoted logs)."""
    try:
        text = (run_dir / "report.html").read_text(errors="replace")
    except OSError:
        return False
    return "+switch-master" in text or "+promoted-slave" in text or "MASTER MODE enabled" in text


def one(plan: Plan, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    out = run(plan.system, workload=plan.workload, nemesis=plan.nemesis, seed=seed, time_limit=args.time_limit,
              bug=plan.bug, backend=args.backend, store=args.store, extra=list(plan.extra))
    out["load"] = os.getloadavg()[0]
    if out.get("run_dir"):
        d = Path(out["run_dir"])
        ops = _ops(d)
        out["up"], out["ready"] = _times(d)
        out["rate"] = ok_rate(ops)
        out["stale"] = stale_reads(ops) if plan.workload == "register" else None
        out["writes_ok"] = writes_linearizable(ops) if plan.workload == "register" else None
        out["acked"], out["lost"] = lost_adds(d) if plan.workload == "set" else (0, 0)
        out["named"] = failover_named(d) if plan.workload == "set" else None
    print(f"  seed {seed}: exit {out['exit_code']} ({out.get('wall_s', 0):.0f} s, load {out['load']:.1f})",
          file=sys.stderr, flush=True)
    return out


def _mean(xs: list[Any], fmt: str = ".1f") -> str:
    xs = [x for x in xs if x is not None]
    return format(statistics.mean(xs), fmt) if xs else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--parallel", type=int, default=1, help="runs at once (the machine is shared: 1-2)")
    ap.add_argument("--plans", default="zk-plain,zk-sync,redis,redis-wait1")
    ap.add_argument("--backend", default="local")
    ap.add_argument("--store", default="store/bench-realsys")
    args = ap.parse_args()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    print(f"{'plan':12s} {'verdict':>10s} {'up s':>5s} {'ready s':>7s} {'ok/s':>5s} {'stale':>6s} "
          f"{'lost/acked':>12s} {'load':>9s}  missed", flush=True)
    for name in args.plans.split(","):
        plan = PLANS[name]
        print(f"{name}: {plan.system}/{plan.workload} --nemesis {plan.nemesis} {' '.join(plan.extra)}",
              file=sys.stderr, flush=True)
        with ThreadPoolExecutor(max(1, args.parallel)) as pool:
            outs = list(pool.map(one, [plan] * len(seeds), seeds, [args] * len(seeds)))
        want = {"invalid": 1, "valid": 0}.get(plan.expect)
        hits = sum(o["exit_code"] == (1 if want is None else want) for o in outs)
        missed = [f"{s}(exit {o['exit_code']})" for s, o in zip(seeds, outs, strict=True)
                  if want is not None and o["exit_code"] != want]
        label = {"invalid": "found", "valid": "valid", "figure": "invalid"}[plan.expect]
        stale = [o.get("stale") for o in outs if o.get("stale") is not None]
        acked, lost = sum(o.get("acked", 0) for o in outs), sum(o.get("lost", 0) for o in outs)
        loads = [o["load"] for o in outs]
        lost_s = f"{lost / len(outs):.1f}/{acked / len(outs):.0f}" if plan.workload == "set" else "-"
        print(f"{name:12s} {label:>5s} {hits:>2d}/{len(outs):<2d} {_mean([o.get('up') for o in outs]):>5s} "
              f"{_mean([o.get('ready') for o in outs]):>7s} {_mean([o.get('rate') for o in outs], '.0f'):>5s} "
              f"{(f'{sum(stale) / len(stale):.1f}' if stale else '-'):>6s} {lost_s:>12s} "
              f"{statistics.mean(loads):>4.1f}-{max(loads):<4.1f}  {', '.join(missed) or '-'}", flush=True)
        if plan.workload == "register":
            ok = sum(o.get("writes_ok") is True for o in outs)
            print(f"{'':12s} writes and cas alone (reads dropped) linearizable: {ok}/{len(outs)}", flush=True)
        if plan.workload == "set" and plan.expect == "invalid":
            named = sum(bool(o.get("named")) for o in outs if o["exit_code"] == 1)
            print(f"{'':12s} reports naming the failover: {named}/{hits}", flush=True)
    print(f"(per plan: {len(seeds)} seeds x {args.time_limit:.0f} s, {args.parallel} at a time, "
          f"{os.cpu_count()} cores; stale = mean stale reads per run, lost/acked = mean per run, "
          "load = 1-min load average mean-max)", flush=True)


if __name__ == "__main__":
    main()
