"""The disk fault's figures: what it catches that kill cannot, what it costs, and no false alarms.

usage: python bench/disk.py [--seeds 5] [--time-limit 30] [--parts bugs,correct,cost]

* bugs: each ``no-fsync`` seeded bug under its detect.py plan (``disk,partition``) and
  under ``kill`` alone, same seeds: detection rates side by side;
* correct: raft, paxos and ring with no bug under ``disk,partition`` (the bug plans'
  set workload, and raft's register too) and etcd under
  ``disk:lose-unfsynced``, same seeds: every run must be valid (false alarms counted);
* cost: raft ops/s at unlimited rate with 10 clients, with and without the FUSE layer
  (``--backend-opt lazyfs=1`` mounts it with no fault scheduled).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import run  # noqa: E402
from detect import PLAN  # noqa: E402

BUGS = (("raft", "no-fsync"), ("paxos", "acceptor-no-fsync"), ("ring", "no-fsync"))
CORRECT = (("raft", "set", "disk,partition"), ("paxos", "set", "disk,partition"), ("ring", "set", "disk,partition"),
           ("raft", "register", "disk,partition"), ("etcd", "register", "disk:lose-unfsynced"))


def _rate(system: str, workload: str, nemesis: str, seeds: range, time_limit: float, bug: str | None,
          extra: list[str]) -> tuple[int, list[str]]:
    hits, odd = 0, []
    for seed in seeds:
        r = run(system, workload=workload, nemesis=nemesis, seed=seed, time_limit=time_limit, bug=bug, extra=extra)
        hits += r["exit_code"] == 1
        if r["exit_code"] not in (0, 1):
            odd.append(f"{seed}(exit {r['exit_code']}: {r.get('stderr_tail')})")
    return hits, odd


def _ok_per_s(extra: list[str], seed: int, time_limit: float) -> float:
    r = run("raft", workload="register", nemesis="none", seed=seed, time_limit=time_limit,
            extra=["--rate", "0", "--concurrency", "10", *extra])
    with open(Path(r["run_dir"]) / "history.jsonl") as fh:
        ok = sum(1 for line in fh if json.loads(line)["type"] == "ok")
    return ok / time_limit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=30)
    ap.add_argument("--parts", default="bugs,correct,cost")
    args = ap.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    parts = set(args.parts.split(","))
    if "bugs" in parts:
        print(f"{'system':6} {'bug':18} {'nemesis':16} {'detected':>9}   (seeds {seeds.start}..{seeds.stop - 1})")
        for system, bug in BUGS:
            plan = PLAN[(system, bug)]
            for nemesis in (plan.nemesis, "kill"):
                hits, odd = _rate(system, plan.workload, nemesis, seeds, plan.time_limit or args.time_limit, bug,
                                  ["--nemesis-interval", "2", *plan.extra])
                print(f"{system:6} {bug:18} {nemesis:16} {hits:>4}/{len(seeds):<4}" + (f"  {odd}" if odd else ""),
                      flush=True)
    if "correct" in parts:
        print(f"{'system':6} {'workload':12} {'nemesis':20} {'false alarms':>12}")
        for system, workload, nemesis in CORRECT:
            hits, odd = _rate(system, workload, nemesis, seeds, args.time_limit, None, ["--nemesis-interval", "2"])
            print(f"{system:6} {workload:12} {nemesis:20} {hits:>6}/{len(seeds):<5}" + (f"  {odd}" if odd else ""),
                  flush=True)
    if "cost" in parts:
        plain = [_ok_per_s([], s, 15) for s in seeds]
        fuse = [_ok_per_s(["--backend-opt", "lazyfs=1"], s, 15) for s in seeds]
        print(f"raft ok ops/s, 10 clients, unlimited rate, 15 s, {len(seeds)} runs each: "
              f"plain {statistics.mean(plain):.0f} (runs {[round(x) for x in plain]}), "
              f"through lazyfs {statistics.mean(fuse):.0f} (runs {[round(x) for x in fuse]}), "
              f"cost {100 * (1 - statistics.mean(fuse) / statistics.mean(plain)):.0f}%")


if __name__ == "__main__":
    main()
