"""The fault filesystem daemon: a node's data directory that forgets what was never fsync'd.

Runs on the node's host (or inside its container), beside the node it serves:
``python3 -m splitbrain.backends.disk.lazyfs --backing DIR --trash DIR --control SOCK MOUNTPOINT``.
It is a FUSE filesystem passing every operation through to ``--backing`` while
the :class:`~splitbrain.backends.disk.lazyjournal.Journal` remembers how to return to
the last durable state. Needs only the standard library, ``mfusepy`` (pure
Python, ctypes over libfuse3, shipped beside this file to containers) and
libfuse3 with ``fusermount3``.

Why mfusepy: it is a single pure-Python module over the C library, so the same
file runs on the control node and in a stdlib-only container that has just
Debian's ``libfuse3-3`` and ``fuse3``; pyfuse3 is a compiled extension that
needs trio, and fusepy (and Debian's python3-fusepy) speaks only libfuse 2.

Kernel caching is kept short so a crash is not hidden by stale metadata: names
and attributes are trusted for ``--cache-s`` (the ``disk`` fault waits
that long after a crash before the node restarts), and (without ``keep_cache``)
every open drops the file's cached pages; writes are not cached (no writeback
cache), so the journal sees each one as it happens. No ``direct_io``, so shared
read-only mmap (bbolt, in etcd) still works.
``hard_remove`` stops libfuse from turning an unlink of an open file into a
rename to ``.fuse_hidden*``.

The control socket (``--control``, a unix stream socket) takes one JSON object
per line and answers one: ``{"cmd": "stats"}``, ``{"cmd": "crash", "torn":
bool, "seed": N}`` (drop everything unsynced; the answer is the crash report),
``{"cmd": "fsync-error", "count": N}`` (the next N fsyncs fail with EIO),
``{"cmd": "slow-fsync", "delay_ms": X}`` and ``{"cmd": "clear"}`` (disarm both).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from typing import Any, NoReturn

import mfusepy  # type: ignore[import-untyped]

try:
    from splitbrain.backends.disk.lazyjournal import NAME_RULES, Journal
except ImportError:  # shipped flat beside this file
    from lazyjournal import NAME_RULES, Journal  # type: ignore[import-not-found,no-redef]

_STAT_KEYS = ("st_mode", "st_ino", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime_ns", "st_mtime_ns",
              "st_ctime_ns", "st_blocks", "st_blksize", "st_rdev")


def _oserror(e: OSError) -> mfusepy.FuseOSError:
    return mfusepy.FuseOSError(e.errno or errno.EIO)


def _powered_off() -> NoReturn:
    """After a crash with ``freeze`` the disk is gone until the node's container is killed: every
    change fails with EIO. (Not a wait: a process inside a FUSE request the daemon has taken cannot
    be killed until it is answered, so a container whose node waited there would never die.)"""
    raise mfusepy.FuseOSError(errno.EIO)


class LazyOps(mfusepy.Operations):  # type: ignore[misc]
    """Pass-through operations; every change is recorded in the journal under one lock."""

    use_ns = True

    def __init__(self, journal: Journal) -> None:
        self.j = journal
        self.mutex = threading.Lock()
        #: the kernel connected (``init`` ran): a later non-zero FUSE status is the loop ending, not a mount failing
        self.served = False

    def init(self, path: str) -> None:
        self.served = True

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            with self.mutex:
                if not self.j.frozen:
                    return fn(*args)
        except OSError as e:
            raise _oserror(e) from None
        _powered_off()

    # -- reading ---------------------------------------------------------------------

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        try:
            st = os.fstat(fh) if fh is not None else os.lstat(self.j.real(path))
        except OSError as e:
            raise _oserror(e) from None
        out = {k: getattr(st, k) for k in _STAT_KEYS}
        for k in ("st_atime", "st_mtime", "st_ctime"):
            out[k] = out.pop(k + "_ns")
        return out

    def readdir(self, path: str, fh: int) -> list[str]:
        try:
            return [".", "..", *os.listdir(self.j.real(path))]
        except OSError as e:
            raise _oserror(e) from None

    def readlink(self, path: str) -> str:
        return str(self._call(os.readlink, self.j.real(path)))

    def statfs(self, path: str) -> dict[str, int]:
        sv = os.statvfs(self.j.backing)
        return {k: getattr(sv, k) for k in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files",
                                            "f_ffree", "f_favail", "f_flag", "f_namemax")}

    def access(self, path: str, amode: int) -> int:
        if not os.path.lexists(self.j.real(path)):
            raise mfusepy.FuseOSError(errno.ENOENT)
        return 0

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        return bytes(self._call(os.pread, fh, size, offset))

    # -- files -----------------------------------------------------------------------

    @staticmethod
    def _flags(flags: int) -> int:
        """Our descriptor is always read-write at explicit offsets; O_TRUNC goes through the journal."""
        return (flags & ~(os.O_ACCMODE | os.O_APPEND | os.O_TRUNC | os.O_CREAT | os.O_EXCL)) | os.O_RDWR

    def open(self, path: str, flags: int) -> int:
        def op() -> int:
            fd = os.open(self.j.real(path), self._flags(flags))
            if flags & os.O_TRUNC:
                self.j.truncate(fd, path, 0)
            return fd
        return int(self._call(op))

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        def op() -> int:
            fd = os.open(self.j.real(path), os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
            self.j.created(fd, path)
            return fd
        return int(self._call(op))

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        return int(self._call(self.j.write, fh, path or "?", data, offset))

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        def op() -> None:
            fd = fh if fh is not None else os.open(self.j.real(path), os.O_RDWR)
            try:
                self.j.truncate(fd, path or "?", length)
            finally:
                if fh is None:
                    os.close(fd)
        self._call(op)
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        # Outside the lock while sleeping (slow-fsync must not stall the whole disk)...
        delay = self.j.fsync_delay_s
        if delay:
            threading.Event().wait(delay)
        with self.mutex:
            if not self.j.frozen:
                saved, self.j.fsync_delay_s = self.j.fsync_delay_s, 0.0
                try:
                    self.j.fsync(fh, path or "?")
                except OSError as e:
                    raise _oserror(e) from None
                finally:
                    self.j.fsync_delay_s = saved
                return 0
        _powered_off()
        return 0

    # No ``flush``: it has nothing to do here, and left unimplemented the kernel stops sending it
    # after the first ENOSYS (one round trip less per close(2); each costs the node a reschedule).

    def release(self, path: str, fh: int) -> int:
        os.close(fh)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        real = self.j.real(path)
        self._call(lambda: os.utime(real) if times is None else os.utime(real, ns=times))
        return 0

    def chmod(self, path: str, mode: int) -> int:
        self._call(os.chmod, self.j.real(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        self._call(os.lchown, self.j.real(path), uid, gid)
        return 0

    # -- names -----------------------------------------------------------------------

    def mkdir(self, path: str, mode: int) -> int:
        self._call(self.j.mkdir, path, mode)
        return 0

    def rmdir(self, path: str) -> int:
        self._call(self.j.rmdir, path)
        return 0

    def unlink(self, path: str) -> int:
        self._call(self.j.unlink, path)
        return 0

    def rename(self, old: str, new: str) -> int:
        self._call(self.j.rename, old, new)
        return 0

    def symlink(self, target: str, source: str) -> int:
        def op() -> None:
            os.symlink(source, self.j.real(target))
            self.j.linked(target)
        self._call(op)
        return 0

    def link(self, target: str, source: str) -> int:
        def op() -> None:
            os.link(self.j.real(source), self.j.real(target))
            self.j.linked(target)
        self._call(op)
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        self._call(self.j.fsyncdir, path)
        return 0


def _control(journal: Journal, lock: threading.Lock, req: dict[str, Any]) -> dict[str, Any]:
    cmd = req.get("cmd")
    with lock:
        if cmd == "stats":
            return {"ok": True, **journal.pending(), "fsyncs": journal.fsyncs,
                    "failed_fsyncs": journal.failed_fsyncs, "armed_fsync_errors": journal.fail_next_fsyncs,
                    "fsync_delay_ms": journal.fsync_delay_s * 1000.0}
        if cmd == "crash":
            report = journal.crash(random.Random(req.get("seed")), torn=bool(req.get("torn")))
            # The node still runs (its container is killed next): from now on the disk is off.
            journal.frozen = bool(req.get("freeze"))
            return {"ok": True, **report.to_json(), "frozen": journal.frozen}
        if cmd == "fsync-error":
            journal.fail_next_fsyncs = int(req.get("count", 1))
            return {"ok": True, "armed_fsync_errors": journal.fail_next_fsyncs}
        if cmd == "slow-fsync":
            journal.fsync_delay_s = max(0.0, float(req.get("delay_ms", 0.0))) / 1000.0
            return {"ok": True, "fsync_delay_ms": journal.fsync_delay_s * 1000.0}
        if cmd == "clear":
            journal.fail_next_fsyncs, journal.fsync_delay_s = 0, 0.0
            return {"ok": True}
    return {"ok": False, "error": f"unknown command {cmd!r}"}


def serve_control(path: str, journal: Journal, lock: threading.Lock) -> None:
    """Answer control requests on a unix socket, one thread, one connection at a time.

    A ``path`` starting with ``@`` is a Linux abstract socket name (no file, no 108-byte
    path limit for deep run directories)."""
    if not path.startswith("@") and os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind("\0" + path[1:] if path.startswith("@") else path)
    srv.listen(8)
    while True:
        conn, _ = srv.accept()
        with conn, conn.makefile("rwb") as fh:
            for line in fh:
                try:
                    resp = _control(journal, lock, json.loads(line))
                except (ValueError, TypeError, OSError) as e:
                    resp = {"ok": False, "error": f"{type(e).__name__}: {e}"}
                fh.write(json.dumps(resp).encode() + b"\n")
                fh.flush()


def watch_parent(parent: int, mountpoint: str) -> None:
    """When the control node dies, unmount (lazily: its nodes may still hold files) and exit.

    The daemon is not killed with its parent (no ``PR_SET_PDEATHSIG``): a SIGKILLed
    daemon leaves unmounting to fusermount3's ``auto_unmount`` watchdog, which gives up
    while dying nodes still hold files open. Detaching first always works.
    """
    while os.getppid() == parent:
        time.sleep(0.2)
    for argv in (["fusermount3", "-u", "-z", mountpoint], ["umount", "-l", mountpoint]):
        if subprocess.run(argv, capture_output=True, check=False).returncode == 0:
            break
    os._exit(0)


def exchange(path: str, line: bytes, timeout_s: float = 10.0) -> bytes:
    """One request line to a daemon's control socket (``@name``: abstract), its answer line.

    The one wire client: the control node's :func:`~splitbrain.backends.disk.mount.control` and
    ``ask`` inside a container both call it (this file runs there alone, so it cannot import the
    package)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        s.connect("\0" + path[1:] if path.startswith("@") else path)
        s.sendall(line.strip() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return buf


def ask(path: str, request: str, timeout_s: float = 10.0) -> int:
    """``lazyfs.py ask SOCK JSON``: one control request from inside the node's container
    (an abstract socket is reachable only from its own network namespace); prints the answer."""
    sys.stdout.write(exchange(path, request.encode(), timeout_s).decode())
    return 0


def _prioritize(nice: int) -> None:
    """Run ahead of ordinary processes, as the kernel's own filesystem code does.

    The daemon spends ~50 us of CPU per request, but every request waits for it to be
    scheduled: on a loaded machine that wait, not the work, is the node's I/O latency
    (milliseconds per write, seconds of stalled heartbeats). Set before any thread
    starts, so libfuse's worker threads inherit it (Linux nice values are per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except OSError:
        pass  # no CAP_SYS_NICE (an unprivileged user, a container): ordinary priority


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ask"] and len(argv) == 3:
        return ask(argv[1], argv[2])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("mountpoint")
    ap.add_argument("--backing", required=True)
    ap.add_argument("--trash", required=True)
    ap.add_argument("--control", required=True)
    ap.add_argument("--fsname", default="lazyfs", help="the mount's source in the mount table")
    ap.add_argument("--subtype", default="lazyfs", help="the mount's type is fuse.<subtype>")
    ap.add_argument("--names", choices=NAME_RULES, default="ordered",
                    help="name changes durable at the next fsync of anything (ordered) or of their directory (posix)")
    ap.add_argument("--cache-s", type=float, default=0.0, help="how long the kernel may cache names and attributes")
    ap.add_argument("--parent", type=int, default=None, help="unmount and exit when this process dies")
    ap.add_argument("--events", default=None, help="file keeping failed fsyncs across restarts")
    ap.add_argument("--nice", type=int, default=-10,
                    help="scheduling priority (best effort: needs CAP_SYS_NICE to go below 0)")
    args = ap.parse_args(argv)
    _prioritize(args.nice)
    if args.parent is not None:
        threading.Thread(target=watch_parent, args=(args.parent, args.mountpoint), daemon=True,
                         name="lazyfs-parent").start()
    journal = Journal(args.backing, args.trash, args.names, args.events)
    ops = LazyOps(journal)
    threading.Thread(target=serve_control, args=(args.control, journal, ops.mutex), daemon=True,
                     name="lazyfs-control").start()
    print(f"lazyfs: serving {args.backing} at {args.mountpoint}", file=sys.stderr, flush=True)
    try:
        mfusepy.FUSE(ops, args.mountpoint, foreground=True, nothreads=False,
                     fsname=args.fsname, subtype=args.subtype, auto_unmount=True, hard_remove=True,
                     entry_timeout=args.cache_s, attr_timeout=args.cache_s, negative_timeout=args.cache_s)
    except RuntimeError as e:
        if ops.served:  # SIGTERM at teardown ends libfuse's loop with a non-zero status
            print(f"lazyfs: stopped (FUSE loop status {e})", file=sys.stderr)
            return 0
        print(f"lazyfs: mount failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

