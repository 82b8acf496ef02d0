"""Kernel-level network faults inside a container's namespace, as shell scripts.

Each node container gets two iptables chains of its own: ``SB-PART`` hooked
into INPUT (partitions: a grudge ``{dst: {src}}`` becomes ``-s src -j DROP`` in
dst's chain, exactly Jepsen's model) and ``SB-PKT`` hooked into OUTPUT (packet
faults on the links leaving this node: loss via the ``statistic`` match, delay
via NFQUEUE to :mod:`splitbrain.backends.onnode.netdelay`, since this kernel has no
``sch_netem``). Every fault change is one ``sh -c`` exec per container, which
rebuilds the chain from the desired state, so re-applying after a restart
(Docker gives a restarted container a fresh namespace) is the same code path.

Pure functions only: the backend runs the scripts and parses the measurements.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

NETDELAY = "/opt/splitbrain/netdelay.py"
QUEUE_BASE = 10


@dataclass(frozen=True)
class LinkFault:
    dst_ip: str
    queue: int
    loss: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0


def prepare_script() -> str:
    """Create and hook the two chains (idempotent)."""
    return ("iptables -N SB-PART 2>/dev/null; iptables -C INPUT -j SB-PART 2>/dev/null || iptables -I INPUT -j SB-PART;"
            " iptables -N SB-PKT 2>/dev/null; iptables -C OUTPUT -j SB-PKT 2>/dev/null || iptables -I OUTPUT -j SB-PKT;"
            " true")


def partition_script(drop_from: list[str]) -> str:
    lines = ["set -e", "iptables -F SB-PART"]
    lines += [f"iptables -A SB-PART -s {shlex.quote(ip)}/32 -j DROP" for ip in sorted(drop_from)]
    return "; ".join(lines)


def packet_script(faults: list[LinkFault], netdelay: str = NETDELAY) -> str:
    """Rebuild SB-PKT and the delay daemons: stop old daemons, then start one per delayed link.

    ``netdelay`` is where the delay daemon lives on the host (the ssh backend uploads it).
    """
    lines = ["for f in /tmp/sb-netdelay-*.pid; do [ -f \"$f\" ] && kill $(cat \"$f\") 2>/dev/null; rm -f \"$f\"; done",
             "iptables -F SB-PKT"]
    for f in faults:
        if f.loss > 0:
            lines.append(f"iptables -A SB-PKT -d {f.dst_ip}/32 -m statistic --mode random "
                         f"--probability {min(1.0, f.loss):.6f} -j DROP")
        if f.delay_ms > 0 or f.jitter_ms > 0:
            q = f.queue
            lines.append(f"(echo $$ >/dev/null; python3 {shlex.quote(netdelay)} --queue {q} --delay-ms {f.delay_ms} "
                         f"--jitter-ms {f.jitter_ms} --stats /tmp/sb-netdelay-{q}.json >/tmp/sb-netdelay-{q}.log 2>&1 "
                         f"& echo $! > /tmp/sb-netdelay-{q}.pid)")
            lines.append(f"iptables -A SB-PKT -d {f.dst_ip}/32 -j NFQUEUE --queue-num {q} --queue-bypass")
    return "; ".join(lines) + "; true"


def clock_script(text: str) -> str:
    return f"printf %s {shlex.quote(text)} > /data/faketime.tmp && mv /data/faketime.tmp /data/faketime"


VERIFY_SCRIPT = ("iptables -S SB-PART 2>&1; echo '@@'; iptables -S SB-PKT 2>&1; echo '@@'; "
                 "iptables -L SB-PKT -v -n -x 2>&1; echo '@@'; LD_PRELOAD=/opt/splitbrain/lib/libfaketime.so.1 python3 -c 'import time; print(repr(time.time()))'; "
                 "echo '@@'; cat /data/faketime 2>/dev/null; echo '@@'; "
                 "for p in /tmp/sb-netdelay-*.pid; do [ -f \"$p\" ] && kill -0 $(cat \"$p\") 2>/dev/null && echo \"$p\"; "
                 "done; true")

_DROP = re.compile(r"^-A SB-PART -s (\S+?)(?:/32)? -j DROP")
LOSS_RULE = re.compile(r"^-A SB-PKT -d (\S+?)(?:/32)? -m statistic --mode random --probability (\S+) -j DROP")
QUEUE_RULE = re.compile(r"^-A SB-PKT -d (\S+?)(?:/32)? -j NFQUEUE --queue-num (\d+)")


def parse_verify(out: str) -> dict[str, object]:
    """Measured state of one container: blocked sources, lossy/delayed destinations, wall clock."""
    parts = (out.split("@@\n") + [""] * 6)[:6]
    part, pkt, counters, now, faketime, daemons = parts
    dropped = [m.group(1) for line in part.splitlines() if (m := _DROP.match(line.strip()))]
    loss = {m.group(1): float(m.group(2)) for line in pkt.splitlines() if (m := LOSS_RULE.match(line.strip()))}
    queued = {m.group(1): int(m.group(2)) for line in pkt.splitlines() if (m := QUEUE_RULE.match(line.strip()))}
    try:
        wall = float(now.strip().splitlines()[-1])
    except (ValueError, IndexError):
        wall = None
    return {"drop_from": dropped, "loss_to": loss, "delay_to": queued, "wall": wall,
            "faketime": faketime.strip(), "daemons": len([x for x in daemons.split() if x.endswith(".pid")]),
            "counters": counters.strip(), "chains_ok": "No chain" not in part and "No chain" not in pkt}
