"""Which control node owns a cluster, and is it still alive?

Every container, network and volume a run creates is labelled with its owner:
``splitbrain.control=<host>/<pid>/<process start time>``. ``splitbrain cleanup``
then removes only what belongs to control nodes that are gone, so one user's
cleanup on a shared Docker host never pulls the containers from under another
user's live run. The start time (from ``/proc``) makes a recycled pid harmless;
an owner on another host cannot be checked from here and counts as alive.
:func:`remove_labelled` is that removal.
"""

from __future__ import annotations

import os
import socket
from typing import Any

#: which run a container, network or volume belongs to
RUN = "splitbrain.run"
#: which control node started that run
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


def remove_labelled(client: Any, run_id: str | None = None, live_too: bool = False) -> dict[str, int]:
    """Remove containers, networks and volumes labelled ``splitbrain.run`` (or ``=run_id``) whose
    control node is gone (:func:`alive`); ``live_too`` removes live runs' as well.
    ``counts["spared"]`` is how many live runs were left alone."""
    selector = f"{RUN}={run_id}" if run_id else RUN
    counts = {"containers": 0, "networks": 0, "volumes": 0, "spared": 0}
    containers = client.containers.list(all=True, filters={"label": selector})
    networks = client.networks.list(filters={"label": selector})
    volumes = client.volumes.list(filters={"label": selector})
    owners: dict[str, str | None] = {}
    for thing in (*containers, *networks, *volumes):
        labels = _labels(thing)
        rid = labels.get(RUN, "")
        if labels.get(LABEL) or rid not in owners:
            owners[rid] = labels.get(LABEL) or owners.get(rid)
    # Resources from before owner labels: gone if none of the run's containers still runs.
    running = {_labels(c).get(RUN, "") for c in containers if c.status in ("running", "paused", "restarting")}
    live = {rid for rid, who in owners.items()
            if not live_too and (alive(who) if who else rid in running)}
    counts["spared"] = len(live)

    def doomed(thing: Any) -> bool:
        return _labels(thing).get(RUN, "") not in live

    for c in filter(doomed, containers):
        try:
            c.remove(force=True, v=True)
            counts["containers"] += 1
        except Exception:  # noqa: BLE001 - already gone
            pass
    for net in filter(doomed, networks):
        try:
            net.remove()
            counts["networks"] += 1
        except Exception:  # noqa: BLE001
            pass
    for vol in filter(doomed, volumes):
        try:
            vol.remove(force=True)
            counts["volumes"] += 1
        except Exception:  # noqa: BLE001
            pass
    return counts


def _labels(thing: Any) -> dict[str, str]:
    attrs = getattr(thing, "attrs", {}) or {}
    return dict(attrs.get("Labels") or attrs.get("Config", {}).get("Labels") or {})
