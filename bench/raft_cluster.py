"""Raft speed figures: time to a serving 5-node cluster, leader failover, ops/s.

usage: python bench/raft_cluster.py [--nodes 5] [--clients 10] [--seconds 5]

Starts real node processes on localhost (peers dial each other's peer ports directly),
prints: start-to-first-committed-write, time to serve again after SIGKILL of the leader,
and write/read throughput with concurrent clients (each client on its own connection to
a random node; followers proxy to the leader).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from splitbrain.systems.base import NodeConfig  # noqa: E402
from splitbrain.systems.wire import ClientConnection  # noqa: E402


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start(root: Path, n: int) -> tuple[dict[str, subprocess.Popen[bytes]], dict[str, int]]:
    names = [f"n{i + 1}" for i in range(n)]
    ports = free_ports(2 * n)
    cport = dict(zip(names, ports[:n], strict=True))
    pport = dict(zip(names, ports[n:], strict=True))
    procs = {}
    for name in names:
        cfg = NodeConfig(name=name, client_host="127.0.0.1", client_port=cport[name], peer_host="127.0.0.1",
                         peer_port=pport[name], peers={p: ("127.0.0.1", pport[p]) for p in names if p != name},
                         data_dir=str(root / name / "data"), log_file=str(root / f"{name}.log"))
        procs[name] = subprocess.Popen([sys.executable, "-m", "splitbrain.systems.raft", "--config", cfg.to_json()])
    return procs, cport


async def call(port: int, req: dict[str, Any], timeout_s: float = 2.0) -> dict[str, Any] | None:
    c = ClientConnection("127.0.0.1", port)
    try:
        return await c.request(req, timeout_s)
    except (OSError, TimeoutError, ConnectionError):
        return None
    finally:
        await c.close()


async def until_write(cport: dict[str, int], among: list[str]) -> tuple[float, str]:
    t0 = time.monotonic()
    while True:
        for n in among:
            r = await call(cport[n], {"op": "write", "key": "k", "value": 1}, 1.0)
            if r and r["ok"]:
                return time.monotonic() - t0, r.get("leader") or r["node"]
        await asyncio.sleep(0.01)


async def load(cport: dict[str, int], clients: int, seconds: float, op: str) -> float:
    done = 0
    stop = time.monotonic() + seconds

    async def worker(i: int) -> None:
        nonlocal done
        conn = ClientConnection("127.0.0.1", cport[random.choice(sorted(cport))])
        while time.monotonic() < stop:
            try:
                r = await conn.request({"op": op, "key": f"k{i}", "value": i}, 2.0)
            except (OSError, TimeoutError, ConnectionError):
                continue
            done += 1 if r["ok"] else 0
        await conn.close()

    await asyncio.gather(*(worker(i) for i in range(clients)))
    return done / seconds


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        procs, cport = start(Path(tmp), args.nodes)
        try:
            first, leader = await until_write(cport, sorted(cport))
            print(f"cluster of {args.nodes}: first committed write {first:.2f} s after start (leader {leader})")
            for op in ("write", "read"):
                rate = await load(cport, args.clients, args.seconds, op)
                print(f"{op:5}: {rate:7.0f} ops/s with {args.clients} clients")
            procs[leader].kill()
            procs[leader].wait()
            t, new = await until_write(cport, [n for n in cport if n != leader])
            print(f"SIGKILL of leader {leader}: serving again after {t:.2f} s (new leader {new})")
        finally:
            for p in procs.values():
                p.kill()
                p.wait()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=5.0)
    asyncio.run(main(ap.parse_args()))
