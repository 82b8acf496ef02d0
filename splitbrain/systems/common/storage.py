"""Durable storage for node state: what a node promised must survive ``kill -9``.

Two shapes cover every need of a consensus node:

* small state (term, vote, ballot) rewritten whole: :func:`atomic_write` writes a
  temporary file, fsyncs it, renames it over the old one and fsyncs the directory,
  so a crash leaves either the old or the new file, never a mix;
* a growing log: :class:`AppendLog` appends checksummed JSON lines and fsyncs once per
  batch. A crash mid-write can tear only the last batch; :meth:`AppendLog.open`
  drops it (and truncates the file there) instead of failing to start, and stops
  the node on a bad record that intact ones follow (:func:`_intact_prefix`).

:class:`GroupCommitLog` is the asynchronous cousin of :class:`AppendLog` for nodes that
await durability inside a message handler (a paxos acceptor's promise leaves only after
its fsync): appends arriving while an fsync runs share the next one, and the fsync runs
in a thread so the event loop keeps serving. Its records are plain JSON lines (no
checksum), the format paxos and ring have always written.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def fsync(fd: int) -> None:
    """fsync, or stop the node: a failed fsync is not retried.

    After an fsync fails the kernel may already have dropped the dirty pages it
    could not write, so a retry that succeeds would claim durability for data
    that is gone (PostgreSQL's "fsyncgate"). Like PostgreSQL since then, the
    node stops at once and recovers from what its disk really holds.
    """
    try:
        os.fsync(fd)
    except OSError as e:
        sys.stderr.write(f"FATAL fsync failed ({e}); stopping rather than trusting unsynced data\n")
        sys.stderr.flush()
        os._exit(70)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes, sync: bool = True) -> None:
    """Replace ``path`` whole; with ``sync=False`` (a seeded bug) nothing is made durable."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        if sync:
            fsync(fh.fileno())
    os.replace(tmp, p)
    if sync:
        _fsync_dir(p.parent)


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def write_json(path: str | os.PathLike[str], obj: Any, sync: bool = True) -> None:
    atomic_write(path, _json(obj), sync)


class CorruptStateError(Exception):
    """A state file written with fsyncs is empty or cut short, or a log appended to with fsyncs has
    a bad record before intact ones: the disk broke a promise, and a node that read past it would
    forget a vote, a term or a record it acknowledged. The message names the file (and the record)."""


def read_json(path: str | os.PathLike[str], default: Any = None, sync: bool = True) -> Any:
    """The file's JSON, or ``default`` when it is missing; ``sync`` says how it was written (as
    :func:`write_json`'s).

    Written with fsyncs, :func:`atomic_write` never leaves the file empty or cut (a crash leaves
    the old file or the new one), so an empty or cut file is corruption: :class:`CorruptStateError`,
    and the node stops instead of forgetting what it promised. Written without them (a seeded
    ``no-fsync`` bug), a power loss keeps the rename and drops the data: an empty or cut file reads
    as never written, what the bug says it forgets (a node that refused to start made its run end
    255, lost control, instead of showing the bug)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        return default
    try:
        if data.strip():
            return json.loads(data)
        problem = "is empty"
    except ValueError as e:  # JSONDecodeError, or UnicodeDecodeError for bytes that are not text
        problem = f"is cut short or corrupt ({e})"
    if not sync:
        return default
    raise CorruptStateError(f"state file {p} {problem}, though every write of it was fsync'd")


def _encode(record: Any) -> bytes:
    body = _json(record)
    return b"%08x %s\n" % (zlib.crc32(body), body)


def _decode(line: bytes) -> Any:
    """The record in one line, or raise ValueError when the line is torn or corrupt."""
    if not line.endswith(b"\n") or len(line) < 10 or line[8:9] != b" ":
        raise ValueError("torn record")
    body = line[9:-1]
    if int(line[:8], 16) != zlib.crc32(body):
        raise ValueError("checksum mismatch")
    return json.loads(body)


class AppendLog:
    """An append-only file of JSON records, fsync'd per :meth:`append` call."""

    def __init__(self, path: Path, fh: Any) -> None:
        self.path = path
        self._fh = fh

    @classmethod
    def open(cls, path: str | os.PathLike[str], sync: bool = True) -> tuple[AppendLog, list[Any]]:
        """Open (creating) the log; returns it and every intact record, in order.

        Reading stops at the first bad record: only the last batch can be torn by a
        crash, and anything after a bad record cannot be trusted to follow it. ``sync``
        says how it was appended to (as :meth:`append`'s): a synced log with intact
        records after a bad one raises :class:`CorruptStateError` (:func:`_intact_prefix`).
        """
        p = Path(path)
        records = _intact_prefix(p, _decode, sync)
        af = open(p, "ab")
        _fsync_dir(p.parent)
        return cls(p, af), records

    def append(self, records: list[Any], sync: bool = True) -> None:
        if not records:
            return
        self._fh.write(b"".join(_encode(r) for r in records))
        self._fh.flush()
        if sync:
            fsync(self._fh.fileno())

    def rewrite(self, records: list[Any]) -> None:
        """Replace the whole log atomically (compaction)."""
        self._fh.close()
        atomic_write(self.path, b"".join(_encode(r) for r in records))
        self._fh = open(self.path, "ab")

    def close(self) -> None:
        self._fh.close()


def _json_line(line: bytes) -> Any:
    if not line.endswith(b"\n"):
        raise ValueError("torn record")
    return json.loads(line)


def _intact_prefix(path: Path, decode: Callable[[bytes], Any], sync: bool = True, cut: bool = True) -> list[Any]:
    """The records before the first torn or unreadable line, with the file cut there.

    A crash mid-write leaves a torn last line. Records appended after it would sit
    behind a line that reading stops at, and be lost on the next restart (an acceptor
    forgetting a promise it made), so the tail goes before anything is appended. A
    last line without its newline is torn too, even when it parses: the next append
    would be glued onto it.

    ``sync`` says every append was fsync'd before the next one began (as the writer's
    ``sync``): then only the last batch can be damaged, and a bad record that intact ones
    follow means the disk lost records it had promised, so :func:`_refuse_a_gap` stops
    the node instead of dropping them. Unsynced (a seeded ``no-fsync`` bug, or a
    best-effort log), a power loss may keep any mix of what it never synced: dropping
    everything from the first bad line is what the bug says it forgets.
    """
    records: list[Any] = []
    if not path.exists():
        return records
    good = 0
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            try:
                records.append(decode(line))
            except ValueError as e:
                if sync:
                    _refuse_a_gap(path, fh, decode, number, good, line, e)
                break
            good += len(line)
    if cut and good != path.stat().st_size:
        with open(path, "r+b") as fh:
            fh.truncate(good)
            fh.flush()
            fsync(fh.fileno())
    return records


def _refuse_a_gap(path: Path, rest: Iterable[bytes], decode: Callable[[bytes], Any], number: int, offset: int,
                  bad: bytes, error: ValueError) -> None:
    """Raise :class:`CorruptStateError` if an intact record follows the bad line ``bad`` (record
    ``number``, at byte ``offset``; ``rest`` holds the lines after it) in a synced log.

    The only legitimate damage there is to the last batch, the one whose fsync never
    returned (so none of it was acknowledged). A process crash cuts it short: nothing
    intact follows. A power loss may keep any of its sectors and lose others, and a lost
    sector past the old end of the file reads as NUL bytes, which JSON text never holds
    (the disk fault's torn write shows it when a batch spans several writes: the file goes
    back to its synced size, then a prefix of the newest write lands past a hole). So an
    intact record behind bad lines without a NUL can only be behind corruption: etcd's WAL
    draws the same line (a record with a zeroed sector is torn, any other bad one is not),
    and like it cannot tell a synced write the disk lost as zeros from an unsynced one.
    """
    hole = b"\0" in bad
    for line in rest:
        try:
            decode(line)
        except ValueError:
            hole = hole or b"\0" in line
            continue
        if hole:
            return
        raise CorruptStateError(
            f"log file {path}: record {number} at byte {offset} is unreadable ({error}), yet intact records "
            "follow it; every append to it was fsync'd, so only its last batch may be cut")


class GroupCommitLog:
    """Append-only JSON-lines records; :meth:`append` returns once they are fsync'd.

    Appends arriving while an fsync runs share the next one (group commit), so a busy
    acceptor pays one fsync per batch, not per message. ``sync=False`` is a seeded bug
    (:meth:`append` returns once the records are written, never fsync'd) or a log written
    only by :meth:`append_nowait`; it also says how to read the log (:func:`_intact_prefix`):
    a synced log with intact records after a bad one raises :class:`CorruptStateError`."""

    def __init__(self, path: Path, sync: bool = True) -> None:
        self.path = path
        self.sync = sync
        path.parent.mkdir(parents=True, exist_ok=True)
        _intact_prefix(path, _json_line, sync)
        self.fh = open(path, "ab")  # noqa: SIM115
        _fsync_dir(path.parent)  # the new file's name is durable before anything is promised in it
        self._batch: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flushing = False

    def read(self) -> list[Any]:
        """Every record up to the first torn or unreadable line (opening cut the tail off)."""
        return _intact_prefix(self.path, _json_line, self.sync, cut=False)

    def append_nowait(self, records: list[Any]) -> None:
        """Best effort, no fsync (for state that can be re-learned)."""
        self.fh.write(b"".join(_json(r) + b"\n" for r in records))
        self.fh.flush()

    async def append(self, records: list[Any]) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.extend(_json(r) + b"\n" for r in records)
        self._waiters.append(fut)
        if not self._flushing:
            self._flushing = True
            asyncio.create_task(self._flush())
        await fut

    async def _flush(self) -> None:
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                waiters, self._waiters = self._waiters, []
                data = b"".join(batch)
                await asyncio.to_thread(self._write_sync, data)
                for w in waiters:
                    if not w.done():
                        w.set_result(None)
        finally:
            self._flushing = False

    def _write_sync(self, data: bytes) -> None:
        self.fh.write(data)
        self.fh.flush()
        if self.sync:
            fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()
