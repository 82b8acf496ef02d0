"""Packet delay without ``sch_netem``: an NFQUEUE daemon, standard library only.

Kernels built without netem (like the one this project's CI runs on) still have
netfilter's NFQUEUE target. iptables hands matching packets to a queue; this
daemon, talking NETLINK_NETFILTER over a raw ``AF_NETLINK`` socket, holds each
packet's verdict for ``delay ± jitter`` milliseconds and then accepts it. The
rules use ``--queue-bypass``, so when the daemon is not running (a node was
just restarted, the fault is being changed) packets flow undelayed instead of
being dropped, and the queue is configured fail-open for the same reason.

Runs inside the node's container (it needs the container's network namespace
and ``NET_ADMIN``): ``python3 netdelay.py --queue 7 --delay-ms 100``.
It writes ``{"queued": N, "released": N}`` to ``--stats`` once a second so the
harness can see it is working.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import select
import socket
import struct
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK, NFQA_CFG_FLAGS = 1, 2, 3, 4, 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_CFG_F_FAIL_OPEN = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NF_ACCEPT = 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
SOL_NETLINK, NETLINK_NO_ENOBUFS = 270, 5


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _message(msg_type: int, queue: int, attrs: bytes, seq: int, flags: int = NLM_F_REQUEST) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0) + body


def _attrs(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, pos)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[pos + 4:pos + length]
        pos += (length + 3) & ~3
    return out


def bind(queue: int, maxlen: int = 65536) -> socket.socket:
    """Open the netlink socket and bind ``queue``; OSError when the kernel refuses."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    try:
        sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
    except OSError:
        pass
    sock.bind((0, 0))
    config = [
        _attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, socket.AF_INET)),
        _attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)),
        _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", maxlen)),
        _attr(NFQA_CFG_MASK, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN))
        + _attr(NFQA_CFG_FLAGS, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN)),
    ]
    for seq, attr in enumerate(config, 1):
        sock.send(_message(NFQNL_MSG_CONFIG, queue, attr, seq, NLM_F_REQUEST | NLM_F_ACK))
        reply = sock.recv(65536)
        _, kind, _, _, _ = struct.unpack_from("=IHHII", reply)
        if kind == NLMSG_ERROR:
            (err,) = struct.unpack_from("=i", reply, 16)
            if err and seq != 4:  # flags are optional (very old kernels); the rest is not
                raise OSError(-err, f"nfqueue config step {seq}: {os.strerror(-err)}")
    return sock


def packet_ids(data: bytes) -> list[int]:
    """Packet ids of every NFQNL_MSG_PACKET in one netlink datagram."""
    ids: list[int] = []
    pos = 0
    while pos + 16 <= len(data):
        length, kind, _, _, _ = struct.unpack_from("=IHHII", data, pos)
        if length < 16:
            break
        if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            hdr = _attrs(data[pos + 20:pos + length]).get(NFQA_PACKET_HDR)
            if hdr is not None and len(hdr) >= 4:
                ids.append(struct.unpack_from("!I", hdr)[0])
        pos += (length + 3) & ~3
    return ids


def serve(queue: int, delay_ms: float, jitter_ms: float, stats_path: str | None, seed: int | None = None) -> None:
    sock = bind(queue)
    rng = random.Random(seed)
    held: list[tuple[float, int]] = []
    queued = released = 0
    next_stats = 0.0
    seq = 100
    while True:
        now = time.monotonic()
        timeout = max(0.0, min(held[0][0] - now, 0.5)) if held else 0.5
        ready, _, _ = select.select([sock], [], [], timeout)
        if ready:
            try:
                data = sock.recv(1 << 16)
            except OSError:
                data = b""
            for pid in packet_ids(data):
                wait = max(0.0, delay_ms + rng.uniform(-jitter_ms, jitter_ms)) / 1000.0
                heapq.heappush(held, (time.monotonic() + wait, pid))
                queued += 1
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, pid = heapq.heappop(held)
            seq += 1
            verdict = _attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid))
            try:
                sock.send(_message(NFQNL_MSG_VERDICT, queue, verdict, seq))
            except OSError:
                pass
            released += 1
        if stats_path and now >= next_stats:
            next_stats = now + 1.0
            tmp = stats_path + ".tmp"
            with open(tmp, "w") as fh:
                json.dump({"queued": queued, "released": released, "held": len(held), "delay_ms": delay_ms,
                           "jitter_ms": jitter_ms, "pid": os.getpid()}, fh)
            os.replace(tmp, stats_path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queue", type=int, default=7)
    p.add_argument("--delay-ms", type=float, required=True)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--stats", default=None)
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args()
    serve(a.queue, a.delay_ms, a.jitter_ms, a.stats, a.seed)


if __name__ == "__main__":
    main()
