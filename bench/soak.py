"""Soak: every correct system under all faults for many seeds (goal: zero anomalies),
then every seeded bug (goal: >= 95% detection).

usage: python bench/soak.py [--seeds 20] [--time-limit 30] [--systems raft,paxos,ring] [--skip-bugs]
                            [--rotate-workloads] [--nemesis all]

--rotate-workloads gives each seed one workload, round-robin, so 20 seeds per
system cover every workload in a twentieth of the time of the full grid.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _runs import run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--time-limit", type=float, default=30)
    ap.add_argument("--systems", default="raft,paxos,ring")
    ap.add_argument("--skip-bugs", action="store_true")
    ap.add_argument("--rotate-workloads", action="store_true", help="one workload per seed, round-robin")
    ap.add_argument("--nemesis", default="all")
    args = ap.parse_args()
    from splitbrain.registry import SYSTEMS

    print(f"{'system':8} {'workload':12} {'runs':>5} {'valid':>6} {'invalid':>8} {'unknown':>8} {'error':>6}")
    for system in args.systems.split(","):
        workloads = list(SYSTEMS.get(system).workloads)
        grid = ([("rotated", [(s, workloads[s % len(workloads)]) for s in range(1, args.seeds + 1)])]
                if args.rotate_workloads else
                [(w, [(s, w) for s in range(1, args.seeds + 1)]) for w in workloads])
        for label, seeds in grid:
            codes: Counter[int] = Counter()
            bad_dirs = []
            for seed, workload in seeds:
                r = run(system, workload=workload, nemesis=args.nemesis, seed=seed, time_limit=args.time_limit)
                codes[r["exit_code"]] += 1
                if r["exit_code"] == 1:
                    bad_dirs.append(r.get("run_dir"))
            other = sum(v for k, v in codes.items() if k not in (0, 1, 2))
            print(f"{system:8} {label:12} {args.seeds:>5} {codes[0]:>6} {codes[1]:>8} {codes[2]:>8} {other:>6}",
                  flush=True)
            for d in bad_dirs:
                print(f"    anomaly on a correct system: {d}/report.html")
    if not args.skip_bugs:
        print()
        subprocess.run([sys.executable, str(Path(__file__).with_name("detect.py")), "--seeds", str(args.seeds),
                        "--time-limit", str(args.time_limit), "--systems", args.systems], check=False)


if __name__ == "__main__":
    main()
