"""Local backend figures: cluster start time and what a link proxy costs.

Prints:
* time for LocalBackend.setup of a 5-node raft cluster (every client port accepting)
* one-way JSON-line throughput through one link proxy, and direct
* round-trip latency p50/p99 of a small line, direct vs via a proxy in each direction

Run: python3 bench/local_backend.py
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splitbrain.backends.base import ClusterSpec
from splitbrain.backends.local.backend import LocalBackend
from splitbrain.backends.local.proxy import LinkProxy, ProxyThread
from splitbrain.registry import SYSTEMS


async def cluster_up(runs: int = 3) -> list[float]:
    out = []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as d:
            b = LocalBackend({})
            t0 = time.monotonic()
            await b.setup(ClusterSpec(system=SYSTEMS.get("raft"), nodes=[f"n{k}" for k in range(1, 6)],
                                      run_dir=d, run_id=f"bench{i}"))
            out.append(time.monotonic() - t0)
            await b.teardown()
    return out


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        writer.write(line)
        await writer.drain()


async def proxied(threads: ProxyThread, port: int) -> int:
    link = LinkProxy("a", "b", ("127.0.0.1", port), random.Random(0))
    return await threads.call(link.start())


async def throughput(port: int, n: int = 50_000) -> float:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    line = b'{"type":"append","term":3,"entries":[["k",1]],"commit":17}\n'
    t0 = time.monotonic()
    for i in range(n):
        w.write(line)
        if i % 256 == 0:
            await w.drain()
    w.write(b'{"done":1}\n')
    await w.drain()
    return t0


async def rtt(port: int, n: int = 2000) -> tuple[float, float]:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        w.write(b'{"ping":1}\n')
        await w.drain()
        await r.readline()
        samples.append((time.perf_counter() - t0) * 1e6)
    w.close()
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * len(samples))]


async def main() -> None:
    ups = await cluster_up()
    print(f"5-node raft cluster up (LocalBackend.setup): mean {statistics.mean(ups):.2f} s, max {max(ups):.2f} s")
    threads = ProxyThread()
    threads.start()
    echo_srv = await asyncio.start_server(echo, "127.0.0.1", 0)
    eport = echo_srv.sockets[0].getsockname()[1]
    # A round trip through the proxy: the request crosses link a->b, the answer comes back on it.
    pport = await proxied(threads, eport)
    d50, d99 = await rtt(eport)
    p50, p99 = await rtt(pport)
    print(f"round trip of one line: direct p50 {d50:.0f} us p99 {d99:.0f} us; "
          f"through a link proxy p50 {p50:.0f} us p99 {p99:.0f} us")
    for label, via_proxy in (("direct", False), ("through a link proxy", True)):
        counter = [0]
        done = asyncio.Event()

        async def counting(reader, writer, counter=counter, done=done):
            while line := await reader.readline():
                counter[0] += 1
                if line.startswith(b'{"done"'):
                    done.set()

        srv = await asyncio.start_server(counting, "127.0.0.1", 0)
        sport = srv.sockets[0].getsockname()[1]
        port = await proxied(threads, sport) if via_proxy else sport
        t0 = await throughput(port)
        await asyncio.wait_for(done.wait(), 120)
        secs = time.monotonic() - t0
        print(f"one-way JSON lines {label}: {counter[0] / secs:,.0f} lines/s")
        srv.close()
    threads.stop()


if __name__ == "__main__":
    asyncio.run(main())
