"""The control node's side of the fault filesystem: mount, talk to, and unmount lazyfs.

A node whose cluster runs a ``disk`` fault gets its data directory served by
:mod:`splitbrain.backends.disk.lazyfs`: ``nodes/<name>/data`` becomes the mount
point, ``nodes/<name>/data.disk`` the backing directory (the "platter"), and
``data.trash`` holds removed files until a directory fsync makes the removal
durable. At teardown the mount goes away and ``data.disk`` is moved back to
``data``, so a stored run looks the same with or without the fault.

Nothing may stay mounted: the daemon lazily unmounts and exits when the control
node dies (it watches its parent), mounts with ``auto_unmount`` (fusermount3
stays behind as a watchdog and unmounts when the daemon dies, even by SIGKILL,
as long as no file on it is open), and ``splitbrain cleanup``
unmounts anything still listed in /proc/self/mountinfo as ours
(:func:`leftover_mounts`). Mount sources are ``splitbrain-lazyfs:<run id>:<node>``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from splitbrain.errors import HarnessError

log = logging.getLogger(__name__)

FSNAME_PREFIX = "splitbrain-lazyfs"
SUBTYPE = "splitbrain-lazyfs"
#: the kernel's name for our mounts in /proc/self/mountinfo
FSTYPE = f"fuse.{SUBTYPE}"
#: how long the kernel may trust a name or an attribute before asking the daemon again
KERNEL_CACHE_S = 0.5
#: what a crash waits before anything reopens the rolled-back files: twice the cache time, since a
#: lookup or readdir racing with the crash can renew a stale (negative) name just after it (measured:
#: a name unlinked then restored by the crash was still ENOENT after one cache time, 1 run in 3)
CRASH_SETTLE_S = 2 * KERNEL_CACHE_S


def unavailable() -> str | None:
    """Why this machine cannot serve a FUSE data directory, or None when it can."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine (load the fuse module or run with --device /dev/fuse)"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is missing (Debian package fuse3)"
    try:
        import mfusepy  # type: ignore[import-untyped]  # noqa: F401
    except (ImportError, OSError) as e:
        return f"the FUSE binding cannot load (PyPI mfusepy over Debian libfuse3-3): {e}"
    return None


@dataclass
class Mount:
    """One node's fault filesystem."""

    node: str
    mountpoint: str
    backing: str
    trash: str
    control: str
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def under(cls, node_dir: str, node: str) -> Mount:
        """The layout in ``node_dir``; the control socket is abstract (named after the mount point)."""
        node_dir = os.path.abspath(node_dir)  # the daemon runs elsewhere: no relative paths
        mountpoint = os.path.join(node_dir, "data")
        sock = "@splitbrain-lazyfs-" + hashlib.sha256(mountpoint.encode()).hexdigest()[:24]
        return cls(node, mountpoint, os.path.join(node_dir, "data.disk"), os.path.join(node_dir, "data.trash"), sock)

    def command(self, python: str, source: str, parent: int | None = None,
                cache_s: float = KERNEL_CACHE_S, names: str = "ordered") -> list[str]:
        """argv of the daemon; with ``parent`` it unmounts and exits when that process dies."""
        watch = ["--parent", str(parent)] if parent is not None else []
        return [python, "-m", "splitbrain.backends.disk.lazyfs", "--backing", self.backing, "--trash", self.trash,
                "--control", self.control, "--fsname", f"{FSNAME_PREFIX}:{source}", "--subtype", SUBTYPE,
                "--cache-s", str(cache_s), "--names", names, *watch, self.mountpoint]


def mounted(mountpoint: str) -> bool:
    target = os.path.abspath(mountpoint)
    return any(m == target for m, _ in _our_mounts())


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def _our_mounts() -> list[tuple[str, str]]:
    """(mount point, source) of every lazyfs mount, from /proc/self/mountinfo."""
    out = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                left, _, right = line.partition(" - ")
                fields, rest = left.split(), right.split()
                if len(fields) >= 5 and len(rest) >= 2 and rest[0] == FSTYPE:
                    out.append((_unescape(fields[4]), rest[1]))
    except OSError:
        pass
    return out


def leftover_mounts(run_id: str | None = None) -> list[str]:
    """Mount points of lazyfs mounts (of one run, or every run) still in the mount table."""
    prefix = f"{FSNAME_PREFIX}:{run_id}:" if run_id else f"{FSNAME_PREFIX}:"
    return [m for m, src in _our_mounts() if src.startswith(prefix)]


