"""Checker speed and memory: Porcupine's corpora, and generated histories up to millions of ops.

    python3 bench/checker.py [--per-file] [--repeat N]            # the corpora
    python3 bench/checker.py --generated [--sizes SHAPE=N,N ...] [--seeds K]

``--generated`` writes histories with :mod:`splitbrain.checkers.synth` (valid, and
with one impossible read for the invalid ones), then runs ``splitbrain check --json``
on each in a fresh process at default flags, and prints per shape and size: the
verdict (against the known one), wall seconds, CPU seconds (user+sys: on a loaded
shared machine wall time inflates, CPU much less) and the process's peak resident
memory as the kernel accounts it. Default shapes: unique-write register at 100k
and 1M ops, a single cas register with 5 reused values (5 clients, the etcd shape)
at 10k-100k, kv with 20 clients on 10 keys at 50k, set and counter at 100k, 1M, 5M.

Porcupine side by side is not automated (this project ships no copy of it): with
Go (Debian: ``apt-get install golang-go``) and a checkout of Porcupine you provide,
run its tests on the same files (its ``test_data`` holds these corpora; a generated
history is JSON Lines, convert it to its kv format) right after this script on the
same machine, and divide.

Prints seconds per etcd log (with --per-file) and in total, seconds for the kv
histories (c01, c10, c50, ok and bad), the verdict next to the expected one,
the CPU seconds too (a loaded machine inflates wall time: compare the load
average printed first), and the peak resident memory of each run (each measured in a forked child, so
one history's memo does not inflate the next one's figure). Reading the files
is timed separately from checking them. Porcupine v1.3.0 (Go) on these machines:
0.32-0.55 s for the whole etcd corpus, 0.08-0.10 s for c50-ok, 0.02 s for c50-bad.
No Go Porcupine runs here, so the ratios printed divide by those recorded medians
(``PORCUPINE``), for the check alone and for a whole ``splitbrain check`` process
(interpreter start, imports, reading and checking: what a CI loop pays per call).
Run it pinned (``taskset -c 1``) and say the load: CPU seconds are the figure that
survives a shared machine.
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


#: Porcupine v1.3.0's medians on these files (Go 1.19, 2 cores, this machine kind), from corpora/README.md
PORCUPINE = {"etcd": 0.32, "c50-ok": 0.10, "c50-bad": 0.02}


def cli_run(model: str, paths: list[Path], repeat: int) -> tuple[float, float]:
    """The fastest of ``repeat`` runs of one ``splitbrain check`` process: (CPU user+sys, wall) seconds."""
    import subprocess

    best_cpu = best_wall = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "splitbrain", "check", "--model", model, *map(str, paths)],
                       capture_output=True, check=False)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
    return best_cpu, best_wall


def measure(paths: list[Path], model: str, repeat: int) -> tuple[float, list[float], list[float], list[Any],
                                                                  float]:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child, [str(p) for p in paths], model, repeat))
    proc.start()
    out = parent.recv()
    proc.join()
    return out


#: shape -> sizes (ops) measured by --generated
DEFAULT_SIZES = {
    "register-unique": [100_000, 1_000_000],
    "register-reused": [10_000, 50_000, 100_000],
    "kv": [50_000],
    "set": [100_000, 1_000_000, 5_000_000],
    "counter": [100_000, 1_000_000, 5_000_000],
}
_PEAK = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
         "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); w = time.perf_counter() - t; "
         "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
         "print(r.returncode, w, u.ru_utime + u.ru_stime, u.ru_maxrss // 1024); print(r.stdout or r.stderr)")


def measure_generated(shape: str, n: int, invalid: bool, seed: int, tmp: Path) -> str:
    import json
    import subprocess

    from splitbrain.checkers.synth import SHAPES

    write, model = SHAPES[shape]
    path = tmp / f"{shape}-{n}-{'bad' if invalid else 'ok'}-{seed}.jsonl"
    t = time.perf_counter()
    write(path, n, invalid=invalid, seed=seed)
    gen_s = time.perf_counter() - t
    out = subprocess.run([sys.executable, "-c", _PEAK, sys.executable, "-m", "splitbrain", "check", "--model", model,
                          "--json", str(path)], capture_output=True, text=True, check=True).stdout.splitlines()
    code, wall, cpu, peak = out[0].split()
    try:
        obj = json.loads(out[1])
    except (ValueError, IndexError):
        obj = {"valid": None, "summary": " ".join(out[1:])[:200]}
    path.unlink()
    want = not invalid
    verdict = obj.get("valid")
    mark = "as expected" if verdict is want else ("UNKNOWN" if verdict == "unknown" else "WRONG")
    extra = f"  ({obj.get('summary', '')[:100]})" if verdict is not True else ""
    return (f"{shape:<16} {n:>9,} ops {'invalid' if invalid else 'valid':<7} -> {verdict!s:<7} {mark:<11} "
            f"wall {float(wall):7.2f} s  cpu {float(cpu):7.2f} s  peak RSS {int(peak):6d} MB  "
            f"(generated in {gen_s:.1f} s, exit {code}){extra}")


def generated(sizes: dict[str, list[int]], seeds: int) -> None:
    import platform
    import tempfile

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
          f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.1f} GB; python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as d:
        for shape, ns in sizes.items():
            for n in ns:
                for seed in range(seeds):
                    for invalid in (False, True):
                        print(measure_generated(shape, n, invalid, seed, Path(d)), flush=True)


def _sizes(specs: list[str]) -> dict[str, list[int]]:
    if not specs:
        return DEFAULT_SIZES
    out: dict[str, list[int]] = {}
    for spec in specs:
        shape, _, ns = spec.partition("=")
        if shape not in DEFAULT_SIZES or not ns:
            sys.exit(f"--sizes SHAPE=N,N with SHAPE one of {', '.join(DEFAULT_SIZES)}")
        out[shape] = [int(float(x)) for x in ns.split(",")]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-file", action="store_true", help="print every etcd log's time")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest is kept")
    ap.add_argument("--generated", action="store_true", help="generated histories instead of the corpora")
    ap.add_argument("--sizes", nargs="*", default=[], help="SHAPE=N,N,... (e.g. register-unique=1e6)")
    ap.add_argument("--seeds", type=int, default=1, help="generated histories per shape, size and verdict")
    args = ap.parse_args()
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if args.generated:
        generated(_sizes(args.sizes), args.seeds)
        return
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
    cli_cpu, cli_wall = cli_run("etcd", logs, args.repeat)
    print(f"  one `splitbrain check` process over all {len(logs)} logs (start, imports, read, check): "
          f"{cli_cpu:.3f} s CPU, {cli_wall:.3f} s wall; Porcupine (recorded, corpora/README.md): "
          f"{PORCUPINE['etcd']:.2f} s -> ratio {cli_cpu / PORCUPINE['etcd']:.2f} (CPU)")

    for name in ("c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad"):
        path = d / "kv" / f"{name}.txt"
        read_s, per, cpu, verdicts, peak = measure([path], "kv", args.repeat)
        ok = verdicts[0] is expected[f"kv/{name}.txt"]
        print(f"kv {name:<8} check {per[0]:.3f} s, {cpu[0]:.3f} s CPU (read {read_s:.3f} s)  valid={verdicts[0]!s:<5} "
              f"{'(as expected)' if ok else '(WRONG)'}  peak RSS {peak:.0f} MB")
        if name in PORCUPINE:
            cli_cpu, cli_wall = cli_run("kv", [path], args.repeat)
            print(f"  one `splitbrain check` process: {cli_cpu:.3f} s CPU, {cli_wall:.3f} s wall; Porcupine (recorded): "
                  f"{PORCUPINE[name]:.2f} s -> ratio {cli_cpu / PORCUPINE[name]:.2f} (CPU), check alone "
                  f"{cpu[0] / PORCUPINE[name]:.2f}")


if __name__ == "__main__":
    main()
