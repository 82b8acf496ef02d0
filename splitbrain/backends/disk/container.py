"""The fault filesystem inside a node's container (the docker backend's side of ``disk`` faults).

The lazyfs daemon (:mod:`splitbrain.backends.disk.lazyfs`) runs in the node's own
container, started by the container's command just before the node: it
mounts ``/data/data`` over the backing directory ``/data/data.disk`` in the
node's volume, and the node is exec'd once the mount answers. What a
container needs for that, and nothing more:

* the device ``/dev/fuse`` (the FUSE channel to the kernel);
* the capability ``CAP_SYS_ADMIN``: ``mount(2)`` of a FUSE filesystem needs it
  in the container's user namespace (``fusermount3`` is setuid root, but a
  container's root holds only the capabilities it was given). It joins
  ``NET_ADMIN`` (iptables); no privileged mode, no host namespaces;
* Debian's ``fuse3`` (``fusermount3``, ``libfuse3-3``) in the image: a layer on the
  node image built like a system's extra packages; the three pure-Python files
  (``lazyfs.py``, ``lazyjournal.py``, PyPI's ``mfusepy.py``) are copied in at setup.

The mount lives in the container's mount namespace: when the container dies,
nothing is left mounted anywhere (no host mount exists to leak). The daemon's
journal dies with it too, which decides the order of a power loss: the crash
is asked of the running daemon first (it rolls back and then *freezes* the
disk, so the still-running node can write nothing more), and only then is the
container killed. A plain ``kill`` keeps whatever was written (the backing
directory has it, as a page cache keeps a killed process's writes); a restarted
container mounts the backing directory as it is. Failed fsyncs are kept in
``/data/lazyfs-events.jsonl`` so the fault still names them after a node
stopped on one (its daemon is gone then).
"""

from __future__ import annotations

import io
import json
import shlex
import tarfile
from pathlib import Path
from typing import Any

from splitbrain.backends.disk.mount import FSNAME_PREFIX, KERNEL_CACHE_S, SUBTYPE
from splitbrain.errors import HarnessError

#: where the daemon's files go in the container
LAZYFS_DIR = "/opt/splitbrain-lazyfs"
#: the control socket (abstract: one per container network namespace)
CONTROL = "@splitbrain-lazyfs"
EVENTS = "/data/lazyfs-events.jsonl"
DEBS = ("fuse3",)
CAPABILITY = "SYS_ADMIN"
DEVICE = "/dev/fuse:/dev/fuse:rwm"
#: how long the container's command waits for the mount before it gives up (exit 70)
MOUNT_WAIT_S = 20


def files() -> dict[str, bytes]:
    """Container path -> contents of what the daemon needs beside the image's python3."""
    import mfusepy  # type: ignore[import-untyped]

    here = Path(__file__).resolve().parent
    return {f"{LAZYFS_DIR}/lazyfs.py": (here / "lazyfs.py").read_bytes(),
            f"{LAZYFS_DIR}/lazyjournal.py": (here / "lazyjournal.py").read_bytes(),
            f"{LAZYFS_DIR}/mfusepy.py": Path(mfusepy.__file__).read_bytes()}


def install(container: Any) -> None:
    """Copy the daemon's files into a created (not necessarily started) container."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        d = tarfile.TarInfo(LAZYFS_DIR.lstrip("/"))
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(d)
        for path, data in files().items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    if not container.put_archive("/", buf.getvalue()):
        raise HarnessError(f"docker refused to copy the fault filesystem into {container.name}")


def mount_script(source: str, names: str = "ordered", cache_s: float = KERNEL_CACHE_S) -> str:
    """Shell run by the container's command before the node: mount, wait until it serves, go on.

    The daemon runs without the node's libfaketime preload; a mount that does not come up
    stops the container (exit 70) with the daemon's last words in node.log."""
    argv = ["python3", f"{LAZYFS_DIR}/lazyfs.py", "--backing", "/data/data.disk", "--trash", "/data/data.trash",
            "--control", CONTROL, "--events", EVENTS, "--fsname", f"{FSNAME_PREFIX}:{source}", "--subtype", SUBTYPE,
            "--cache-s", str(cache_s), "--names", names, "/data/data"]
    return (f"mkdir -p /data/data /data/data.disk; rm -rf /data/data.trash; "
            f"LD_PRELOAD= {shlex.join(argv)} >>/data/lazyfs.log 2>&1 & "
            f"i=0; until grep -qs ' /data/data fuse.{SUBTYPE} ' /proc/mounts; do "
            f"i=$((i+1)); if [ $i -gt {MOUNT_WAIT_S * 10} ]; then "
            f"tail -5 /data/lazyfs.log >>/data/node.log; echo 'lazyfs did not mount /data/data' >>/data/node.log; "
            f"exit 70; fi; sleep 0.1; done; ")


def ask_argv(request: dict[str, Any]) -> list[str]:
    return ["python3", f"{LAZYFS_DIR}/lazyfs.py", "ask", CONTROL, json.dumps(request)]


def parse_answer(node: str, request: dict[str, Any], code: int | None, out: bytes) -> dict[str, Any]:
    """The daemon's one-line answer. Its exit code is not trusted: after a freezing crash a correct
    node stops on its first EIO, and its container takes the asking process with it (137), often
    after the answer was printed."""
    text = (out or b"").decode(errors="replace").strip()
    try:
        answer = json.loads(text.splitlines()[-1]) if text else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not answer.get("ok"):
        raise HarnessError(f"lazyfs in {node}'s container refused {request}: exit {code}: {text[-300:]}")
    return answer


def stopped_answer(node: str, request: dict[str, Any], events: bytes | None) -> dict[str, Any]:
    """The answer for a node whose container is not running (its daemon is gone with it)."""
    cmd = request.get("cmd")
    if cmd == "clear":
        return {"ok": True}  # the next daemon starts disarmed
    if cmd == "stats":
        failed = []
        for line in (events or b"").decode(errors="replace").splitlines():
            try:
                failed.append(json.loads(line))
            except ValueError:
                pass
        return {"ok": True, "failed_fsyncs": failed, "armed_fsync_errors": 0, "fsync_delay_ms": 0.0,
                "unsynced_bytes": 0, "unsynced_files": 0, "unsynced_names": 0, "fsyncs": 0, "stopped": True}
    raise HarnessError(f"{node}'s container is not running: its fault filesystem cannot {cmd}")
