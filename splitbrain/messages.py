"""The message log of a run: ``messages.jsonl`` and its per-type, per-link counts.

One :class:`MessageRecord` per message that crossed a link the harness can see:
node to node, client to node and back, node to a service and back. Whoever
observes messages (the Maelstrom shims today, the local backend's link proxies
later) reports two *events* per message -- ``send`` where it left, ``recv`` where
it was delivered -- under one unique id; :class:`MessageLog` joins them. A
message sent but never delivered by the end of the run is ``dropped`` (a fault
cut or lost it, or its receiver was down or paused until the end).

Bounded: at most ``max_records`` records are kept in full (the first ones);
every later message is still *counted* (per type, per link, dropped or not) and
the number sampled away is written in the summary, so the counts in the report
are exact even when the file is not complete.

Times are nanoseconds on the history's clock (0 = the test's start).

:class:`LinkTap` is the local backend's observer: its link proxies see each
message once, at the moment they forward or drop it, so they record finished
records (no send/recv join) with the message's size, its JSON ``type`` and ids
(read from the line's first bytes, never fully parsed: recording must not slow
the proxies), and the fault that dropped or delayed it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MAX_RECORDS = 50_000


@dataclass
class MessageRecord:
    """One message. ``kind`` is ``node`` (node to node), ``client`` or ``service``."""

    src: str
    dest: str
    type: str
    kind: str
    msg_id: int | None = None
    in_reply_to: int | None = None
    send_ns: int | None = None
    deliver_ns: int | None = None
    dropped: bool = False
    #: size on the wire (link proxies only)
    bytes: int | None = None
    #: what a fault did to it: ``partition`` (cut, dropped), ``loss`` (dropped), ``delay`` (held back)
    fault: str | None = None
    #: ids read from the payload (``term``, ``seq``, ``rid``, ``slot``, ``b`` = ballot round, ...)
    ids: dict[str, int] | None = None

    @property
    def link(self) -> str:
        return f"{self.src}->{self.dest}"


class MessageLog:
    """Joins send/recv events into records; counts everything, keeps ``max_records``."""

    def __init__(self, origin_ns: int, max_records: int = MAX_RECORDS) -> None:
        self.origin_ns = origin_ns  # monotonic ns of the test's start
        self.max_records = max_records
        self.records: dict[str, MessageRecord] = {}
        self.by_type: Counter[str] = Counter()
        self.by_link: Counter[str] = Counter()
        self.sampled_away = 0
        self.recv_unmatched = 0  # deliveries of messages sampled away (or whose sender died before reporting)
        self.early: dict[str, int | None] = {}  # deliveries reported before their send (observers report late)

    def _t(self, t: Any) -> int | None:
        return t - self.origin_ns if isinstance(t, int) else None

    def event(self, ev: dict[str, Any]) -> None:
        """One ``send``/``recv`` event: ``{"ev", "u", "t", "src", "dest", "type", "msg_id", "in_reply_to", "kind"}``."""
        uid = str(ev.get("u"))
        rec = self.records.get(uid)
        if ev.get("ev") == "send":
            if rec is not None:
                return
            self.by_type[str(ev.get("type"))] += 1
            self.by_link[f"{ev.get('src')}->{ev.get('dest')}"] += 1
            if len(self.records) >= self.max_records:
                self.sampled_away += 1
                return
            self.records[uid] = MessageRecord(
                src=str(ev.get("src")), dest=str(ev.get("dest")), type=str(ev.get("type")),
                kind=str(ev.get("kind") or "node"), msg_id=_int(ev.get("msg_id")),
                in_reply_to=_int(ev.get("in_reply_to")), send_ns=self._t(ev.get("t")),
                deliver_ns=self.early.pop(uid, None))
        elif rec is not None:
            if rec.deliver_ns is None:
                rec.deliver_ns = self._t(ev.get("t"))
        elif len(self.early) < self.max_records:
            self.early[uid] = self._t(ev.get("t"))
        else:
            self.recv_unmatched += 1

    def finish(self) -> None:
        self.recv_unmatched += len(self.early)
        self.early.clear()
        for rec in self.records.values():
            rec.dropped = rec.deliver_ns is None

    def summary(self) -> dict[str, Any]:
        """Counts for ``results.json`` and the report."""
        self.finish()
        dropped_by_link: Counter[str] = Counter(r.link for r in self.records.values() if r.dropped)
        latencies = sorted(r.deliver_ns - r.send_ns for r in self.records.values()
                           if r.kind == "node" and r.deliver_ns is not None and r.send_ns is not None)
        return {
            "total": sum(self.by_type.values()),
            "recorded": len(self.records),
            "sampled_away": self.sampled_away,
            "by_type": dict(self.by_type.most_common()),
            "by_link": dict(sorted(self.by_link.items())),
            "dropped": sum(dropped_by_link.values()),
            "dropped_by_link": dict(sorted(dropped_by_link.items())),
            "node_latency_ms": _quantiles(latencies),
        }

    def write(self, path: Path) -> Path:
        self.finish()
        with open(path, "w", encoding="utf-8") as fh:
            for rec in self.records.values():
                fh.write(json.dumps(asdict(rec), separators=(",", ":")) + "\n")
        return path


#: a message's type: the first ``"type"`` or ``"t"`` string field (raft, paxos, ring; Maelstrom's body.type)
_TYPE = re.compile(rb'"(?:type|t)":\s*"([^"\\]{1,40})"')
#: ids worth showing next to an arrow; ``b`` is a paxos ballot ``[round, node]`` (its round is kept)
_IDS = re.compile(rb'"(term|seq|rid|slot|b|msg_id|in_reply_to|epoch)":\s*\[?(\d{1,18})[,}\]]')
#: bytes of a line the tap reads for its type and ids
HEAD_BYTES = 256


def parse_head(line: bytes) -> tuple[str, dict[str, int] | None]:
    """The type and ids of a JSON-line message, from its first ``HEAD_BYTES`` (``?``: not JSON-ish)."""
    head = line[:HEAD_BYTES]
    m = _TYPE.search(head)
    ids = {k.decode(): int(v) for k, v in _IDS.findall(head)} or None
    return (m.group(1).decode("utf-8", "replace") if m else "?"), ids


class LinkTap:
    """Message records from link proxies that see whole messages (see the module docs).

    Called only on the proxies' event-loop thread while recording, and read after
    that thread stopped, so it needs no lock. Each record is a tuple until written:
    the hot path does a clock read, a bounded regex and two counter increments.
    Times are ``time.monotonic_ns()`` until :meth:`write` subtracts ``origin_ns``.
    """

    def __init__(self, origin_ns: int, max_records: int = MAX_RECORDS) -> None:
        self.origin_ns = origin_ns
        self.max_records = max_records
        self.rows: list[tuple[str, str, int, int | None, int, bytes, str | None]] = []
        self.away_by_link: Counter[str] = Counter()  # links of the messages sampled away
        self.sampled_away = 0
        self.dropped_away = 0  # dropped messages among those sampled away

    def record(self, src: str, dst: str, t_ns: int, deliver_ns: int | None, line: bytes,
               fault: str | None) -> None:
        rows = self.rows
        if len(rows) < self.max_records:
            n = len(line)
            rows.append((src, dst, t_ns, deliver_ns, n, line if n <= HEAD_BYTES else line[:HEAD_BYTES], fault))
            return
        self.sampled_away += 1
        self.away_by_link[f"{src}->{dst}"] += 1
        if deliver_ns is None:
            self.dropped_away += 1

    @property
    def sent(self) -> int:
        return len(self.rows) + self.sampled_away

    def records(self) -> list[MessageRecord]:
        out = []
        o = self.origin_ns
        for src, dst, t, d, n, head, fault in self.rows:
            typ, ids = parse_head(head)
            out.append(MessageRecord(src=src, dest=dst, type=typ, kind="node", send_ns=t - o,
                                     deliver_ns=None if d is None else d - o, dropped=d is None,
                                     bytes=n, fault=fault, ids=ids,
                                     msg_id=(ids or {}).get("msg_id"), in_reply_to=(ids or {}).get("in_reply_to")))
        return out

    def write(self, path: Path) -> dict[str, Any]:
        """Write ``messages.jsonl``; returns the summary for ``results.json``."""
        recs = self.records()
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        with open(path, "w", encoding="utf-8") as fh:
            fh.writelines(dumps({k: v for k, v in rec.__dict__.items() if v is not None}) + "\n" for rec in recs)
        by_type: Counter[str] = Counter(r.type for r in recs)
        if self.sampled_away:
            by_type["(sampled away)"] = self.sampled_away
        dropped_by_link: Counter[str] = Counter(r.link for r in recs if r.dropped)
        by_fault: Counter[str] = Counter(r.fault for r in recs if r.fault)
        latencies = sorted(r.deliver_ns - r.send_ns for r in recs
                           if r.deliver_ns is not None and r.send_ns is not None)
        return {
            "captured_by": "link proxies",
            "total": self.sent,
            "recorded": len(recs),
            "sampled_away": self.sampled_away,
            "by_type": dict(by_type.most_common()),
            "by_link": dict(sorted((Counter(r.link for r in recs) + self.away_by_link).items())),
            "dropped": sum(dropped_by_link.values()) + self.dropped_away,
            "dropped_by_link": dict(sorted(dropped_by_link.items())),
            "by_fault": dict(by_fault),
            "node_latency_ms": _quantiles(latencies),
            "recorded_until_s": round(recs[-1].send_ns / 1e9, 3) if recs and recs[-1].send_ns is not None else None,
        }


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _quantiles(ns: list[int]) -> dict[str, float]:
    if not ns:
        return {}
    pick = lambda q: round(ns[min(len(ns) - 1, int(q * len(ns)))] / 1e6, 3)  # noqa: E731
    return {"p50": pick(0.5), "p99": pick(0.99), "max": round(ns[-1] / 1e6, 3), "n": len(ns)}


def read_messages(path: Path) -> list[MessageRecord]:
    """Records from a ``messages.jsonl`` (for reports and diagrams)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)
                out.append(MessageRecord(**{k: v for k, v in d.items() if k in MessageRecord.__dataclass_fields__}))
    return out
