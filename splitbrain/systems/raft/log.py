"""Raft's persistent state: currentTerm and votedFor in an atomically rewritten file, the
log in an fsync'd append-only file.

Truncation (a follower dropping a conflicting suffix) is itself a record, so the file
stays append-only; replay applies records in order. Entries are appended in memory
first and reach the disk on :meth:`RaftLog.sync`, so a leader can group many client
commands into one fsync. Nothing is counted as stored (``persisted``) before that.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from splitbrain.systems.common.storage import AppendLog, read_json, write_json

Entry = tuple[int, dict[str, Any]]  # (term, command)


class RaftLog:
    def __init__(self, data_dir: str, fsync: bool = True) -> None:
        """``fsync=False`` is the ``no-fsync`` bug: writes reach the OS, never the disk."""
        os.makedirs(data_dir, exist_ok=True)
        self.fsync = fsync
        self._meta_path = Path(data_dir) / "raft-state.json"
        meta = read_json(self._meta_path, {"term": 0, "vote": None}, fsync)
        self.term: int = int(meta["term"])
        self.vote: str | None = meta["vote"]
        self._file, records = AppendLog.open(Path(data_dir) / "raft-log", fsync)
        self.entries: list[Entry] = []
        for r in records:
            if "x" in r:
                del self.entries[r["x"] - 1 :]
            else:
                del self.entries[r["i"] - 1 :]
                self.entries.append((r["t"], r["c"]))
        self.persisted = len(self.entries)
        self._pending: list[Any] = []
        if len(records) > len(self.entries) + 1000:  # replay found much garbage: compact
            self._file.rewrite([{"i": i + 1, "t": t, "c": c} for i, (t, c) in enumerate(self.entries)])

    def save_meta(self, term: int, vote: str | None) -> None:
        """Durably record term and vote; called before any answer that depends on them."""
        if (term, vote) != (self.term, self.vote):
            write_json(self._meta_path, {"term": term, "vote": vote}, self.fsync)
            self.term, self.vote = term, vote

    @property
    def last_index(self) -> int:
        return len(self.entries)

    def term_at(self, index: int) -> int:
        if index <= 0 or index > len(self.entries):
            return 0
        return self.entries[index - 1][0]

    def entry(self, index: int) -> Entry:
        return self.entries[index - 1]

    def slice(self, start: int, limit: int) -> list[Entry]:
        return self.entries[start - 1 : start - 1 + limit]

    def append(self, term: int, cmd: dict[str, Any]) -> int:
        self.entries.append((term, cmd))
        self._pending.append({"i": len(self.entries), "t": term, "c": cmd})
        return len(self.entries)

    def truncate_from(self, index: int) -> None:
        """Drop entries at ``index`` and after (a conflicting suffix)."""
        del self.entries[index - 1 :]
        self._pending = [r for r in self._pending if r.get("i", 0) < index]
        self._pending.append({"x": index})
        self.persisted = min(self.persisted, index - 1)

    def sync(self) -> None:
        if self._pending:
            self._file.append(self._pending, self.fsync)
            self._pending = []
        self.persisted = len(self.entries)

    def close(self) -> None:
        self._file.close()
