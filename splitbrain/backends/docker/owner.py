"""Which control node owns a cluster, and is it still alive?

Every container, network and volume a run creates is labelled with its owner:
``splitbrain.control=<host>/<pid>/<process start time>``. ``splitbrain cleanup``
then removes only what belongs to control nodes that are gone, so one user's
cleanup on a shared Docker host never pulls the containers from under another
user's live run. The start time (from ``/proc``) makes a recycled pid harmless;
an owner on another host cannot be checked from here and counts as alive.
"""

from __future__ import annotations

import os
import socket

LABEL = "splitbrain.control"


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def control_id() -> str:
    """This control node: host, pid and the process's start time (clock ticks since boot)."""
    return f"{socket.gethostname()}/{os.getpid()}/{_start_time(os.getpid()) or '?'}"


def alive(owner: str | None) -> bool:
    """Whether the control node ``owner`` still runs. Unlabelled (older) resources have no owner
    left to ask: gone. Another host's owner cannot be checked: alive."""
    if not owner:
        return False
    try:
        host, pid, started = owner.split("/", 2)
        if host != socket.gethostname():
            return True
        return _start_time(int(pid)) == started
    except ValueError:
        return False
