"""Messages/s one local link proxy forwards, with and without recording them (messages.jsonl).

usage: python bench/message_tap.py [--messages 200000] [--rounds 3] [--bytes 120]

One real :class:`LinkProxy` on its own proxy thread, as the local backend runs it; a
sender writes raft-like JSON lines (``{"type":"append","term":..,"seq":..}`` padded to
``--bytes``) as fast as the proxy takes them, a sink counts them. Each round measures
both modes back to back (recording off, then on with a :class:`LinkTap` large enough
to keep every record), and the best round of each is printed with the ratio, plus the
tap's own cost per message (a tight loop of ``record``), and the time ``LinkTap.write`` takes to turn the records into ``messages.jsonl``. A run's
nodes send far fewer (a 5-node raft under load: a few hundred to a few thousand/s),
so the figure is headroom. Uses the loopback interface only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splitbrain.backends.local.proxy import LinkProxy, ProxyThread  # noqa: E402
from splitbrain.messages import LinkTap  # noqa: E402


async def one_round(n: int, size: int, record: bool) -> tuple[float, LinkTap | None]:
    done = asyncio.Event()
    count = 0

    sinks: list[asyncio.StreamWriter] = []

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        sinks.append(writer)
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            count += data.count(b"\n")
            if count >= n:
                done.set()

    srv = await asyncio.start_server(sink, "127.0.0.1", 0)
    threads = ProxyThread()
    threads.start()
    tap = LinkTap(time.monotonic_ns(), max_records=n) if record else None
    try:
        link = LinkProxy("n1", "n2", ("127.0.0.1", srv.sockets[0].getsockname()[1]), random.Random(1))
        link.tap = tap
        port = await threads.call(link.start())
        _, w = await asyncio.open_connection("127.0.0.1", port)
        lines = []
        for i in range(256):
            head = f'{{"type":"append","term":4,"seq":{i},"prev_idx":{i},"entries":['
            lines.append((head + "0," * max(0, (size - len(head) - 3) // 2) + '0]}\n').encode())
        batch = b"".join(lines)
        start = time.perf_counter()
        sent = 0
        while sent < n:
            w.write(batch)
            sent += len(lines)
            await w.drain()
        await asyncio.wait_for(done.wait(), 120)
        elapsed = time.perf_counter() - start
        w.close()
        await threads.call(link.stop())
        for sw in sinks:
            sw.close()
        await asyncio.sleep(0.1)  # the sinks see EOF and end before the loop closes
    finally:
        threads.stop()
        srv.close()
    return n / elapsed, tap


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bytes", type=int, default=120)
    args = ap.parse_args()
    off, on = [], []
    tap = None
    for r in range(args.rounds):  # alternate which mode goes first, so neither always runs warm
        for record in (False, True) if r % 2 == 0 else (True, False):
            rate, got = asyncio.run(one_round(args.messages, args.bytes, record))
            (on if record else off).append(rate)
            tap = got or tap
    assert tap is not None
    probe = LinkTap(0, max_records=args.messages)
    line = b'{"type":"append","term":4,"seq":1,' + b"0," * 40 + b"}\n"
    t = time.perf_counter()
    for _ in range(args.messages):
        probe.record("n1", "n2", time.monotonic_ns(), time.monotonic_ns(), line, None)
    per_record_us = (time.perf_counter() - t) / args.messages * 1e6
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        summary = tap.write(Path(d) / "messages.jsonl")
        write_s = time.perf_counter() - t
        size = os.path.getsize(Path(d) / "messages.jsonl")
    print(f"loadavg {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.messages:,} messages of ~{args.bytes} B, "
          f"best of {args.rounds} rounds")
    print(f"recording off: {max(off):>10,.0f} msgs/s   (rounds: {', '.join(f'{r:,.0f}' for r in off)})")
    print(f"recording on:  {max(on):>10,.0f} msgs/s   (rounds: {', '.join(f'{r:,.0f}' for r in on)})")
    print(f"on/off: {max(on) / max(off):.2f}; the tap's own cost: {per_record_us:.2f} us per message "
          f"(vs {1e6 / max(off):.1f} us per message through the proxy)")
    print(f"writing messages.jsonl: {summary['recorded']:,} records in {write_s:.2f} s, {size / 1e6:.1f} MB "
          f"({size / max(1, summary['recorded']):.0f} B/record)")


if __name__ == "__main__":
    main()