def _dead(mountpoint: str) -> bool:
    """A mount whose daemon is gone answers every call with ENOTCONN."""
    try:
        os.stat(mountpoint)
    except OSError as e:
        return e.errno in (errno.ENOTCONN, errno.EIO, errno.ENOENT)
    return False


def unmount_leftovers(run_id: str | None = None, live_too: bool = False) -> list[str]:
    """Unmount what dead runs left: lazyfs mounts (of every run, or of ``run_id``) whose daemon is gone.

    A live run's mounts (their daemon still answers) are spared unless ``live_too``,
    as ``splitbrain cleanup`` spares live runs' containers. Returns the mount points unmounted.
    """
    done = []
    for mountpoint in leftover_mounts(run_id):
        if (live_too or _dead(mountpoint)) and unmount(mountpoint):
            done.append(mountpoint)
    return done


def unmount(mountpoint: str) -> bool:
    """Lazily unmount (the daemon may be gone); True when it is no longer mounted."""
    for argv in (["fusermount3", "-u", "-z", mountpoint], ["umount", "-l", mountpoint]):
        if not mounted(mountpoint):
            return True
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(argv, capture_output=True, timeout=10, check=False)
    return not mounted(mountpoint)


def control(path: str, request: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    """Send one request to a daemon's control socket; its answer, or HarnessError."""
    from splitbrain.backends.disk.lazyfs import exchange  # loads libfuse: only once a daemon runs

    try:
        buf = exchange(path, json.dumps(request).encode(), timeout_s)
        answer = json.loads(buf)
    except (OSError, ValueError) as e:
        raise HarnessError(f"lazyfs control {path}: {type(e).__name__}: {e}") from None
    if not isinstance(answer, dict) or not answer.get("ok"):
        raise HarnessError(f"lazyfs control {path} refused {request}: {answer}")
    return answer


def prepare(m: Mount) -> None:
    """Directories for a fresh mount: an existing data dir becomes the backing one."""
    if os.path.isdir(m.mountpoint) and not os.path.exists(m.backing) and not mounted(m.mountpoint):
        os.rename(m.mountpoint, m.backing)
    os.makedirs(m.backing, exist_ok=True)
    os.makedirs(m.mountpoint, exist_ok=True)
    shutil.rmtree(m.trash, ignore_errors=True)


def start(m: Mount, python: str, source: str, env: dict[str, str], cache_s: float = KERNEL_CACHE_S,
          names: str = "ordered") -> None:
    """Mount ``m`` (daemon log in ``lazyfs.log`` beside it); returns once it serves requests.

    The daemon runs in its own session, outside the nodes' process groups, and
    unmounts itself when this process dies."""
    prepare(m)
    node_dir = os.path.dirname(m.mountpoint)
    with open(os.path.join(node_dir, "lazyfs.log"), "ab") as out:
        m.proc = subprocess.Popen(m.command(python, source, os.getpid(), cache_s, names), stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=subprocess.STDOUT, env=env, cwd=node_dir, start_new_session=True)
    wait_mounted(m)


def wait_mounted(m: Mount, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (mounted(m.mountpoint) and _answers(m.control)):
        if m.proc is not None and m.proc.poll() is not None:
            raise HarnessError(f"lazyfs for {m.node} exited with code {m.proc.returncode} before mounting")
        if time.monotonic() > deadline:
            raise HarnessError(f"lazyfs for {m.node} not mounted at {m.mountpoint} after {timeout_s:.0f} s")
        time.sleep(0.02)


def _answers(path: str) -> bool:
    try:
        control(path, {"cmd": "stats"}, timeout_s=2.0)
    except HarnessError:
        return False
    return True


def release(m: Mount) -> None:
    """Stop the daemon, unmount, and put the backing dir back where the data dir was."""
    if m.proc is not None and m.proc.poll() is None:
        m.proc.terminate()
        try:
            m.proc.wait(5.0)
        except subprocess.TimeoutExpired:
            m.proc.kill()
            m.proc.wait(5.0)
    if not unmount(m.mountpoint):
        raise HarnessError(f"could not unmount lazyfs at {m.mountpoint}")
    shutil.rmtree(m.trash, ignore_errors=True)
    if os.path.isdir(m.backing):
        with contextlib.suppress(OSError):
            os.rmdir(m.mountpoint)
        if not os.path.exists(m.mountpoint):
            os.rename(m.backing, m.mountpoint)



def release_all(mounts: list[Mount]) -> None:
    """:func:`release` each; one that fails is logged and the others still go."""
    for m in mounts:
        try:
            release(m)
        except HarnessError as e:
            log.error("lazyfs of %s: %s", m.node, e)
