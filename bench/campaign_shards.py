"""Campaign wall time on one machine (--parallel 1 and 2) versus 4 shards, projected to 4 machines.

Runs the same campaign (memkv, the given workloads x seeds, no faults by default) three ways:
unsharded with --parallel 1, unsharded with --parallel 2, and as 4 shards one after another
(as 4 CI runners would, but here in turn); the 4-machine figure is the slowest shard plus the
merge, since the shards would run at once. Checks the merged index equals the unsharded one.

Run: python3 bench/campaign_shards.py [--runs-per-workload 8] [--time-limit 3] [--nemesis none]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOADS = "register,set,counter"


def campaign(*args: str) -> tuple[float, dict]:
    start = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "splitbrain", "campaign", *args, "--json"], capture_output=True,
                       text=True, env={**os.environ, "CI": "1"})
    wall = time.monotonic() - start
    if p.returncode not in (0, 1, 2):
        sys.exit(f"campaign {' '.join(args)} failed ({p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
    return wall, json.loads(p.stdout)


def verdicts(index: dict) -> list[tuple[str, int]]:
    return [(r["name"], r["exit_code"]) for r in index["runs"]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs-per-workload", type=int, default=8, help="seeds per workload (3 workloads)")
    ap.add_argument("--time-limit", type=float, default=3.0)
    ap.add_argument("--nemesis", default="none")
    ap.add_argument("--shards", type=int, default=4)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sb-bench-shards-") as tmp:
        root = Path(tmp)
        base = ["--systems", "memkv", "--workloads", WORKLOADS, "--nemesis", a.nemesis,
                "--seeds", str(a.runs_per_workload), "--time-limit", str(a.time_limit)]
        n_runs = 3 * a.runs_per_workload
        p1, whole = campaign(*base, "--store", str(root / "p1"))
        p2, _ = campaign(*base, "--store", str(root / "p2"), "--parallel", "2")
        shard_s = []
        for k in range(1, a.shards + 1):
            s, _ = campaign(*base, "--store", str(root / f"s{k}"), "--shard", f"{k}/{a.shards}")
            shard_s.append(s)
        start = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "splitbrain", "campaign", "merge",
                            *(str(root / f"s{k}") for k in range(1, a.shards + 1)), "--store", str(root / "m"),
                            "--json"], capture_output=True, text=True, env={**os.environ, "CI": "1"})
        merge_s = time.monotonic() - start
        merged = json.loads(p.stdout)
    same = verdicts(merged) == verdicts(whole)
    print(f"campaign: {n_runs} runs (memkv x {WORKLOADS} x {a.runs_per_workload} seeds, nemesis {a.nemesis}, "
          f"{a.time_limit:g} s each)")
    print(f"one machine, --parallel 1: {p1:7.1f} s")
    print(f"one machine, --parallel 2: {p2:7.1f} s")
    print(f"{a.shards} shards in turn: {' + '.join(f'{s:.1f}' for s in shard_s)} = {sum(shard_s):.1f} s; "
          f"merge {merge_s:.1f} s")
    print(f"projected on {a.shards} machines (slowest shard + merge): {max(shard_s) + merge_s:7.1f} s "
          f"({p1 / (max(shard_s) + merge_s):.1f}x --parallel 1)")
    print(f"merged verdicts equal the unsharded campaign's: {same}")


if __name__ == "__main__":
    main()
