"""Speed of the set, counter, unique-ids, list-append and perf checkers on large histories.

Histories are simulated from correct in-memory stores under random concurrency
(tests/checker_sim.py), with fail and info outcomes, so every checker must also
answer ``valid``: the figures are for the full, successful check. Prints one line
per checker: history size, verdict, seconds.

    python3 bench/checkers_misc.py [--ops 100000] [--procs 10] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splitbrain.checkers.counter import check_counter  # noqa: E402
from splitbrain.checkers.list_append import check_list_append  # noqa: E402
from splitbrain.checkers.perf import check_perf  # noqa: E402
from splitbrain.checkers.set import check_set  # noqa: E402
from splitbrain.checkers.unique_ids import check_unique_ids  # noqa: E402
from tests.checker_sim import CounterStore, IdStore, ListStore, SetStore, simulate  # noqa: E402


def set_gen(read_share: float):
    n = [0]

    def gen(rng: random.Random):
        if rng.random() < read_share:
            return "read", "s", None
        n[0] += 1
        return "add", "s", n[0]
    return gen


def counter_gen(rng: random.Random):
    return ("read", "c", None) if rng.random() < 0.2 else ("add", "c", rng.randint(-2, 5))


def list_gen():
    """The list-append workload's shape: 1-4 mops over 4 active keys, 32 appends per key."""
    active, nxt, written = [0, 1, 2, 3], [4], {0: 0, 1: 0, 2: 0, 3: 0}

    def gen(rng: random.Random):
        mops = []
        for _ in range(rng.randint(1, 4)):
            slot = rng.randrange(4)
            k = active[slot]
            if rng.random() < 0.5:
                mops.append(["r", k, None])
                continue
            written[k] += 1
            mops.append(["append", k, written[k]])
            if written[k] >= 32:
                active[slot] = nxt[0]
                written[nxt[0]] = 0
                nxt[0] += 1
        return "txn", None, mops
    return gen


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=100_000, help="history events (invocations + completions)")
    ap.add_argument("--procs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    calls = args.ops // 2
    cases = [
        ("set (final read only)", check_set, SetStore(), set_gen(0.0), ("read", "s", None)),
        ("set (0.5% reads)", check_set, SetStore(), set_gen(0.005), ("read", "s", None)),
        ("counter", check_counter, CounterStore(), counter_gen, ("read", "c", None)),
        ("unique-ids", check_unique_ids, IdStore(), lambda r: ("generate", None, None), None),
        ("list-append", check_list_append, ListStore(), list_gen(), None),
    ]
    print(f"{'checker':<24} {'events':>8} {'verdict':>8} {'seconds':>8}   (sim: {args.procs} procs, seed {args.seed})")
    for label, fn, store, gen, final in cases:
        h = simulate(store, gen, random.Random(args.seed), n_ops=calls, procs=args.procs,
                     p_fail=0.02, p_info=0.02, final=final)
        t = time.perf_counter()
        res = fn(h)
        dt = time.perf_counter() - t
        print(f"{label:<24} {len(h):>8} {str(res.valid):>8} {dt:>8.2f}   {res.summary[:70]}")
        if label == "list-append":
            t = time.perf_counter()
            res = check_perf(h)
            print(f"{'perf':<24} {len(h):>8} {str(res.valid):>8} {time.perf_counter() - t:>8.2f}   {res.summary[:70]}")
            g = fn(h, realtime=False)
            print(f"{'list-append (no rt)':<24} {len(h):>8} {str(g.valid):>8} {g.seconds:>8.2f}   "
                  f"graph {g.stats['graph']['nodes']} nodes")


if __name__ == "__main__":
    main()
