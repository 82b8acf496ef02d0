"""Membership changes under test: seeded-bug detection over seeds, and what a change costs.

usage: python bench/membership.py [--seeds 20] [--first-seed 1] [--time-limit 30] [--parallel 2]
                                  [--plans ring-bug,ring,raft-bug,raft,ring-kill,raft-kill,etcd,etcd-kill]
                                  [--store store/bench-membership]

Every plan is ``splitbrain run SYSTEM --nemesis membership,partition`` (``-kill`` plans add
``kill``) at the defaults, one run per seed, the same seeds for every plan. It prints per plan
how many runs gave the expected verdict (a seeded bug caught: invalid; a correct system: valid,
exit 0) and the exit codes, then figures from the correct runs: seconds per membership change
(removals and re-additions the cluster applied, from the history's nemesis ops), records handed
over per ring change (the nodes' ``handover`` log lines), the log a wiped Raft newcomer catches
up (the configuration index when it is re-added), and client ok ops/s while a membership window
is open (and no other fault) against fault-free stretches. The machine's load average is
printed: it is shared, and every figure here is a loaded machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _runs import Plan, run  # noqa: E402

_MP, _MPK = "membership,partition", "membership,partition,kill"
PLANS = {
    "ring-bug": Plan("ring", "sets", "no-handover", _MP),
    "ring": Plan("ring", "sets", None, _MP),
    "raft-bug": Plan("raft", "register", "unsafe-membership", _MP),
    "raft": Plan("raft", "register", None, _MP),
    "ring-kill": Plan("ring", "sets", None, _MPK),
    "raft-kill": Plan("raft", "register", None, _MPK),
    "etcd": Plan("etcd", "register", None, _MP),
    "etcd-kill": Plan("etcd", "register", None, _MPK),
}
_HANDOVER = re.compile(r"handover for epoch (\d+): (\d+) records")


def _history(run_dir: str) -> list[dict[str, Any]]:
    ops = []
    with open(os.path.join(run_dir, "history.jsonl")) as fh:
        for line in fh:
            try:
                ops.append(json.loads(line))
            except ValueError:
                break
    return ops


def figures(run_dir: str) -> dict[str, Any]:
    """Per-run: seconds per applied change, records moved per ring change, newcomer catch-up, ops/s."""
    ops = _history(run_dir)
    out: dict[str, Any] = {"change_s": [], "moved": [], "catchup": [], "member_ok": 0, "member_s": 0.0,
                           "steady_ok": 0, "steady_s": 0.0, "removed": 0, "asked": 0, "skipped": 0}
    windows: dict[str, list[list[float]]] = {}
    open_: dict[str, float] = {}
    end = max((op["time"] for op in ops), default=0) / 1e9
    # the main phase ends at the time limit: after it come the final heal and reads, at a trickle,
    # which counted against a membership window still open then (a third of the "during" seconds)
    test = Path(run_dir) / "test.json"
    limit = json.loads(test.read_text()).get("time_limit_s") if test.exists() else None
    first = min((op["time"] for op in ops if op.get("process") != "nemesis"), default=0) / 1e9
    if isinstance(limit, int | float):
        end = min(end, first + float(limit))
    for op in ops:
        if op.get("process") != "nemesis":
            continue
        f, v, t = str(op["f"]), op.get("value") or {}, op["time"] / 1e9
        if f.startswith("start-"):
            open_[f[6:]] = t
        elif f.startswith("stop-") and f[5:] in open_:
            windows.setdefault(f[5:], []).append([open_.pop(f[5:]), t])
        if f == "start-membership":
            changes = v.get("changes") or {}
            out["asked"] += len(changes)
            out["removed"] += len(v.get("removed") or [])
            if changes and all(c.get("outcome") == "applied" for c in changes.values()):
                out["change_s"].append(float(v.get("took_s", 0)) / len(changes))
        if f == "stop-membership":
            added = v.get("added") or {}
            ok = [a for a in added.values() if a.get("member") and len(a.get("tries") or []) == 1
                  and a["tries"][0].get("outcome") == "applied"]
            if ok and len(ok) == len(added):
                out["change_s"].append(float(v.get("took_s", 0)) / len(added))
            if v.get("rejoin") == "wiped":
                out["catchup"] += [int((a.get("view") or {}).get("version", 0)) for a in added.values()
                                   if a.get("member")]
    for k, t in open_.items():
        windows.setdefault(k, []).append([t, end])
    member = windows.get("membership", [])
    others = [w for k, ws in windows.items() if k != "membership" for w in ws]

    def inside(t: float, ws: list[list[float]]) -> bool:
        return any(a <= t <= b for a, b in ws)

    starts = [op["time"] / 1e9 for op in ops if op.get("process") != "nemesis" and op["type"] == "invoke"]
    t0 = min(starts, default=0.0)
    step = 0.1
    t = t0
    while t < end:  # time in each class, in 0.1 s slices
        if inside(t, member) and not inside(t, others):
            out["member_s"] += step
        elif not inside(t, member) and not inside(t, others):
            out["steady_s"] += step
        t += step
    for op in ops:
        if op.get("process") == "nemesis" or op["type"] != "ok":
            continue
        t = op["time"] / 1e9
        if inside(t, member) and not inside(t, others):
            out["member_ok"] += 1
        elif not inside(t, member) and not inside(t, others):
            out["steady_ok"] += 1
    by_epoch: dict[str, int] = {}
    nodes = Path(run_dir) / "nodes"
    if nodes.is_dir():
        for log in nodes.glob("*/node.log"):
            for m in _HANDOVER.finditer(log.read_text(errors="replace")):
                by_epoch[m.group(1)] = by_epoch.get(m.group(1), 0) + int(m.group(2))
    out["moved"] = list(by_epoch.values())
    sched = Path(run_dir) / "schedule.json"
    if sched.exists():
        data = json.loads(sched.read_text())
        kinds = {op["window"]: op["fault"] for op in data.get("ops", [])}
        out["skipped"] = sum(kinds.get(w) == "membership" for w in data.get("skipped") or [])
    return out


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def median(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f}" if xs else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--plans", default=",".join(PLANS))
    ap.add_argument("--store", default="store/bench-membership")
    args = ap.parse_args()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    for name in args.plans.split(","):
        plan = PLANS[name]
        load0 = _load()

        def one(seed: int, plan: Plan = plan) -> dict[str, Any]:
            return run(plan.system, workload=plan.workload, nemesis=plan.nemesis, seed=seed,
                       time_limit=args.time_limit, bug=plan.bug, store=args.store)

        with ThreadPoolExecutor(max(1, args.parallel)) as pool:
            results = list(pool.map(one, seeds))
        load1 = _load()
        good = [r for r in results if (r.get("valid") is False) == (plan.expect == "invalid")
                and (plan.expect == "invalid" or r.get("exit_code") == 0)]
        codes: dict[int, int] = {}
        for r in results:
            codes[r["exit_code"]] = codes.get(r["exit_code"], 0) + 1
        missed = [s for s, r in zip(seeds, results, strict=True) if r not in good]
        print(f"{name:10s} {plan.system} {plan.workload} bug={plan.bug or '-'} --nemesis {plan.nemesis}: "
              f"{len(good)}/{len(results)} {plan.expect} ({100 * len(good) / max(1, len(results)):.0f}%), "
              f"exit codes {dict(sorted(codes.items()))}, seeds {seeds[0]}-{seeds[-1]}"
              f"{', not as expected: ' + ','.join(map(str, missed)) if missed else ''}; "
              f"load {load0:.1f}->{load1:.1f} (2 cores), mean wall {statistics.mean(r['wall_s'] for r in results):.0f} s")
        if plan.bug:
            continue
        figs = [figures(r["run_dir"]) for r in results if r.get("run_dir")]
        change = [x for f in figs for x in f["change_s"]]
        moved = [x for f in figs for x in f["moved"]]
        catchup = [x for f in figs for x in f["catchup"]]
        m_ok, m_s = sum(f["member_ok"] for f in figs), sum(f["member_s"] for f in figs)
        s_ok, s_s = sum(f["steady_ok"] for f in figs), sum(f["steady_s"] for f in figs)
        print(f"           removals: {sum(f['removed'] for f in figs)} removed of {sum(f['asked'] for f in figs)} "
              f"asked; {sum(f['skipped'] for f in figs)} membership windows skipped")
        print(f"           per change: median {median(change)} s, p90 "
              f"{sorted(change)[round(0.9 * (len(change) - 1))]:.2f} s over {len(change)} applied changes"
              if change else "           per change: no change applied")
        if moved:
            print(f"           ring handover: median {median([float(x) for x in moved])} records moved per change "
                  f"(max {max(moved)}, {len(moved)} changes)")
        if catchup and plan.system == "raft":  # ring's version is its epoch, not a log
            print(f"           wiped newcomer catch-up: median {median([float(x) for x in catchup])} log entries")
        print(f"           ok ops/s: {m_ok / m_s if m_s else 0:.1f} during membership windows ({m_s:.0f} s) vs "
              f"{s_ok / s_s if s_s else 0:.1f} fault-free ({s_s:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
