"""High-rate runs get a verdict (issue 27): unlimited rate, 20 clients, all faults, per system and run length.

Prints one row per run: ops completed, ok/fail/info, ops/s, keys checked, verdict and the
linearizability checker's own seconds (which must stay well under the run's length).

    python bench/highrate.py [--systems raft,paxos,ring,etcd] [--lengths 20,120] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _runs import run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--systems", default="raft,paxos,ring,etcd")
    ap.add_argument("--lengths", default="20,120")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--store", default="store/bench-highrate")
    args = ap.parse_args()
    print(f"{'system':8} {'len':>5} {'ops':>8} {'ok':>7} {'fail':>7} {'info':>5} {'ops/s':>7} "
          f"{'keys':>5} {'verdict':>8} {'check s':>8}")
    for length in (float(x) for x in args.lengths.split(",")):
        for system in args.systems.split(","):
            out = run(system, workload=None, nemesis="all", seed=args.seed, time_limit=length,
                      store=args.store, extra=["--rate", "0", "--concurrency", "20"])
            counts: dict[str, int] = {}
            lin: dict = {}
            run_dir = out.get("run_dir")
            if run_dir and os.path.exists(os.path.join(run_dir, "results.json")):
                with open(os.path.join(run_dir, "results.json")) as fh:
                    res = json.load(fh)
                counts = res.get("counts") or {}
                lin = (res.get("checkers") or {}).get("linearizable") or {}
            verdict = {0: "valid", 1: "invalid", 2: "unknown"}.get(out["exit_code"], f"exit {out['exit_code']}")
            ops = out.get("ops") or 0
            keys = (lin.get("stats") or {}).get("partitions", "-")
            secs = lin.get("seconds")
            print(f"{system:8} {length:5.0f} {ops:8d} {counts.get('ok', 0):7d} {counts.get('fail', 0):7d} "
                  f"{counts.get('info', 0):5d} {ops / length:7.0f} {keys!s:>5} {verdict:>8} "
                  f"{(f'{secs:.2f}' if secs is not None else '-'):>8}", flush=True)
            if out.get("stderr_tail"):
                print("   ", out["stderr_tail"], flush=True)


if __name__ == "__main__":
    main()
