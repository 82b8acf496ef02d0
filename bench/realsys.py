"""ZooKeeper and Redis with Sentinel: cluster start time, ops/s and detection rates over seeds.

usage: python bench/realsys.py [--seeds 10] [--first-seed 1] [--time-limit 30]
                               [--plans zk-plain,zk-sync,redis,redis-wait1] [--backend local]

Each plan is ``splitbrain run`` over seeds with the faults the issue names (``partition``);
per plan it prints how many runs found what the documentation predicts, the mean time from
start to ports open and to serving (the readiness probe), the mean ok ops/s, and for Redis
the acknowledged adds lost per run, with and without ``--system-opt wait=1`` (WAIT for one
replica on every write): how much WAIT narrows the window.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _runs import run  # noqa: E402


@dataclass(frozen=True)
class Plan:
    system: str
    workload: str
    expect: str  # "invalid": the anomaly must be found; "valid": the run must pass
    why: str
    extra: tuple[str, ...] = ()
    nemesis: str = "partition"


PLANS = {
    "zk-plain": Plan("zookeeper", "register", "invalid",
                     "plain reads: a follower cut off from the leader answers from its stale copy; a "
                     "fault every ~4 s, since only cuts that leave the leader a majority (not those "
                     "aimed at it) let the majority move on while a follower lags",
                     ("--nemesis-interval", "2")),
    "zk-sync": Plan("zookeeper", "register", "valid", "sync() before every read: linearizable",
                    ("--system-opt", "reads=sync", "--nemesis-interval", "2")),
    "redis": Plan("redis-sentinel", "set", "invalid",
                  "asynchronous replication: the old primary's acknowledged adds vanish at failover "
                  "(partitions aimed at the primary, which Sentinel names)", nemesis="partition-leader"),
    "redis-wait1": Plan("redis-sentinel", "set", "invalid", "WAIT 1 on every add narrows the window",
                        ("--system-opt", "wait=1"), nemesis="partition-leader"),
}
_UP = re.compile(r"cluster of \d+ up in ([\d.]+) s")
_READY = re.compile(r"cluster of \d+ ready \(serving\) in ([\d.]+) s")


def _times(run_dir: str) -> tuple[float | None, float | None]:
    try:
        text = (Path(run_dir) / "harness.log").read_text(errors="replace")
    except OSError:
        return None, None
    up, ready = _UP.search(text), _READY.search(text)
    return (float(up.group(1)) if up else None, float(ready.group(1)) if ready else None)


def _ok_rate(run_dir: str) -> tuple[float | None, int, int]:
    """ok ops per second of the main phase, acknowledged adds, and acknowledged adds lost."""
    ok, first, last = 0, None, None
    try:
        for line in (Path(run_dir) / "history.jsonl").read_text().splitlines():
            op = json.loads(line)
            if op.get("type") == "ok" and op.get("process") != "nemesis":
                ok += 1
                first = op["time"] if first is None else first
                last = op["time"]
        results = json.loads((Path(run_dir) / "results.json").read_text())
    except (OSError, ValueError):
        return None, 0, 0
    set_res: dict[str, Any] = results.get("checkers", {}).get("set") or {}
    summary = str(set_res.get("summary", ""))
    m, n = re.search(r"of (\d+) acknowledged", summary), re.search(r"(\d+) lost", summary)
    acked, lost = (int(m.group(1)) if m else 0), (int(n.group(1)) if n else 0)
    rate = ok / ((last - first) / 1e9) if first is not None and last and last > first else None
    return rate, acked, lost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--plans", default=",".join(PLANS))
    ap.add_argument("--backend", default="local")
    ap.add_argument("--store", default="store/bench-realsys")
    args = ap.parse_args()
    for name in args.plans.split(","):
        plan = PLANS[name]
        hits, starts, readies, rates, acked, lost, missed = 0, [], [], [], [], [], []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            out = run(plan.system, workload=plan.workload, nemesis=plan.nemesis, seed=seed,
                      time_limit=args.time_limit, backend=args.backend, store=args.store, extra=list(plan.extra))
            code = out["exit_code"]
            found = code == 1 if plan.expect == "invalid" else code == 0
            hits += found
            if not found:
                missed.append(f"{seed}(exit {code})")
            if out.get("run_dir"):
                up, ready = _times(out["run_dir"])
                rate, a, lo = _ok_rate(out["run_dir"])
                starts += [up] if up is not None else []
                readies += [ready] if ready is not None else []
                rates += [rate] if rate is not None else []
                acked.append(a)
                lost.append(lo)
            print(f"  {name} seed {seed}: exit {code} ({out.get('wall_s', 0):.0f} s)", file=sys.stderr, flush=True)
        n = args.seeds
        line = (f"{name:12s} {plan.system}/{plan.workload} under {plan.nemesis}, {args.time_limit:.0f} s x {n} seeds: "
                f"{'found' if plan.expect == 'invalid' else 'valid'} {hits}/{n} ({100 * hits / n:.0f}%)")
        if starts:
            line += f"; ports open {statistics.mean(starts):.1f} s"
        if readies:
            line += f", serving {statistics.mean(readies):.1f} s"
        if rates:
            line += f"; {statistics.mean(rates):.0f} ok ops/s"
        if plan.workload == "set" and acked:
            line += (f"; lost acknowledged adds per run: mean {statistics.mean(lost):.1f} of "
                     f"{statistics.mean(acked):.0f} ({100 * sum(lost) / max(1, sum(acked)):.1f}%)")
        if missed:
            line += f"; missed seeds: {', '.join(missed)}"
        print(line, flush=True)
        print(f"{'':12s} why: {plan.why}", flush=True)


if __name__ == "__main__":
    main()
