"""Detection rate of each seeded bug: run it over many seeds and count the runs that exit 1.

usage: python bench/detect.py [--seeds 20] [--time-limit 30] [--systems raft,paxos,ring] [--bugs a,b]

Prints, per bug: detection rate, mean time to detection (seconds into the run of the
earliest op in an anomaly) and mean wall time per run. Goal: >= 95% on every bug.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _runs import first_anomaly_time_s, run  # noqa: E402

# (system, bug) -> (workload, nemesis[, extra run arguments]) that should expose it
PLAN: dict[tuple[str, str], tuple[str, str] | tuple[str, str, list[str]]] = {
    ("raft", "stale-read"): ("register", "partition"),
    ("raft", "ack-before-commit"): ("set", "partition,kill"),
    ("raft", "quorum-off-by-one"): ("register", "partition"),
    # The bug loses an acknowledged command when an isolated old leader re-sends its accepts
    # after the heal: a set (final read of every add) notices any lost or missing add.
    ("paxos", "accept-lower-ballot"): ("set", "partition"),
    ("paxos", "ignore-promised-values"): ("counter", "partition,kill,pause"),
    ("ring", "sloppy-quorum"): ("register", "partition"),
    # A stale unrepaired read needs a fresh value on one replica only: a writer that trusts a
    # replica it cannot reach (one-way cut) leaves one there for a re-send wave (0.25 s), and
    # enough reads must land in it: read-heavy, twice the default rate.
    ("ring", "no-write-back"): ("rw-register", "partition-one-way", ["--rate", "60", "--concurrency", "10"]),
    ("ring", "lww-clock"): ("set", "clock"),
    ("etcd", "serializable-reads"): ("register", "partition"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--time-limit", type=float, default=30)
    ap.add_argument("--systems", default="raft,paxos,ring")
    ap.add_argument("--bugs", default="")
    ap.add_argument("--workload", default="", help="override the plan's workload")
    ap.add_argument("--nemesis", default="", help="override the plan's faults")
    ap.add_argument("--nemesis-interval", type=float, default=2.0, help="seconds between faults")
    args = ap.parse_args()
    from splitbrain.registry import SYSTEMS

    systems = args.systems.split(",")
    only = set(filter(None, args.bugs.split(",")))
    print(f"{'system':8} {'bug':24} {'workload':10} {'nemesis':22} {'detected':>9} {'rate':>6} {'ttd_s':>7} {'wall_s':>7}")
    for system in systems:
        bugs = SYSTEMS.get(system).bugs
        for bug in bugs:
            if only and bug not in only:
                continue
            workload, nemesis, *more = PLAN.get((system, bug), ("register", "partition,kill,pause"))
            plan_extra = list(more[0]) if more else []
            workload, nemesis = args.workload or workload, args.nemesis or nemesis
            hits, ttd, wall = 0, [], []
            for seed in range(1, args.seeds + 1):
                r = run(system, workload=workload, nemesis=nemesis, seed=seed, time_limit=args.time_limit, bug=bug,
                        extra=["--nemesis-interval", str(args.nemesis_interval), *plan_extra])
                wall.append(r["wall_s"])
                if r["exit_code"] == 1:
                    hits += 1
                    t = first_anomaly_time_s(r.get("run_dir", ""))
                    if t is not None:
                        ttd.append(t)
            rate = hits / args.seeds
            mean_ttd = f"{statistics.mean(ttd):7.1f}" if ttd else "      -"
            print(f"{system:8} {bug:24} {workload:10} {nemesis:22} {hits:>4}/{args.seeds:<4} {rate:6.0%} "
                  f"{mean_ttd} {statistics.mean(wall):7.1f}", flush=True)


if __name__ == "__main__":
    main()
