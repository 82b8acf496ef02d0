"""What a disk has promised: an undo journal of everything not yet fsync'd (stdlib only).

This is the durability model behind the ``disk`` fault (Jepsen's lazyfs is the
model). Every operation goes straight through to a *backing directory*, so reads
are plain reads and the node sees a normal filesystem; beside that, the journal
remembers how to get back to the last *durable* state:

* file contents: the first time a byte range that was durable is overwritten or
  truncated away, its old bytes are saved (appends save nothing, only the old
  size); ``fsync``/``fdatasync`` of the file forgets them (they became durable);
* names: creating, removing and renaming files and directories wait in order
  until they are durable, by one of two rules (``names``). ``ordered`` (the
  default), a journaling filesystem's (ext4 ``data=ordered``, XFS): the next
  fsync of anything commits every name change before it, since the metadata
  journal is one log. ``posix``: only an fsync of the directory holding a name
  makes it durable, all POSIX promises (an etcd data dir does not survive it:
  etcd never fsyncs the directory it creates ``member/`` in). Removed and
  replaced objects are parked in a trash directory beside the backing one
  until then, so they can come back.

A :meth:`Journal.crash` is a power loss: names are undone newest first, then
every file not fsync'd goes back to its durable bytes. With ``torn`` the
newest unsynced write keeps a random prefix of itself (a torn sector write).
The returned :class:`CrashReport` says what was dropped, which is how the fault
is verified. ``fail_next_fsyncs`` and ``fsync_delay_s`` are the failing-disk
and slow-disk knobs.

Files are rolled back through a descriptor the journal holds, so a rename or
unlink after the write does not lose track of them. Callers serialize all
calls (one lock in the filesystem daemon).
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: when a name change becomes durable: at the next fsync of anything, or of its directory only
NAME_RULES = ("ordered", "posix")
#: how many paths a report lists (the counts are always complete)
REPORT_PATHS = 20
#: a disk writes a sector whole or not at all; a torn write ends on a sector boundary of the file
#: (what etcd's WAL and other logs are built to detect: the lost sectors read as before the write)
SECTOR = 512


@dataclass
class CrashReport:
    """What a simulated power loss dropped."""

    dropped_bytes: int = 0  # bytes written (or truncated away) since the last fsync, now gone
    dropped_files: int = 0  # files whose contents went back to their last fsync
    undone_names: int = 0  # creates, removes and renames that no directory fsync made durable
    paths: list[str] = field(default_factory=list)
    torn: dict[str, object] | None = None  # {"path", "offset", "kept", "of"} for torn-write

    def to_json(self) -> dict[str, object]:
        return {"dropped_bytes": self.dropped_bytes, "dropped_files": self.dropped_files,
                "undone_names": self.undone_names, "paths": self.paths, "torn": self.torn}


@dataclass
class _Dirty:
    """Unsynced changes to one file: enough to restore its durable bytes."""

    fd: int
    path: str
    orig_size: int
    saved: list[tuple[int, bytes]] = field(default_factory=list)
    covered: list[tuple[int, int]] = field(default_factory=list)  # saved ranges, sorted, disjoint
    unsynced_bytes: int = 0
    last_write: tuple[int, bytes] | None = None
    last_seq: int = 0


@dataclass
class _Name:
    """One namespace change and how to undo it."""

    kind: str  # create | mkdir | unlink | rmdir | rename
    path: str
    dirs: set[str]
    old: str | None = None  # rename source
    parked: str | None = None  # trash path of what was removed or replaced


def _load_events(path: str | None) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass  # a line cut by the container's kill
    return out


def _parent(path: str) -> str:
    return os.path.dirname(path.rstrip("/")) or "/"


def _gaps(covered: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """Parts of [start, end) not in ``covered``."""
    out, pos = [], start
    for a, b in covered:
        if b <= pos:
            continue
        if a >= end:
            break
        if a > pos:
            out.append((pos, a))
        pos = max(pos, b)
    if pos < end:
        out.append((pos, end))
    return out


def _merge(covered: list[tuple[int, int]], new: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(covered + new):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


class Journal:
    """The undo journal over ``backing`` (names are paths from the mount root, ``/a/b``)."""

    def __init__(self, backing: str, trash: str, names: str = "ordered", events: str | None = None) -> None:
        """``events``: a file that keeps the failed fsyncs across restarts of the daemon (in a
        container the daemon dies with its node; the fault still reports which fsync failed)."""
        if names not in NAME_RULES:
            raise ValueError(f"names must be one of {', '.join(NAME_RULES)}, got {names!r}")
        self.names_rule = names
        self.backing = os.path.abspath(backing)
        self.trash = os.path.abspath(trash)
        os.makedirs(self.trash, exist_ok=True)
        self._dirty: dict[tuple[int, int], _Dirty] = {}
        self._names: list[_Name] = []
        self._seq = 0
        self._parked = 0
        self.fail_next_fsyncs = 0
        self.fsync_delay_s = 0.0
        self.events = events
        self.failed_fsyncs: list[dict[str, object]] = _load_events(events)
        self.fsyncs = 0
        #: after a crash that froze the disk (power is off until the node's container dies)
        self.frozen = False

    def real(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    # ------------------------------------------------------------------ contents

    def _dirty_for(self, fd: int, path: str) -> _Dirty:
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        d = self._dirty.get(key)
        if d is None:
            own = os.open(f"/proc/self/fd/{fd}", os.O_RDWR)
            d = self._dirty[key] = _Dirty(own, path, st.st_size)
        return d

    def _save(self, d: _Dirty, start: int, end: int) -> None:
        end = min(end, d.orig_size)
        if start >= end:
            return
        gaps = _gaps(d.covered, start, end)
        for a, b in gaps:
            d.saved.append((a, os.pread(d.fd, b - a, a)))
        d.covered = _merge(d.covered, gaps)

    def created(self, fd: int, path: str) -> None:
        """A new file (already created in the backing dir): its name and its contents are unsynced."""
        self._names.append(_Name("create", path, {_parent(path)}))
        self._dirty_for(fd, path).orig_size = 0

    def write(self, fd: int, path: str, data: bytes, offset: int) -> int:
        d = self._dirty_for(fd, path)
        self._save(d, offset, offset + len(data))
        n = os.pwrite(fd, data, offset)
        self._seq += 1
        d.unsynced_bytes += n
        d.last_write, d.last_seq = (offset, bytes(data[:n])), self._seq
        return n

    def truncate(self, fd: int, path: str, length: int) -> None:
        d = self._dirty_for(fd, path)
        size = os.fstat(fd).st_size
        self._save(d, length, size)
        os.ftruncate(fd, length)
        d.unsynced_bytes += abs(size - length)

    def fsync(self, fd: int, path: str) -> None:
        """fsync/fdatasync of a file: its contents become durable (or the armed fault fires)."""
        self.fsyncs += 1
        if self.fsync_delay_s:
            time.sleep(self.fsync_delay_s)
        if self.fail_next_fsyncs > 0:
            self.fail_next_fsyncs -= 1
            self.failed_fsyncs.append({"path": path, "at": time.time(), "fsync": self.fsyncs})
            if self.events:
                with open(self.events, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(self.failed_fsyncs[-1]) + "\n")
            raise OSError(errno.EIO, "injected fsync failure")
        st = os.fstat(fd)
        d = self._dirty.pop((st.st_dev, st.st_ino), None)
        if d is not None:
            os.close(d.fd)
        if self.names_rule == "ordered":
            self._commit_names(lambda n: True)

    # ------------------------------------------------------------------ names

    def _park(self, real: str) -> str:
        self._parked += 1
        dst = os.path.join(self.trash, str(self._parked))
        os.rename(real, dst)
        return dst

    def mkdir(self, path: str, mode: int) -> None:
        os.mkdir(self.real(path), mode)
        self._names.append(_Name("mkdir", path, {_parent(path)}))

    def unlink(self, path: str) -> None:
        parked = self._park(self.real(path))
        self._names.append(_Name("unlink", path, {_parent(path)}, parked=parked))

    def rmdir(self, path: str) -> None:
        real = self.real(path)
        if os.listdir(real):
            raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), path)
        parked = self._park(real)
        self._names.append(_Name("rmdir", path, {_parent(path)}, parked=parked))

    def rename(self, old: str, new: str) -> None:
        src, dst = self.real(old), self.real(new)
        os.lstat(src)  # ENOENT before anything moves
        parked = None
        if os.path.lexists(dst):
            if os.path.isdir(dst) and not os.path.islink(dst):
                if not os.path.isdir(src):
                    raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), new)
                if os.listdir(dst):
                    raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), new)
            parked = self._park(dst)
        try:
            os.rename(src, dst)
        except OSError:
            if parked:
                os.rename(parked, dst)
            raise
        self._names.append(_Name("rename", new, {_parent(old), _parent(new)}, old=old, parked=parked))

    def linked(self, path: str) -> None:
        """A new name (symlink or hard link) already made in the backing dir."""
        self._names.append(_Name("create", path, {_parent(path)}))

    def fsyncdir(self, path: str) -> None:
        """The directory's entries become durable: every pending change touching it."""
        path = path.rstrip("/") or "/"
        if self.names_rule == "ordered":
            self._commit_names(lambda n: True)
            return
        for n in self._names:
            n.dirs.discard(path)
        self._commit_names(lambda n: not n.dirs)

    def _commit_names(self, durable: Callable[[_Name], bool]) -> None:
        keep = []
        for n in self._names:
            if not durable(n):
                keep.append(n)
            elif n.parked:
                self._discard(n.parked)
        self._names = keep

    def _discard(self, real: str) -> None:
        if os.path.isdir(real) and not os.path.islink(real):
            shutil.rmtree(real, ignore_errors=True)
        else:
            try:
                os.unlink(real)
            except FileNotFoundError:
                pass

    # ------------------------------------------------------------------ the crash

    def pending(self) -> dict[str, int]:
        return {"unsynced_bytes": sum(d.unsynced_bytes for d in self._dirty.values()),
                "unsynced_files": len(self._dirty), "unsynced_names": len(self._names)}

    def crash(self, rng: random.Random | None = None, torn: bool = False) -> CrashReport:
        """Power loss: back to the durable state (with ``torn``, the newest write half-done)."""
        report = CrashReport()
        last = max(self._dirty.values(), key=lambda d: d.last_seq, default=None)
        if torn and (last is None or last.last_write is None):
            last = None
        torn_write = last.last_write if last is not None and torn else None
        for n in reversed(self._names):
            report.undone_names += 1
            if len(report.paths) < REPORT_PATHS:
                report.paths.append(f"{n.kind} {n.path}")
            self._undo(n)
        self._names = []
        for d in self._dirty.values():
            report.dropped_files += 1
            report.dropped_bytes += d.unsynced_bytes
            if len(report.paths) < REPORT_PATHS:
                report.paths.append(f"write {d.path}")
            for off, data in d.saved:
                os.pwrite(d.fd, data, off)
            os.ftruncate(d.fd, d.orig_size)
        if torn_write is not None and last is not None:
            offset, data = torn_write
            kept = _torn_prefix(offset, len(data), rng or random.Random())
            os.pwrite(last.fd, data[:kept], offset)
            report.dropped_bytes -= kept
            report.torn = {"path": last.path, "offset": offset, "kept": kept, "of": len(data)}
        for d in self._dirty.values():
            os.close(d.fd)
        self._dirty = {}
        return report

    def _undo(self, n: _Name) -> None:
        try:
            if n.kind in ("create", "mkdir"):
                self._discard(self.real(n.path))
            elif n.kind in ("unlink", "rmdir") and n.parked:
                os.rename(n.parked, self.real(n.path))
            elif n.kind == "rename" and n.old is not None:
                os.rename(self.real(n.path), self.real(n.old))
                if n.parked:
                    os.rename(n.parked, self.real(n.path))
        except OSError:
            pass  # a later durable change moved it: the newest durable state wins

    def close(self) -> None:
        for d in self._dirty.values():
            os.close(d.fd)
        self._dirty = {}


def _torn_prefix(offset: int, size: int, rng: random.Random) -> int:
    """How much of a ``size``-byte write at ``offset`` a power loss keeps: up to a random sector
    boundary strictly inside it, or nothing when it lies within one sector (written whole or not)."""
    first = (offset // SECTOR + 1) * SECTOR
    bounds = range(first, offset + size, SECTOR)
    return rng.choice(bounds) - offset if bounds else 0

