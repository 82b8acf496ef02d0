"""The disk fault's figures: what it catches that kill cannot, what it costs, and no false alarms.

usage: python bench/disk.py [--seeds 5] [--time-limit 30] [--parts bugs,correct,cost,fuse] [--parallel 1] [--store DIR]
                            [--kill-seeds N] [--backend local|docker] [--bugs SYS:BUG,...] [--correct SYS:WL,...]
                            [--seed-list N,N,...]

* bugs: each ``no-fsync`` seeded bug under its detect.py plan (``disk,partition``) and
  under ``kill`` alone, same seeds: detection rates side by side;
* correct: raft, paxos and ring with no bug under ``disk,partition`` (the bug plans'
  set workload, and raft's register too) and etcd's register, same seeds: every run must be
  valid (false alarms counted);
* cost: raft ops/s at unlimited rate with 10 clients, with and without the FUSE layer
  (``--backend-opt lazyfs=1`` mounts it with no fault scheduled);
* fuse: the layer alone, the I/O patterns of the systems' storage (an appended record,
  the same with fsync, an atomic state file: write, fsync, rename, directory fsync; open
  and read) per second, in a plain directory and through a lazyfs mount of it.

``--parallel K`` runs K seeds at a time (the machine is shared: say the load with the figures).
Each line also gives the acknowledged writes per run (fewest, with its seed, and the median): a run
that acknowledged almost nothing had nothing to lose, and the load average while the line ran.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import run  # noqa: E402
from detect import PLAN  # noqa: E402

BUGS = (("raft", "no-fsync"), ("paxos", "acceptor-no-fsync"), ("ring", "no-fsync"))
CORRECT = (("raft", "set", "disk,partition"), ("paxos", "set", "disk,partition"), ("ring", "set", "disk,partition"),
           ("etcd", "register", "disk,partition"), ("raft", "register", "disk,partition"))


PARALLEL = 1
BACKEND = "local"
STORE = "store/bench"


def _rate(system: str, workload: str, nemesis: str, seeds: Sequence[int], time_limit: float, bug: str | None,
          extra: list[str]) -> tuple[int, list[str], list[int], str]:
    """(runs that exit 1, runs that neither pass nor fail with why, seeds that exit 1, acked writes and load)."""
    def one(seed: int) -> dict:
        return run(system, workload=workload, nemesis=nemesis, seed=seed, time_limit=time_limit, bug=bug,
                   backend=BACKEND, store=STORE, extra=extra)

    hits, odd, flagged, acked = 0, [], [], {}
    with ThreadPoolExecutor(PARALLEL) as pool:
        for seed, r in zip(seeds, pool.map(one, seeds), strict=True):
            acked[seed] = _acked_writes(r.get("run_dir"))
            hits += r["exit_code"] == 1
            if r["exit_code"] == 1:
                flagged.append(seed)
            if r["exit_code"] not in (0, 1):
                odd.append(f"{seed}(exit {r['exit_code']}: {r.get('stderr_tail')})")
    fewest = min(acked, key=lambda k: acked[k])
    note = (f"acked writes: fewest {acked[fewest]} (seed {fewest}), median {statistics.median(acked.values()):.0f}, "
            f"per seed {acked}; load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return hits, odd, flagged, note


def _acked_writes(run_dir: str | None) -> int:
    """Acknowledged writes (add, write, cas) in a run's history; -1 when it has none."""
    try:
        with open(Path(run_dir or "") / "history.jsonl") as fh:
            ops = [json.loads(line) for line in fh]
    except (OSError, ValueError):
        return -1
    return sum(1 for op in ops if op["type"] == "ok" and op["f"] in ("add", "write", "cas"))


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
    ap.add_argument("--parts", default="bugs,correct,cost,fuse")
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--kill-seeds", type=int, default=None, help="seeds for the kill-only column (default --seeds)")
    ap.add_argument("--backend", default="local")
    ap.add_argument("--store", default="store/bench")
    ap.add_argument("--correct", default=None,
                    help="only these correct configurations, as SYSTEM:WORKLOAD,... (default: all of CORRECT)")
    ap.add_argument("--bugs", default=None, help="only these seeded bugs, as SYSTEM:BUG,... (default: all of BUGS)")
    ap.add_argument("--seed-list", default=None, help="exactly these seeds, N,N,... (instead of --seeds)")
    args = ap.parse_args()
    global PARALLEL, BACKEND, STORE
    PARALLEL, BACKEND, STORE = max(1, args.parallel), args.backend, args.store
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores, "
          f"{PARALLEL} run(s) at a time, backend {BACKEND}", flush=True)
    seeds: Sequence[int] = range(args.first_seed, args.first_seed + args.seeds)
    if args.seed_list:
        seeds = [int(x) for x in args.seed_list.split(",")]
    kill_seeds = range(args.first_seed, args.first_seed + (args.kill_seeds if args.kill_seeds is not None
                                                           else args.seeds))
    parts = set(args.parts.split(","))
    if "bugs" in parts:
        print(f"{'system':6} {'bug':18} {'nemesis':16} {'detected':>9}   (seeds {list(seeds)})")
        for system, bug in BUGS:
            if args.bugs and f"{system}:{bug}" not in args.bugs.split(","):
                continue
            plan = PLAN[(system, bug)]
            for nemesis, on in ((plan.nemesis, seeds), ("kill", kill_seeds)):
                if not on:
                    continue
                hits, odd, flagged, note = _rate(system, plan.workload, nemesis, on, plan.time_limit or args.time_limit,
                                           bug, ["--nemesis-interval", "2", *plan.extra])
                missed = sorted(set(on) - set(flagged))
                print(f"{system:6} {bug:18} {nemesis:16} {hits:>4}/{len(on):<4} missed {missed}"
                      + (f"  {odd}" if odd else "") + f"  [{note}]", flush=True)
    if "correct" in parts:
        print(f"{'system':6} {'workload':12} {'nemesis':20} {'false alarms':>12}")
        wanted = set(args.correct.split(",")) if args.correct else None
        for system, workload, nemesis in CORRECT:
            if wanted is not None and f"{system}:{workload}" not in wanted:
                continue
            hits, odd, flagged, note = _rate(system, workload, nemesis, seeds, args.time_limit, None,
                                       ["--nemesis-interval", "2"])
            print(f"{system:6} {workload:12} {nemesis:20} {hits:>6}/{len(seeds):<5} flagged {flagged}"
                  + (f"  {odd}" if odd else "") + f"  [{note}]", flush=True)
    if "cost" in parts:
        plain = [_ok_per_s([], s, 15) for s in seeds]
        fuse = [_ok_per_s(["--backend-opt", "lazyfs=1"], s, 15) for s in seeds]
        print(f"raft ok ops/s, 10 clients, unlimited rate, 15 s, {len(seeds)} runs each: "
              f"plain {statistics.mean(plain):.0f} (runs {[round(x) for x in plain]}), "
              f"through lazyfs {statistics.mean(fuse):.0f} (runs {[round(x) for x in fuse]}), "
              f"cost {100 * (1 - statistics.mean(fuse) / statistics.mean(plain)):.0f}%")
    if "fuse" in parts:
        fuse_figures()


