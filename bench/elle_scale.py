"""Speed and memory of the transactional (Elle) checker on big histories.

Cases, each checked in a fresh child process so its peak RSS is its own:

* ``huge-scc``: Elle's ``histories/huge-scc.edn`` style: a sloppy store (25
  concurrent clients, Elle's list-append generator: 1-4 micro-ops over 10 keys
  drawn exponentially, 32 appends per key before it rotates) whose reads are
  sometimes served from a snapshot a few transactions old, so under strict
  serializability the whole history (10,000 transactions) falls into one
  strongly connected component;
* ``100k-valid``: 100,000 transactions from a correct (strictly serializable)
  store: every class searched, nothing found, verdict valid;
* ``100k-sloppy``: the same size from the sloppy store.

Prints one line per case: transactions, verdict, anomaly types, largest SCC,
seconds, peak RSS (MB) and its growth over the process before checking.

    python3 bench/elle_scale.py [--cases huge-scc,100k-valid,100k-sloppy] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splitbrain.checkers.list_append import check_list_append  # noqa: E402
from splitbrain.history import History, Op  # noqa: E402

DEPTH = 200  # how many txns old a stale snapshot may be
CASES = {"huge-scc": (10_000, 0.5), "100k-valid": (100_000, 0.0), "100k-sloppy": (100_000, 0.02)}


def _txn_stream(rng: random.Random, key_count: int = 10, max_writes: int = 32):
    """Elle's generator: exponential key choice, fresh keys once one has taken ``max_writes`` appends."""
    active = list(range(key_count))
    writes = {k: 0 for k in active}
    nxt = key_count
    while True:
        mops = []
        for _ in range(rng.randint(1, 4)):
            k = active[min(key_count - 1, int(-math.log2(1 - rng.random())))]
            if rng.random() < 0.5:
                mops.append(["r", k, None])
                continue
            writes[k] += 1
            mops.append(["append", k, writes[k]])
            if writes[k] >= max_writes:
                i = active.index(k)
                active[i] = nxt
                writes[nxt] = 0
                nxt += 1
        yield mops


def make_history(n: int, stale: float, seed: int, procs: int = 25) -> History:
    """Clients invoke, the store applies each txn atomically at a random moment while it is open;
    with probability ``stale`` a txn reads the keys it does not write from a snapshot up to 5
    txns old (write skew and stale reads, as a lagging replica serves them)."""
    rng = random.Random(seed)
    gen = _txn_stream(rng)
    state: dict[Any, tuple[Any, ...]] = {}
    snapshots: list[dict[Any, tuple[Any, ...]]] = [{}]
    ops: list[Op] = []
    open_: dict[int, list[Any]] = {}
    started = 0

    def emit(p: int, typ: str, value: Any) -> None:
        ops.append(Op(index=len(ops), process=p, type=typ, f="txn", value=value, time=len(ops)))

    while started < n or open_:
        idle = [p for p in range(procs) if p not in open_]
        if started < n and idle and (not open_ or rng.random() < 0.5):
            p = rng.choice(idle)
            open_[p] = next(gen)
            emit(p, "invoke", open_[p])
            started += 1
            continue
        p = rng.choice(list(open_))
        mops = open_.pop(p)
        view = snapshots[-rng.randint(1, len(snapshots))] if rng.random() < stale else state
        written = {k for f, k, _ in mops if f == "append"}
        out = []
        for f, k, v in mops:
            if f == "append":
                state[k] = (*state.get(k, ()), v)
                out.append([f, k, v])
            else:  # keys it writes are read current (no torn lists); the others maybe stale
                out.append([f, k, list((state if k in written else view).get(k, ())) or None])
        snapshots.append(dict(state))
        if len(snapshots) > DEPTH:
            snapshots.pop(0)
        emit(p, "ok", out)
    return History(ops)


def one(case: str, seed: int) -> dict[str, Any]:
    n, stale = CASES[case]
    h = make_history(n, stale, seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    res = check_list_append(h, timeout_s=600)
    secs = time.monotonic() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    g = res.stats.get("graph", {})
    return {"case": case, "txns": res.stats.get("txns"), "valid": res.valid, "types": res.details.get("anomaly-types"),
            "largest_scc": g.get("largest_component"), "seconds": round(secs, 2),
            "peak_rss_mb": round(peak / 1024, 1), "growth_mb": round((peak - before) / 1024, 1),
            "timeouts": len(g.get("timeouts", []))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.seed)))
        return
    for case in a.cases.split(","):
        out = subprocess.run([sys.executable, __file__, "--one", case, "--seed", str(a.seed)],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"{case}: failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout)
        print(f"{r['case']:<12} {r['txns']:>7} txns  valid={r['valid']!s:<7} largest SCC {r['largest_scc']:>6}  "
              f"{r['seconds']:>7.2f} s  peak RSS {r['peak_rss_mb']:>7.1f} MB (+{r['growth_mb']} MB checking)  "
              f"class timeouts: {r['timeouts']}  types: {', '.join(r['types'] or [])}")


if __name__ == "__main__":
    main()
