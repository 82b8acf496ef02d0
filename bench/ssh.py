"""SSH backend figures against lab hosts (sshd in containers): per-command latency, cluster start
time, and ops/s of the same run on the ssh, docker and local backends.

usage: python bench/ssh.py [--nodes 3] [--time-limit 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _runs import run  # noqa: E402


async def _start_time(lab: dict, nodes: int) -> float:
    from splitbrain.backends.base import ClusterSpec
    from splitbrain.backends.ssh.backend import SshBackend
    from splitbrain.registry import SYSTEMS

    b = SshBackend({"nodes_file": lab["nodes_file"], "ssh_key": lab["ssh_key"], "known_hosts": lab["known_hosts"]})
    spec = ClusterSpec(SYSTEMS.get("raft"), [f"n{i}" for i in range(1, nodes + 1)], tempfile.mkdtemp(), "bench")
    t = time.monotonic()
    try:
        await b.setup(spec)
        return time.monotonic() - t
    finally:
        await b.teardown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=10)
    args = ap.parse_args()
    from splitbrain.backends.docker.lab import lab_down, lab_up
    from splitbrain.backends.ssh.connection import Connection
    from splitbrain.backends.ssh.hosts import load_nodes_file

    d = tempfile.mkdtemp()
    lab = lab_up(args.nodes, d)
    try:
        conn = Connection(load_nodes_file(lab["nodes_file"])[0], "root", lab["ssh_key"], lab["known_hosts"], False)
        t = time.monotonic()
        conn.connect()
        connect_s = time.monotonic() - t
        lat = []
        for _ in range(100):
            t = time.monotonic()
            conn.run("true")
            lat.append((time.monotonic() - t) * 1000)
        conn.close()
        lat.sort()
        print(f"ssh connect: {connect_s * 1000:.0f} ms; per-command latency over 100 commands: "
              f"p50 {statistics.median(lat):.1f} ms, p99 {lat[98]:.1f} ms")
        print(f"{args.nodes}-node raft cluster over ssh up (upload + start + serving): "
              f"{asyncio.run(_start_time(lab, args.nodes)):.2f} s")
        extra = ["--rate", "1000", "--concurrency", "10", "--nodes", str(args.nodes)]
        ssh_extra = extra + ["--nodes-file", lab["nodes_file"], "--ssh-key", lab["ssh_key"],
                             "--known-hosts", lab["known_hosts"]]
        for backend, more in (("local", extra), ("docker", extra), ("ssh", ssh_extra)):
            r = run("raft", workload="register", nemesis="none", seed=1, time_limit=args.time_limit,
                    backend=backend, extra=more)
            ops = r.get("ops", 0)
            print(f"raft register, no faults, {backend:6}: {ops / args.time_limit:7.0f} ops/s "
                  f"(exit {r['exit_code']}, {r['wall_s']:.1f} s wall)")
    finally:
        lab_down(d, quiet=True)


if __name__ == "__main__":
    main()
