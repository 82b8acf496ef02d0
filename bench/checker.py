"""Linearizability checker speed and memory on Porcupine's corpora.

    python3 bench/checker.py [--per-file] [--repeat N]

Prints seconds per etcd log (with --per-file) and in total, seconds for the kv
histories (c01, c10, c50, ok and bad), the verdict next to the expected one,
the CPU seconds too (a loaded machine inflates wall time: compare the load
average printed first), and the peak resident memory of each run (each measured in a forked child, so
one history's memo does not inflate the next one's figure). Reading the files
is timed separately from checking them. Porcupine v1.3.0 (Go) on these machines:
0.32-0.55 s for the whole etcd corpus, 0.08-0.10 s for c50-ok, 0.02 s for c50-bad.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from splitbrain.checkers.linearizable import check_history  # noqa: E402
from splitbrain.formats import read_history  # noqa: E402


def data_dir() -> Path:
    """The corpora shipped in the repository (corpora/README.md says where they come from)."""
    return REPO / "corpora"


def _child(conn: Any, paths: list[str], model: str, repeat: int) -> None:
    t = time.perf_counter()
    histories = [read_history(p) for p in paths]
    read_s = time.perf_counter() - t
    best: list[float] = []
    best_cpu: list[float] = []
    verdicts: list[Any] = []
    for _ in range(repeat):
        per, cpu, verdicts = [], [], []
        for h in histories:
            t, c = time.perf_counter(), time.process_time()
            verdicts.append(check_history(h, model, timeout_s=300).valid)
            per.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        best = per if not best or sum(per) < sum(best) else best
        best_cpu = cpu if not best_cpu or sum(cpu) < sum(best_cpu) else best_cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send((read_s, best, best_cpu, verdicts, peak_mb))
    conn.close()


def measure(paths: list[Path], model: str, repeat: int) -> tuple[float, list[float], list[float], list[Any],
                                                                  float]:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child, [str(p) for p in paths], model, repeat))
    proc.start()
    out = parent.recv()
    proc.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-file", action="store_true", help="print every etcd log's time")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest is kept")
    args = ap.parse_args()
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    d = data_dir() / "porcupine"
    with open(d / "expected.tsv", newline="") as fh:
        expected = {r["file"]: r["expected"] == "linearizable" for r in csv.DictReader(fh, delimiter="\t")
                    if not r["expected"].startswith("n/a")}

    logs = sorted(p for p in (d / "jepsen").glob("etcd_*.log") if p.stat().st_size)
    read_s, per, cpu, verdicts, peak = measure(logs, "etcd", args.repeat)
    wrong = [p.name for p, v in zip(logs, verdicts, strict=True) if v is not expected[f"jepsen/{p.name}"]]
    if args.per_file:
        for p, s, v in zip(logs, per, verdicts, strict=True):
            print(f"  {p.name:<14} {s:8.4f} s  valid={v}")
    slowest = sorted(zip(per, (p.name for p in logs), strict=True), reverse=True)[:3]
    print(f"etcd corpus: {len(logs)} logs, check {sum(per):.3f} s total, {sum(cpu):.3f} s CPU "
          f"(read {read_s:.3f} s), "
          f"peak RSS {peak:.0f} MB, wrong verdicts: {len(wrong)} {wrong or ''}")
    print("  slowest: " + ", ".join(f"{n} {s:.3f} s" for s, n in slowest))
    print("  goal: <= 2.75 s (5x Porcupine's 0.55 s)")

    for name in ("c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad"):
        path = d / "kv" / f"{name}.txt"
        read_s, per, cpu, verdicts, peak = measure([path], "kv", args.repeat)
        ok = verdicts[0] is expected[f"kv/{name}.txt"]
        print(f"kv {name:<8} check {per[0]:.3f} s, {cpu[0]:.3f} s CPU (read {read_s:.3f} s)  valid={verdicts[0]!s:<5} "
              f"{'(as expected)' if ok else '(WRONG)'}  peak RSS {peak:.0f} MB")
    print("  goal: c50-ok <= 0.4 s; c50-bad fast (first illegal partition ends the search)")


if __name__ == "__main__":
    main()
