"""Kernel-level network faults on a Linux node, as shell commands: the one chain scheme.

Shared by the docker backend (each command runs in a container's own network
namespace through ``docker exec``) and the ssh backend (each runs on a host
over SSH). Both hand the commands built here to their own "run this command on
node X" (:data:`RunOnNode`) and read what comes back with :func:`parse_probe`,
so a partition or a lossy link is the same rules on both.

Two iptables chains of splitbrain's own, so healing is a flush and nothing
else on the node is touched:

* ``SPLITBRAIN-IN``, hooked into INPUT: partitions. A grudge ``{dst: {src}}``
  becomes ``-s src -j DROP`` in dst's chain (Jepsen's model), after one ACCEPT
  for the port the control node reaches the node through, where it does (SSH),
  so the control node never cuts itself off.
* ``SPLITBRAIN-OUT``, hooked into OUTPUT: packet faults on the links leaving
  this node. Loss is the ``statistic`` match; delay is NFQUEUE to the on-node
  delay daemon (:mod:`splitbrain.backends.onnode.netdelay`), because kernels
  built without ``sch_netem`` (this CI's) still have NFQUEUE. Where the kernel
  has netem a backend may delay the whole device instead (:func:`netem_delay`).

Every change rebuilds a chain from the desired state, so re-applying after a
restart (a restarted container gets a fresh namespace) is the same code path.
Every argument is ``shlex.quote``-d, and every iptables call waits for the
xtables lock (``-w``): on a real host other programs hold it too.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

CHAIN_IN = "SPLITBRAIN-IN"
CHAIN_OUT = "SPLITBRAIN-OUT"
#: NFQUEUE numbers: QUEUE_BASE + the destination's index, one delay daemon per delayed link
QUEUE_BASE = 10
#: where the delay daemons keep their pid, stats and log files on the node
DAEMON_FILES = "/tmp/sb-netdelay"

#: a backend's seam: run ``command`` (a shell command line) on ``node`` as root, return its stdout
RunOnNode = Callable[[str, str], str]


@dataclass(frozen=True)
class LinkFault:
    """Loss and delay on the link from this node to ``dst`` (an address), through NFQUEUE ``queue``."""

    dst: str
    queue: int
    loss: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0


def q(*argv: object) -> str:
    """One command line from argv, every argument quoted."""
    return " ".join(shlex.quote(str(a)) for a in argv)


def _ipt(*argv: object) -> str:
    return q("iptables", "-w", *argv)


def ensure_chains() -> str:
    """Create both chains and hook them once into INPUT/OUTPUT (idempotent)."""
    parts = []
    for chain, hook in ((CHAIN_IN, "INPUT"), (CHAIN_OUT, "OUTPUT")):
        parts.append(f"({_ipt('-N', chain)} 2>/dev/null || true)")
        parts.append(f"({_ipt('-C', hook, '-j', chain)} 2>/dev/null || {_ipt('-I', hook, '-j', chain)})")
    return " && ".join(parts)


def partition(drop_from: Iterable[str], keep_port: int | None = None) -> str:
    """Replace this node's partition: drop every packet from the ``drop_from`` addresses.

    ``keep_port``: a TCP port that stays reachable from everywhere (the SSH port)."""
    cmds = [ensure_chains(), _ipt("-F", CHAIN_IN)]
    if keep_port is not None:
        cmds.append(_ipt("-A", CHAIN_IN, "-p", "tcp", "--dport", keep_port, "-j", "ACCEPT"))
    cmds += [_ipt("-A", CHAIN_IN, "-s", addr, "-j", "DROP") for addr in sorted(set(drop_from))]
    return " && ".join(cmds)


def stop_delay_daemons() -> str:
    """Stop every delay daemon this node runs (their pid files say which)."""
    return (f'for f in {DAEMON_FILES}-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; '
            'rm -f "$f"; done; true')


def packet(faults: Iterable[LinkFault], netdelay: str) -> str:
    """Rebuild this node's packet faults: stop old delay daemons, then add loss rules and start one
    daemon (with its NFQUEUE rule) per delayed link. ``netdelay`` is the daemon's path on the node.

    Never fails as a whole (a link whose rule could not be added is what :func:`parse_probe` shows
    missing, and the fault's verification says so)."""
    lines = [ensure_chains(), stop_delay_daemons(), _ipt("-F", CHAIN_OUT)]
    for f in faults:
        if f.loss > 0:
            lines.append(_ipt("-A", CHAIN_OUT, "-d", f.dst, "-m", "statistic", "--mode", "random",
                              "--probability", f"{min(1.0, f.loss):.6f}", "-j", "DROP"))
        if f.delay_ms > 0 or f.jitter_ms > 0:
            files = f"{DAEMON_FILES}-{f.queue}"
            daemon = q("python3", netdelay, "--queue", f.queue, "--delay-ms", f.delay_ms, "--jitter-ms", f.jitter_ms,
                       "--stats", f"{files}.json")
            lines.append(f"({daemon} >{shlex.quote(files + '.log')} 2>&1 & echo $! > {shlex.quote(files + '.pid')})")
            lines.append(_ipt("-A", CHAIN_OUT, "-d", f.dst, "-j", "NFQUEUE", "--queue-num", f.queue, "--queue-bypass"))
    return "; ".join(lines) + "; true"


def netem_available(dev: str) -> str:
    """Exit 0 iff the kernel can do netem here (tries, then removes, a netem qdisc)."""
    return f"{q('tc', 'qdisc', 'add', 'dev', dev, 'root', 'netem', 'delay', '1ms')} 2>/dev/null && " \
           f"{q('tc', 'qdisc', 'del', 'dev', dev, 'root')}"


def netem_delay(dev: str, delay_ms: float, jitter_ms: float) -> str:
    """Delay everything leaving ``dev`` (netem), or remove the delay when ``delay_ms`` is 0."""
    if delay_ms <= 0:
        return f"({q('tc', 'qdisc', 'del', 'dev', dev, 'root')} 2>/dev/null || true)"
    return q("tc", "qdisc", "replace", "dev", dev, "root", "netem", "delay", f"{delay_ms:.0f}ms", f"{jitter_ms:.0f}ms")


def heal() -> str:
    """Empty both chains and stop the delay daemons (the hooks stay, ready for the next fault)."""
    return " ; ".join([f"({_ipt('-F', chain)} 2>/dev/null || true)" for chain in (CHAIN_IN, CHAIN_OUT)]
                      + [stop_delay_daemons()])


def remove() -> str:
    """Heal, then unhook and delete both chains: the node as it was before the run."""
    parts = [heal()]
    for chain, hook in ((CHAIN_IN, "INPUT"), (CHAIN_OUT, "OUTPUT")):
        parts.append(f"({_ipt('-D', hook, '-j', chain)} 2>/dev/null || true)")
        parts.append(f"({_ipt('-X', chain)} 2>/dev/null || true)")
    return " ; ".join(parts)


#: separates the sections of :data:`PROBE`'s output (and of a backend's additions after it)
SECTION = "@@"
#: what is in effect on a node: both chains' rules, the packet counters, the live delay daemons
PROBE = (f"{_ipt('-S', CHAIN_IN)} 2>&1; echo {SECTION}; {_ipt('-S', CHAIN_OUT)} 2>&1; echo {SECTION}; "
         f"{_ipt('-L', CHAIN_OUT, '-v', '-n', '-x')} 2>&1; echo {SECTION}; "
         f'for p in {DAEMON_FILES}-*.pid; do [ -f "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null && echo "$p"; done; '
         "true")

_DROP = re.compile(rf"^-A {CHAIN_IN} -s (\S+?)(?:/32)? -j DROP")
_LOSS = re.compile(rf"^-A {CHAIN_OUT} -d (\S+?)(?:/32)? -m statistic --mode random --probability (\S+) -j DROP")
_QUEUE = re.compile(rf"^-A {CHAIN_OUT} -d (\S+?)(?:/32)? -j NFQUEUE --queue-num (\d+)")


@dataclass
class NetState:
    """The network faults measured on one node (what the kernel holds, not what was asked)."""

    drop_from: list[str] = field(default_factory=list)  # addresses whose packets this node drops
    loss_to: dict[str, float] = field(default_factory=dict)  # address -> drop probability
    delay_to: dict[str, int] = field(default_factory=dict)  # address -> NFQUEUE number
    daemons: int = 0  # delay daemons alive
    counters: str = ""  # the OUTPUT chain's packet counters, for the record
    chains_ok: bool = True  # both chains exist

    @property
    def degraded_to(self) -> list[str]:
        return sorted({*self.loss_to, *self.delay_to})


def parse_probe(out: str) -> tuple[NetState, list[str]]:
    """:data:`PROBE`'s output -> (the node's network state, the sections a backend printed after it)."""
    parts = out.split(f"{SECTION}\n")
    part, pkt, counters, daemons = (parts + [""] * 4)[:4]
    state = NetState(
        drop_from=[m.group(1) for ln in part.splitlines() if (m := _DROP.match(ln.strip()))],
        loss_to={m.group(1): float(m.group(2)) for ln in pkt.splitlines() if (m := _LOSS.match(ln.strip()))},
        delay_to={m.group(1): int(m.group(2)) for ln in pkt.splitlines() if (m := _QUEUE.match(ln.strip()))},
        daemons=len([x for x in daemons.split() if x.endswith(".pid")]),
        counters=counters.strip(),
        chains_ok=f"-N {CHAIN_IN}" in part and f"-N {CHAIN_OUT}" in pkt)  # -S lists a chain's -N first
    return state, parts[4:]
