"""Shell commands that inject faults on a Linux host: the kernel-level fault vocabulary.

Shared by every backend whose nodes are real (or container) hosts reached by
running commands on them. Every function returns one shell command string
built from ``shlex.quote``-d parts, so node names, paths and values can never
inject shell syntax. Rules live in splitbrain's own iptables chains
(``SPLITBRAIN-IN`` / ``SPLITBRAIN-OUT``), so healing is a flush and nothing
else on the host is touched.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

CHAIN_IN = "SPLITBRAIN-IN"
CHAIN_OUT = "SPLITBRAIN-OUT"


def q(*argv: object) -> str:
    """One command line from argv, every argument quoted."""
    return " ".join(shlex.quote(str(a)) for a in argv)


def ensure_chains() -> str:
    """Create our chains and hook them once into INPUT/OUTPUT (idempotent)."""
    parts = []
    for chain, hook in ((CHAIN_IN, "INPUT"), (CHAIN_OUT, "OUTPUT")):
        parts.append(f"({q('iptables', '-w', '-N', chain)} 2>/dev/null || true)")
        parts.append(f"({q('iptables', '-w', '-C', hook, '-j', chain)} 2>/dev/null || {q('iptables', '-w', '-I', hook, '-j', chain)})")
    return " && ".join(parts)


def partition(drop_from: Iterable[str], keep_port: int | None = 22) -> str:
    """Replace this host's partition: drop every packet from ``drop_from`` addresses.

    The SSH port stays reachable so the control node never cuts itself off.
    """
    cmds = [ensure_chains(), q("iptables", "-w", "-F", CHAIN_IN)]
    if keep_port is not None:
        cmds.append(q("iptables", "-w", "-A", CHAIN_IN, "-p", "tcp", "--dport", keep_port, "-j", "ACCEPT"))
    for addr in sorted(set(drop_from)):
        cmds.append(q("iptables", "-w", "-A", CHAIN_IN, "-s", addr, "-j", "DROP"))
    return " && ".join(cmds)


def loss(to: Iterable[str], probability: float) -> str:
    """Drop outgoing packets to ``to`` at random with the given probability (iptables statistic)."""
    cmds = [ensure_chains(), q("iptables", "-w", "-F", CHAIN_OUT)]
    if probability > 0:
        for addr in sorted(set(to)):
            cmds.append(q("iptables", "-w", "-A", CHAIN_OUT, "-d", addr, "-m", "statistic", "--mode", "random",
                          "--probability", f"{probability:.4f}", "-j", "DROP"))
    return " && ".join(cmds)


def netem_delay(dev: str, delay_ms: float, jitter_ms: float) -> str:
    if delay_ms <= 0:
        return f"({q('tc', 'qdisc', 'del', 'dev', dev, 'root')} 2>/dev/null || true)"
    return q("tc", "qdisc", "replace", "dev", dev, "root", "netem", "delay", f"{delay_ms:.0f}ms", f"{jitter_ms:.0f}ms")


def netem_available(dev: str) -> str:
    """Exit 0 iff the kernel can do netem here (tries, then removes, a netem qdisc)."""
    return (f"{q('tc', 'qdisc', 'add', 'dev', dev, 'root', 'netem', 'delay', '1ms')} 2>/dev/null && "
            f"{q('tc', 'qdisc', 'del', 'dev', dev, 'root')}")


def heal_network() -> str:
    return " ; ".join([
        f"({q('iptables', '-w', '-F', CHAIN_IN)} 2>/dev/null || true)",
        f"({q('iptables', '-w', '-F', CHAIN_OUT)} 2>/dev/null || true)",
    ])


def remove_chains() -> str:
    parts = [heal_network()]
    for chain, hook in ((CHAIN_IN, "INPUT"), (CHAIN_OUT, "OUTPUT")):
        parts.append(f"({q('iptables', '-w', '-D', hook, '-j', chain)} 2>/dev/null || true)")
        parts.append(f"({q('iptables', '-w', '-X', chain)} 2>/dev/null || true)")
    return " ; ".join(parts)


def list_rules() -> str:
    return f"{q('iptables', '-w', '-S', CHAIN_IN)} 2>/dev/null; {q('iptables', '-w', '-S', CHAIN_OUT)} 2>/dev/null; true"


def faketime_value(offset_s: float) -> str:
    """libfaketime's relative format for a wall-clock offset."""
    return f"{offset_s:+.6f}s"


#: how long the start command waits for the daemon to record its pid before it gives up
PIDFILE_WAIT_S = 10


def start_daemon(workdir: str, argv: list[str], env: dict[str, str], log: str, pidfile: str) -> str:
    """Start argv detached (new session, no terminal), its pid in ``pidfile``; exit once it is there.

    ``sh -c 'echo $$ > pid; exec ...'`` makes the recorded pid the node's own, so kill/pause
    signal the node and not a wrapper. The pid is written atomically (tmp + mv) and the command
    does not return before the file exists: a caller that asks for the node's state right after
    must never read "no pid file" as "the node died" (that race failed one ssh run in a few
    hundred under load: the node was reported dead while it was starting, and teardown's kill,
    finding no pid either, left it running). Exit 1 (with a message) if no pid appears in
    :data:`PIDFILE_WAIT_S` seconds.
    """
    env_args = [f"{k}={v}" for k, v in sorted(env.items())]
    tmp = pidfile + ".tmp"
    inner = f"echo $$ > {shlex.quote(tmp)} && mv -f {shlex.quote(tmp)} {shlex.quote(pidfile)}; exec {q('env', *env_args, *argv)}"
    tries = PIDFILE_WAIT_S * 20
    # `cd ... || exit` then a *simple* background command: the redirections apply to the only process
    # that outlives this shell, so the SSH channel (its stdout/stderr) closes as soon as we return.
    return (f"cd {shlex.quote(workdir)} || exit 1; rm -f {shlex.quote(pidfile)}; setsid sh -c {shlex.quote(inner)} "
            f">> {shlex.quote(log)} 2>&1 < /dev/null & "
            f"i=0; while [ ! -s {shlex.quote(pidfile)} ]; do i=$((i+1)); "
            f"if [ $i -gt {tries} ]; then echo 'no pid file after {PIDFILE_WAIT_S} s' >&2; exit 1; fi; "
            "sleep 0.05; done")


def signal_pidfile(pidfile: str, sig: str) -> str:
    return f"kill -{shlex.quote(sig)} \"$(cat {shlex.quote(pidfile)})\" 2>/dev/null; true"


def pid_state(pidfile: str) -> str:
    """Print the process state letter (R/S/T/Z...), 'dead', or 'nopid' when no pid was recorded."""
    return (f"p=\"$(cat {shlex.quote(pidfile)} 2>/dev/null)\"; "
            "if [ -z \"$p\" ]; then echo nopid; "
            "elif [ -r /proc/$p/stat ]; then awk '{print $3}' /proc/$p/stat; else echo dead; fi")
