"""Maelstrom nodes: shim overhead, a correct lin-kv node's throughput, detection rate of the wrong test nodes.

usage: python bench/maelstrom.py [shim] [linkv] [detect] [--seeds 10] [--time-limit 8] [--go PATH]

* ``shim``: an echo node driven directly over its stdin/stdout pipes, then the same
  node behind the shim (through its client port, as the harness drives it): round-trip
  latency p50/p99 one request at a time (the difference is what the shim adds), and
  messages/s with 64 requests in flight (each echo is two messages through the shim).
* ``linkv``: ops/s of the correct lin-kv test nodes (Python and, with --go, Go) in
  an unthrottled run (``--rate 0``) of 3 nodes, no faults.
* ``detect``: every wrong test node over N seeds under partition,kill,pause; a run
  detects when it exits 1. The correct nodes run on the first few seeds (false alarms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import run  # noqa: E402

from splitbrain.systems.base import NodeConfig  # noqa: E402
from splitbrain.systems.maelstrom import protocol as p  # noqa: E402

PYNODE = ROOT / "tests" / "maelstrom_nodes" / "pynode.py"
WORKLOADS = ("lin-kv", "g-set", "broadcast", "g-counter", "txn-list-append", "unique-ids")


def _q(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def direct(binary: list[str], n: int, inflight: int) -> tuple[list[float], float]:
    proc = subprocess.Popen(binary, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdin and proc.stdout
    proc.stdin.write(json.dumps({"src": "c0", "dest": "n1", "body": {"type": "init", "msg_id": 0, "node_id": "n1",
                                                                      "node_ids": ["n1"]}}) + "\n")
    proc.stdout.readline()
    lat = []
    for i in range(n):
        t = time.perf_counter()
        proc.stdin.write(json.dumps({"src": "c1", "dest": "n1", "body": {"type": "echo", "echo": i, "msg_id": i + 1}})
                         + "\n")
        proc.stdout.readline()
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    sent = got = 0
    total = n * 4
    while got < total:
        while sent < total and sent - got < inflight:
            proc.stdin.write(json.dumps({"src": "c1", "dest": "n1", "body": {"type": "echo", "echo": sent,
                                                                              "msg_id": 10**6 + sent}}) + "\n")
            sent += 1
        proc.stdout.readline()
        got += 1
    rate = 2 * total / (time.perf_counter() - t)
    proc.kill()
    proc.wait()
    return lat, rate


async def through_shim(binary: list[str], n: int, inflight: int) -> tuple[list[float], float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = NodeConfig(name="n1", client_host="127.0.0.1", client_port=port, peer_host="127.0.0.1", peer_port=0,
                         peers={}, data_dir=tmp, options={"maelstrom": {"bin": binary[0], "args": binary[1:],
                                                                        "node_ids": ["n1"]}})
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        shim = subprocess.Popen([sys.executable, "-m", "splitbrain.systems.maelstrom", "--config", cfg.to_json()],
                                env=env, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=p.MAX_LINE)
                    break
                except OSError:
                    await asyncio.sleep(0.05)
            writer.write(p.line({"hello": "client", "id": "c1"}))
            await reader.readline()

            def req(i: int) -> bytes:
                return p.envelope(f"c1.{i}", 0, {"src": "c1", "dest": "n1", "body": {"type": "echo", "echo": i,
                                                                                       "msg_id": i}})
            lat = []
            for i in range(1, n + 1):
                t = time.perf_counter()
                writer.write(req(i))
                await reader.readline()
                lat.append(time.perf_counter() - t)
            total = n * 4
            t = time.perf_counter()
            sent = got = 0
            while got < total:
                while sent < total and sent - got < inflight:
                    writer.write(req(10**6 + sent))
                    sent += 1
                await reader.readline()
                got += 1
            rate = 2 * total / (time.perf_counter() - t)
            writer.close()
            return lat, rate
        finally:
            shim.kill()
            shim.wait()


def bench_shim(binaries: dict[str, list[str]], n: int) -> None:
    for name, binary in binaries.items():
        d_lat, d_rate = direct(binary, n, 64)
        s_lat, s_rate = asyncio.run(through_shim(binary, n, 64))
        ms = 1e3
        print(f"shim [{name} echo node, {n} sequential + {4 * n} pipelined echoes]")
        print(f"  direct:  p50 {_q(d_lat, .5) * ms:.3f} ms  p99 {_q(d_lat, .99) * ms:.3f} ms  {d_rate:,.0f} msgs/s")
        print(f"  shim:    p50 {_q(s_lat, .5) * ms:.3f} ms  p99 {_q(s_lat, .99) * ms:.3f} ms  {s_rate:,.0f} msgs/s")
        print(f"  added:   p50 {(_q(s_lat, .5) - _q(d_lat, .5)) * ms:+.3f} ms  "
              f"p99 {(_q(s_lat, .99) - _q(d_lat, .99)) * ms:+.3f} ms")


def bench_linkv(binaries: dict[str, list[str]], time_limit: float) -> None:
    for name, binary in binaries.items():
        out = run("maelstrom", workload="lin-kv", nemesis="none", seed=1, time_limit=time_limit,
                  store="store/bench-maelstrom",
                  extra=["--bin", binary[0], "--bin-arg=lin-kv", "--rate", "0", "--nodes", "3", "--concurrency", "12"])
        res = json.loads((Path(out["run_dir"]) / "results.json").read_text())
        perf = res["checkers"]["perf"]
        print(f"lin-kv [{name}, 3 nodes, 12 clients, no faults] valid={out.get('valid')}: "
              f"{perf['stats']['ok_throughput_ops_s']:.1f} ok ops/s; {perf['summary']}")


def bench_detect(binaries: dict[str, list[str]], seeds: int, correct_seeds: int, time_limit: float,
                 only: tuple[str, ...] = WORKLOADS) -> None:
    for name, binary in binaries.items():
        workloads = [w for w in (WORKLOADS if name == "python" else ("lin-kv", "broadcast"))
                     if w in only or f"{name}:{w}" in only]
        for w in workloads:
            for wrong in (True, False) if correct_seeds else (True,):
                codes, walls = [], []
                n = seeds if wrong else correct_seeds
                for seed in range(1, n + 1):
                    args = ["--bin", binary[0], f"--bin-arg={w}", "--nodes", "3", "--nemesis-interval", "2",
                            "--backend-opt", "start_timeout_s=60"]
                    if wrong:
                        args.append("--bin-arg=--wrong")
                    out = run("maelstrom", workload=w, nemesis="partition,kill,pause", seed=seed,
                              time_limit=time_limit, store="store/bench-maelstrom", extra=args)
                    codes.append(out["exit_code"])
                    walls.append(out["wall_s"])
                    if out["exit_code"] not in (0, 1):
                        print(f"  seed {seed}: exit {out['exit_code']} {out.get('stderr_tail')}", flush=True)
                hit = sum(c == 1 for c in codes)
                label = "wrong  " if wrong else "correct"
                what = "detected" if wrong else "false alarms"
                print(f"{name:<6} {w:<16} {label} {what} {hit}/{n}  exits {sorted(set(codes))}  "
                      f"{statistics.mean(walls):.1f} s/run", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="*", default=["shim", "linkv", "detect"])
    ap.add_argument("--seeds", type=int, default=10, help="seeds per wrong node")
    ap.add_argument("--correct-seeds", type=int, default=3, help="seeds per correct node (false alarms)")
    ap.add_argument("--time-limit", type=float, default=8.0)
    ap.add_argument("--n", type=int, default=2000, help="sequential echoes for the shim latency")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma list (detect); LANG:W for one language's node only")
    ap.add_argument("--go", default=None, help="path of the built Go test node (tests/maelstrom_nodes/gonode)")
    args = ap.parse_args()
    binaries: dict[str, list[str]] = {"python": [str(PYNODE)]}
    if args.go:
        binaries["go"] = [args.go]
    if "shim" in args.what:
        bench_shim({k: [*v, "echo"] for k, v in binaries.items()}, args.n)
    if "linkv" in args.what:
        bench_linkv(binaries, 10.0)
    if "detect" in args.what:
        bench_detect(binaries, args.seeds, args.correct_seeds, args.time_limit, tuple(args.workloads.split(",")))


if __name__ == "__main__":
    main()
