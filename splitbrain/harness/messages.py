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
"""

from __future__ import annotations

import json
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
                out.append(MessageRecord(**json.loads(line)))
    return out
