"""Node processes of the local backend: spawn, die-with-parent, logs, /proc state.

A node must never outlive the control node: each child sets
``PR_SET_PDEATHSIG(SIGKILL)`` before exec. That signal fires when the *thread*
that forked the child exits, so the backend spawns every node from one
long-lived spawner thread, never from short-lived ``to_thread`` workers. Each
node gets its own process group so a signal reaches anything it forks.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO

from splitbrain.systems.base import NodeConfig

HOST = "127.0.0.1"
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


def child_setup(parent_pid: int) -> None:
    """Runs in the forked child before exec: die with the control node."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


#: one lock file per leased port, shared by every splitbrain run on this machine
PORT_LEASES = os.path.join(tempfile.gettempdir(), "splitbrain-ports")


class PortLease:
    """Ports a cluster's nodes listen on, held (``flock``) for the whole run.

    A free port is not enough: a node killed by the nemesis leaves its port
    free for seconds, another run on the machine may pick it meanwhile, and
    then whichever node binds second fails (exit 255: lost control, or a
    readiness probe fooled by the other run's listener). Each leased port has
    a lock file locked by the run's control process until :meth:`release`;
    :func:`free_ports` skips ports another live run holds. A run that dies
    releases its locks with its process, so nothing goes stale.
    """

    def __init__(self) -> None:
        self._fds: dict[int, int] = {}

    def take(self, port: int) -> bool:
        """Lock ``port`` for this lease; False when another lease holds it."""
        if port in self._fds:
            return False
        try:
            os.makedirs(PORT_LEASES, mode=0o1777, exist_ok=True)
            fd = os.open(os.path.join(PORT_LEASES, str(port)), os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError:
            return True  # no lock directory: a plain free port, as before
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fds[port] = fd
        return True

    def release(self) -> None:
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)


def free_ports(n: int, lease: PortLease | None = None) -> list[int]:
    """``n`` distinct free ports for nodes to listen on, locked in ``lease`` when given.

    Chosen below the kernel's ephemeral range: a killed node's port stays free
    while it is down, since no other process's outgoing connection or
    ``bind(0)`` can take it meanwhile, and the lease keeps other runs' picks
    off it. Falls back to ephemeral ports.
    """
    low, pick = _ephemeral_low(), random.SystemRandom()
    socks: list[socket.socket] = []
    try:
        tries = 0
        while len(socks) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            port = pick.randrange(10000, low) if low > 11000 and tries < 50 * n else 0
            tries += 1
            try:
                s.bind((HOST, port))
            except OSError:
                s.close()
                continue
            if lease is not None and not lease.take(s.getsockname()[1]):
                s.close()
                continue
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def proc_state(pid: int) -> str | None:
    """The one-letter state from /proc/<pid>/stat (R, S, T, Z, ...), None when gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def pump_log(stream: IO[bytes], path: str, max_bytes: int) -> None:
    """Copy a node's output into its log until EOF, rotating so the newest output is kept.

    ``path`` and ``path.1`` together never exceed ``max_bytes`` (plus one notice line per
    rotation): when ``path`` would pass half the cap it becomes ``path.1`` (replacing the
    older one) and a fresh ``path`` starts. A node that floods its log therefore cannot
    fill the control node's disk, and the lines around the end of the run -- the ones a
    report needs -- survive.
    """
    half = max(1, max_bytes // 2)
    out = open(path, "ab")  # noqa: SIM115 - held for the pump's whole life
    try:
        written = out.tell()
        for chunk in iter(lambda: os.read(stream.fileno(), 65536), b""):
            while chunk:
                if written >= half:
                    # Copy the full log to path.1, then truncate in place: path never disappears
                    # (a hard link would share the inode and the truncation would empty both).
                    out.flush()
                    tmp = path + ".1.tmp"
                    shutil.copyfile(path, tmp)
                    os.replace(tmp, path + ".1")
                    out.truncate(0)
                    out.write(f"{time.time():.6f} WARN [harness] log rotated at {half} bytes; "
                              f"older lines in {os.path.basename(path)}.1\n".encode())
                    written = 0
                room = half - written
                piece, chunk = chunk[:room], chunk[room:]
                out.write(piece)
                written += len(piece)
            out.flush()
    finally:
        out.close()
        stream.close()


@dataclass
class NodeProc:
    name: str
    dir: str
    config: NodeConfig
    log_path: str
    clock_file: str
    command: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = None
    pids: list[int] = field(default_factory=list)  # every process spawned for this node, for /dev/shm cleanup

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
