"""Detection rate of each seeded bug: run it over many seeds and count the runs that exit 1.

usage: python bench/detect.py [--table defaults|plans|both] [--seeds 20] [--first-seed 1]
                              [--systems raft,paxos,ring,etcd] [--bugs a,b] [--no-false-alarms]
                              [--parallel 2] [--extra "ARGS"] [--against "ARGS"]

``defaults`` (the first table) runs each bug exactly as a user would, with no plan:
``splitbrain run SYSTEM --bug B --seed S --time-limit 30`` and nothing else (default
workload, ``--nemesis all``, default rate and concurrency), then the correct systems on
the same seeds (false alarms: any run that is not valid). ``plans`` is the second table:
a hand-tuned workload, fault set, rate and length per bug (PLAN below).

Prints, per bug: detections / seeds, rate, median time to first anomaly (seconds into
the run of the earliest op in an anomaly), mean wall time per run, and the missed seeds;
the load average before and after each table (figures from a loaded machine are lower).
``--parallel K`` runs K tests at once (the runs of one table, in seed order).
``--against "ARGS"`` (defaults table) runs each seed twice, as is and with ARGS added, one
after the other, and prints both rows: a before/after over the same seeds under the same load
(issue 27 compared independent keys with ``--against "--ops-per-key 0"``, one key per run).
Goal: >= 95% on every bug at defaults, 0 false alarms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _runs import first_anomaly_time_s, run  # noqa: E402


@dataclass(frozen=True)
class Plan:
    """The workload and faults that should expose one bug; ``why`` says what the bug needs."""

    workload: str = "register"
    nemesis: str = "partition,kill,pause"
    why: str = ""
    extra: tuple[str, ...] = ()
    #: seconds per run when this bug needs more than the default (more faults, more heals)
    time_limit: float | None = None


PLAN: dict[tuple[str, str], Plan] = {
    # Two clients per node: a client on the deposed leader spends a second on each write it
    # sends there, so one client alone often has no read left in the window.
    ("raft", "stale-read"): Plan("register", "partition-leader",
                                 "a deposed leader in a minority, with clients on it, while the majority writes",
                                 ("--concurrency", "10", "--rate", "60")),
    ("raft", "ack-before-commit"): Plan("register", "partition-leader",
                                        "an isolated leader acks writes the new majority never sees"),
    ("raft", "quorum-off-by-one"): Plan("register", "partition-leader",
                                        "a 2-of-5 minority holding the leader keeps committing beside the majority"),
    ("raft", "follower-read"): Plan("register", "partition,kill,pause", "any cut-off follower serves old values"),
    # Two sides joined by one node elect two leaders that keep deposing each other: the
    # lower ballot's accepts land after the higher one's promises, and both get chosen.
    ("paxos", "accept-lower-ballot"): Plan("set", "partition:bridge",
                                           "dueling leaders: an acceptor takes the deposed one's accepts"),
    # Followers learn a chosen slot one heartbeat (0.1 s) after the leader acks it: when the
    # leader is lost, a new leader that ignores promised values overwrites those slots. Enough
    # load puts acknowledged adds in that window at every leader loss, and a set's final read
    # misses any one of them (a counter's indefinite increments can hide a lost one).
    ("paxos", "ignore-promised-values"): Plan("set", "partition-leader,kill",
                                              "a new leader overwrites slots the old one had acknowledged",
                                              ("--rate", "100", "--concurrency", "10")),
    # A side cut off starts serving on its own once its detector suspects the others (1 s)
    # and the ops it had in flight time out (2.5 s): partitions must outlast that, and two
    # clients per node keep reads and writes going on both sides.
    ("ring", "sloppy-quorum"): Plan("rw-register", "partition:halves",
                                    "both sides of a split take writes on the replicas they can reach",
                                    ("--nemesis-interval", "4", "--concurrency", "10", "--rate", "60")),
    # A stale unrepaired read needs a fresh value on one replica only: a writer that trusts a
    # replica it cannot reach (one-way cut) leaves one there for a re-send wave (0.25 s), and
    # enough reads from enough coordinators must land in it: read-heavy, 20 clients at
    # rate 200, many short cuts (rate 60 caught it on 17/20 seeds, 120 on 18/20).
    ("ring", "no-write-back"): Plan("rw-register", "partition-one-way", "a fresh value on one replica only",
                                    ("--rate", "200", "--concurrency", "20", "--nemesis-interval", "1"), 30),
    ("ring", "lww-clock"): Plan("set", "clock", "a coordinator's clock behind the others loses its writes"),
    # Unsynced state survives a process kill (the kernel keeps it): only a power loss that
    # hits every copy of an acknowledged write loses it (bench/disk.py shows kill alone misses).
    # A set's final read sees every lost add; register workloads move on to fresh keys and
    # rarely read the one whose writes were lost.
    ("raft", "no-fsync"): Plan("set", "disk,partition", "a majority power-fails with acked entries unsynced",
                               time_limit=30),
    ("paxos", "acceptor-no-fsync"): Plan("set", "disk,partition", "acceptors forget promises and accepts",
                                         time_limit=30),
    ("ring", "no-fsync"): Plan("set", "disk,partition", "a write quorum power-fails before syncing",
                               time_limit=30),
    # etcd elects a new leader only after its 1 s election timeout: partitions must outlast
    # that, with two clients per node so the cut-off member keeps serving reads.
    ("etcd", "serializable-reads"): Plan("register", "partition-leader", "a cut-off member serves its own state",
                                         ("--nemesis-interval", "4", "--concurrency", "10", "--rate", "60")),
    # membership bugs need the membership fault, asked for by name (not in `all`): bench/membership.py
    ("ring", "no-handover"): Plan("sets", "membership,partition", "ownership moves, the data never follows",
                                  time_limit=30),
    ("raft", "unsafe-membership"): Plan("register", "membership,partition",
                                        "two changes in flight: majorities that need not overlap", time_limit=30),
}


#: the bugs the defaults table measures unless told otherwise: every seeded bug that `--nemesis all`
#: can expose (the no-fsync bugs through the power loss every default run gets)
DEFAULT_BUGS = {
    "raft": ("stale-read", "ack-before-commit", "quorum-off-by-one", "follower-read", "no-fsync"),
    "paxos": ("accept-lower-ballot", "ignore-promised-values", "acceptor-no-fsync"),
    "ring": ("sloppy-quorum", "no-write-back", "lww-clock", "no-fsync"),
    "etcd": ("serializable-reads",),
}
HEADER = f"{'system':8} {'bug':24} {'workload':11} {'nemesis':22} {'detected':>9} {'rate':>6} {'ttd_p50':>7} {'wall_s':>7}"


#: runs at once (``--parallel``); each run is a child process, so threads are enough
PARALLEL = 1


Tally = tuple[int, list[float], list[float], list[str]]


def measure(system: str, bug: str | None, seeds: range, workload: str | None, nemesis: str | None,
            time_limit: float, extra: list[str]) -> Tally:
    """Runs per seed; returns (runs flagged, times to first anomaly, wall times, seeds not flagged)."""
    return measure_variants(system, bug, seeds, workload, nemesis, time_limit, [extra])[0]


def measure_variants(system: str, bug: str | None, seeds: range, workload: str | None, nemesis: str | None,
                     time_limit: float, variants: list[list[str]]) -> list[Tally]:
    """The same seeds under each variant's extra arguments, interleaved seed by seed (so every variant
    runs under the same load); one tally per variant."""
    jobs = [(seed, v) for seed in seeds for v in range(len(variants))]

    def one(job: tuple[int, int]) -> dict[str, Any]:
        return run(system, workload=workload, nemesis=nemesis, seed=job[0], time_limit=time_limit, bug=bug,
                   extra=[*variants[job[1]]])

    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(one, jobs))
    tallies: list[Tally] = []
    for v in range(len(variants)):
        hits, ttd, wall, missed = 0, [], [], []
        for (seed, _), r in [(j, r) for j, r in zip(jobs, results, strict=True) if j[1] == v]:
            wall.append(float(r["wall_s"]))
            flagged = r["exit_code"] == 1 if bug else r["exit_code"] != 0
            if flagged:
                hits += 1
                t = first_anomaly_time_s(str(r.get("run_dir", "")))
                if t is not None:
                    ttd.append(t)
            if (not flagged) if bug else flagged:
                missed.append(f"{seed}" if r["exit_code"] in (0, 1) else f"{seed}(exit {r['exit_code']})")
        tallies.append((hits, ttd, wall, missed))
    return tallies


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def row(system: str, bug: str, workload: str, nemesis: str, n: int, hits: int, ttd: list[float],
        wall: list[float], missed: list[str], label: str = "missed") -> None:
    p50 = f"{statistics.median(ttd):7.1f}" if ttd else "      -"
    print(f"{system:8} {bug:24} {workload:11} {nemesis:22} {hits:>4}/{n:<4} {hits / n:6.0%} {p50} "
          f"{statistics.mean(wall):7.1f}", flush=True)
    if missed:
        print(f"    {label} seeds: {', '.join(missed)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", choices=("defaults", "plans", "both"), default="defaults")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=30, help="seconds per run (plans may ask for more)")
    ap.add_argument("--systems", default="raft,paxos,ring,etcd")
    ap.add_argument("--bugs", default="", help="only these bugs (default: every bug of DEFAULT_BUGS)")
    ap.add_argument("--no-false-alarms", action="store_true", help="skip the correct systems")
    ap.add_argument("--workload", default="", help="plans: override the plan's workload")
    ap.add_argument("--nemesis", default="", help="plans: override the plan's faults")
    ap.add_argument("--extra", default="", help="more run arguments, space-separated (both tables)")
    ap.add_argument("--against", default="",
                    help="defaults: also run every seed with these run arguments added (e.g. \"--ops-per-key 0\"), "
                    "interleaved with the runs as is, and print both rows")
    ap.add_argument("--nemesis-interval", type=float, default=2.0, help="plans: seconds between faults")
    ap.add_argument("--parallel", type=int, default=1, help="runs at once (2 cores: at most 2)")
    args = ap.parse_args()
    global PARALLEL
    PARALLEL = max(1, args.parallel)
    from splitbrain.registry import SYSTEMS

    systems = args.systems.split(",")
    only = set(filter(None, args.bugs.split(",")))
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    extra = args.extra.split()

    def bugs_of(system: str) -> list[str]:
        known = list(SYSTEMS.get(system).bugs)
        return [b for b in known if b in only] if only else [b for b in DEFAULT_BUGS.get(system, ()) if b in known]

    if args.table in ("defaults", "both"):
        print(f"# defaults: `splitbrain run SYSTEM --bug B --seed S --time-limit {args.time_limit:g}`, "
              f"seeds {seeds.start}-{seeds.stop - 1}, {PARALLEL} at a time, {load()}")
        print(HEADER)
        variants = [extra, [*extra, *args.against.split()]] if args.against else [extra]
        if args.against:
            print(f"# each bug twice, seed by seed: as is, then with `{args.against}` (row 'against')")
        for system in systems:
            for bug in bugs_of(system):
                tallies = measure_variants(system, bug, seeds, None, None, args.time_limit, variants)
                for label, (hits, ttd, wall, missed) in zip(("(default)", "against"), tallies, strict=False):
                    row(system, bug, label, "(default: all)", len(seeds), hits, ttd, wall, missed)
        if not args.no_false_alarms:
            print("# false alarms: the correct systems on the same seeds (any run not valid)")
            for system in systems:
                alarms, _, wall, which = measure(system, None, seeds, None, None, args.time_limit, extra)
                row(system, "(correct)", "(default)", "(default: all)", len(seeds), alarms, [], wall, which,
                    "false-alarm")
        print(f"# {load()}")
    if args.table in ("plans", "both"):
        print("# hand-tuned plans (PLAN in bench/detect.py)")
        print(HEADER)
        for system in systems:
            for bug in bugs_of(system):
                plan = PLAN.get((system, bug), Plan())
                workload, nemesis = args.workload or plan.workload, args.nemesis or plan.nemesis
                hits, ttd, wall, missed = measure(
                    system, bug, seeds, workload, nemesis, plan.time_limit or args.time_limit,
                    ["--nemesis-interval", str(args.nemesis_interval), *plan.extra, *extra])
                row(system, bug, workload, nemesis, len(seeds), hits, ttd, wall, missed)


if __name__ == "__main__":
    main()