def _patterns(d: str, seconds: float = 3.0) -> dict[str, float]:
    """Operations per second of each storage pattern in directory ``d``, ``seconds`` each."""
    rec = b'{"term": 3, "index": 12345, "command": ["add", "s", 1234]}\n'
    log = os.path.join(d, "log.jsonl")
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def atomic() -> None:
        tmp = os.path.join(d, "state.tmp")
        f = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(f, b'{"term": 3, "vote": "n1"}')
        os.fsync(f)
        os.close(f)
        os.rename(tmp, os.path.join(d, "state.json"))
        dfd = os.open(d, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)

    def read() -> None:
        with open(log, "rb") as fh:
            fh.read(4096)

    steps = {"append": lambda: os.write(fd, rec), "append+fsync": lambda: (os.write(fd, rec), os.fsync(fd)),
             "atomic-file": atomic, "open+read": read}
    out = {}
    try:
        for name, step in steps.items():
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                step()
                n += 1
            out[name] = n / (time.perf_counter() - start)
    finally:
        os.close(fd)
    return out


def fuse_figures() -> None:
    from splitbrain.backends.disk import mount as diskmount

    with tempfile.TemporaryDirectory(prefix="lazyfs-bench-") as root:
        plain_dir = os.path.join(root, "plain")
        os.makedirs(plain_dir)
        plain = _patterns(plain_dir)
        m = diskmount.Mount.under(os.path.join(root, "node"), "bench")
        diskmount.start(m, sys.executable, f"bench-{os.getpid()}:n1", dict(os.environ))
        try:
            fuse = _patterns(m.mountpoint)
        finally:
            diskmount.release(m)
    print(f"{'pattern':14} {'plain dir ops/s':>16} {'lazyfs ops/s':>13} {'lazyfs us/op':>13}")
    for name in plain:
        print(f"{name:14} {plain[name]:>16.0f} {fuse[name]:>13.0f} {1e6 / fuse[name]:>13.0f}")


if __name__ == "__main__":
    main()
