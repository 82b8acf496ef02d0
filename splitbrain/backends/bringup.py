"""Bring-up: wait until a node is ready, and when it is not, say why.

Every backend starts a node the same way seen from here: it runs a command
somewhere, then polls two things until a bounded deadline: *is the client port
accepting?* (ready) and *is the node already gone?* (it exited, the container
stopped, the remote pid is dead). Polling a port is always safe to repeat;
starting the node again is not (a second copy would fight the first over its
port and data directory), so nothing here ever re-runs the start command.

When a node does not come up, the user needs the reason on the first line:
which node, what was run, where, with what exit status, what the node itself
printed last (its stdout/stderr, captured from the moment it was spawned, so
also when it died before opening its own log), and for remote hosts the state
of the transport. :class:`StartFailure` carries exactly that across the
backend border; :class:`splitbrain.errors.NodeStartError` wraps it, the run
writes it to ``harness.log`` and ``results.json``, and the report shows it.

Backends (and system files / foreign nodes) reuse :func:`wait_ready` /
:func:`wait_ready_async` and build a :class:`StartFailure`; they do not grow
their own loops.
"""

from __future__ import annotations

import asyncio
import shlex
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: lines of the node's own output kept in a failure (the tail is what explains a crash)
TAIL_LINES = 20
TAIL_CHARS = 4000


@dataclass(frozen=True)
class StartFailure:
    """Why one node did not come up, in the words a user needs to fix it."""

    node: str
    reason: str                      # "exited with status 3", "client port 10.0.0.3:7101 not accepting after 20.0 s"
    command: Sequence[str]           # argv as run (before any wrapper the backend adds)
    where: str                       # "local pid 4242 in /store/.../n1", "container splitbrain-x-n1 at 172.18.0.11"
    exit_status: int | None = None   # the node's own status when it exited (negative: killed by that signal)
    output: str = ""                 # last lines of the node's stdout/stderr
    transport: str | None = None     # ssh: connection and remote shell state
    waited_s: float = 0.0            # how long bring-up waited before giving up
    facts: dict[str, Any] = field(default_factory=dict)  # backend-specific extras (image, state letter, ...)

    def summary(self) -> str:
        """One line: everything needed to act, the node's last words included."""
        parts = [f"node {self.node} failed to start: {self.reason}"]
        if self.exit_status is not None:
            parts.append(f"exit status {describe_status(self.exit_status)}")
        parts.append(f"where: {self.where}")
        parts.append(f"command: {_short(shlex.join(map(str, self.command)), 240)}")
        if self.transport:
            parts.append(f"ssh: {self.transport}")
        last = last_line(self.output)
        parts.append(f"last output: {_short(last, 240)}" if last else "no output from the node")
        return "; ".join(parts)

    def details(self) -> str:
        """The summary, then the whole output tail (for harness.log and the report)."""
        tail = self.output.rstrip("\n")
        body = f"\n--- last {len(tail.splitlines())} lines of {self.node}'s stdout/stderr ---\n{tail}" if tail else ""
        return self.summary() + body

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["command"] = [str(a) for a in self.command]
        return d


def describe_status(status: int) -> str:
    """``3`` -> ``"3"``; ``-9`` (Popen's killed-by-signal) -> ``"-9 (SIGKILL)"``; 137 -> ``"137 (SIGKILL)"``."""
    sig = -status if status < 0 else status - 128 if 128 < status < 128 + 65 else None
    if sig is None:
        return str(status)
    try:
        return f"{status} ({signal.Signals(sig).name})"
    except ValueError:
        return str(status)


def tail_text(data: bytes | str | None, lines: int = TAIL_LINES, max_chars: int = TAIL_CHARS) -> str:
    """The last ``lines`` lines of a node's output, at most ``max_chars`` characters."""
    if not data:
        return ""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    out = "\n".join(text.splitlines()[-lines:])
    return out[-max_chars:]


def last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()
    return ""


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


@dataclass(frozen=True)
class Readiness:
    """The outcome of one bounded wait: ready, or gone (with why), or out of time."""

    ready: bool
    waited_s: float
    gone: str | None = None          # set when the node is known dead/stopped: why

    @property
    def timed_out(self) -> bool:
        return not self.ready and self.gone is None


class _Wait:
    """One bounded wait's clock and verdicts, shared by the blocking and the event-loop wait."""

    def __init__(self, timeout_s: float, interval_s: float) -> None:
        self.start = time.monotonic()
        self.deadline = self.start + timeout_s
        self.interval_s = interval_s

    def verdict(self, why: str | None, ok: bool) -> Readiness | None:
        """Gone (``why``: asked before the probe, so a crashed node fails fast), ready (``ok``), out
        of time, or None: wait on."""
        if why is not None:
            return Readiness(False, time.monotonic() - self.start, why)
        if ok:
            return Readiness(True, time.monotonic() - self.start)
        if time.monotonic() >= self.deadline:
            return Readiness(False, time.monotonic() - self.start)
        return None

    def pause_s(self) -> float:
        return min(self.interval_s, max(0.0, self.deadline - time.monotonic()))


def wait_ready(ready: Callable[[], bool], gone: Callable[[], str | None], timeout_s: float,
               interval_s: float = 0.2) -> Readiness:
    """Poll ``ready`` (the client port) and ``gone`` (the node exited) until ``timeout_s``.

    Blocking: for backends whose SDKs block (docker, paramiko), run it in a worker thread.
    ``gone`` is asked before each probe so a crashed node fails fast, not at the deadline.
    """
    wait = _Wait(timeout_s, interval_s)
    while True:
        why = gone()
        if (done := wait.verdict(why, why is None and ready())) is not None:
            return done
        time.sleep(wait.pause_s())


async def wait_ready_async(ready: Callable[[], Awaitable[bool]], gone: Callable[[], str | None], timeout_s: float,
                           interval_s: float = 0.05) -> Readiness:
    """:func:`wait_ready` for the event loop (the local backend)."""
    wait = _Wait(timeout_s, interval_s)
    while True:
        why = gone()
        if (done := wait.verdict(why, why is None and await ready())) is not None:
            return done
        await asyncio.sleep(wait.pause_s())


async def port_open(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """Whether ``host:port`` accepts a TCP connection now (closed again at once)."""
    try:
        _, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (TimeoutError, OSError):
        return False
    w.close()
    return True


def port_open_sync(host: str, port: int, timeout_s: float = 1.0) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
