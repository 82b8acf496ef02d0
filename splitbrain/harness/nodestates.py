"""Node states over a run: what each node said it was (role, term, leader), polled.

A wire-protocol system may answer ``{"op": "status"}`` with its own view
(:data:`splitbrain.systems.wire.STATUS_OP`): raft its role, term, leader and commit
index; paxos the same for its ballot; ring its epoch and whom it suspects. The
harness asks every node at a bounded rate (``interval_s``, one request in flight per
node, ``timeout_s`` each) and writes one line to ``node-states.jsonl`` per *change*
of what matters for reading a run (reachable or not, role, term, leader, suspects,
members);
the commit index rides along but does not make a line by itself, or every poll
would. A node that does not answer in time (killed, paused, overloaded) is recorded
as ``{"up": false}`` until it answers again. A node may say how long ago its state
last changed (``age_s``, raft does): the change is then dated there, not at the poll.

The report draws these as one band per node and uses them to say, for a wrong
answer, in which role and term the node that gave it was. The nemesis's kill and
pause ops in the history say *why* a node was silent; this file says what the node
itself believed when it spoke.

Bounded: at most ``max_records`` lines; later changes are counted, not written.
Times are nanoseconds on the history's clock (0 = the test's start).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

INTERVAL_S = 0.2
TIMEOUT_S = 0.5
MAX_RECORDS = 20_000
#: fields whose change makes a new line (``commit`` alone does not)
KEYED = ("up", "role", "term", "leader", "suspects", "members")
FILE = "node-states.jsonl"


@dataclass
class NodeState:
    """One change of one node's state, from ``t_ns`` until the node's next line."""

    t_ns: int
    node: str
    up: bool
    role: str | None = None
    term: int | None = None
    leader: str | None = None
    commit: int | None = None
    suspects: list[str] | None = None
    #: the configuration the node believes in (raft's membership changes)
    members: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[Any, ...]:
        return tuple(json.dumps(getattr(self, k), sort_keys=True) for k in KEYED)


def state_from_status(t_ns: int, node: str, value: Any) -> NodeState:
    """A status answer (any dict) as a :class:`NodeState`; unknown fields go to ``extra``."""
    v = value if isinstance(value, dict) else {}
    age = v.get("age_s")
    if isinstance(age, int | float) and not isinstance(age, bool) and 0 <= age < 3600:
        # the node says when it changed: place the change there, not at the poll (not before the test's start)
        t_ns = max(min(t_ns, 0), t_ns - int(age * 1e9))
    term = v.get("term")
    commit = v.get("commit")
    suspects = v.get("suspects")
    members = v.get("members")
    return NodeState(
        t_ns=t_ns, node=node, up=True,
        role=str(v["role"]) if v.get("role") is not None else None,
        term=term if isinstance(term, int) and not isinstance(term, bool) else None,
        leader=str(v["leader"]) if v.get("leader") is not None else None,
        commit=commit if isinstance(commit, int) and not isinstance(commit, bool) else None,
        suspects=[str(s) for s in suspects][:64] if isinstance(suspects, list) else None,
        members=sorted(str(m) for m in members)[:64] if isinstance(members, list) else None,
        extra={str(k): v[k] for k in list(v)[:16]
               if k not in ("role", "term", "leader", "commit", "suspects", "members", "age_s")},
    )


class StateLog:
    """Keeps the changes per node; bounded."""

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self.max_records = max_records
        self.records: list[NodeState] = []
        self.last: dict[str, tuple[Any, ...]] = {}
        self.last_t: dict[str, int] = {}
        self.polls = 0
        self.dropped = 0

    def observe(self, st: NodeState) -> bool:
        """Record ``st`` if it differs from the node's previous state; True if it was new."""
        self.polls += 1
        k = st.key()
        if self.last.get(st.node) == k:
            return False
        self.last[st.node] = k
        prev = self.last_t.get(st.node)
        if prev is not None and st.t_ns < prev:
            st.t_ns = prev  # a change dated before the node's previous line: keep the lines in order
        self.last_t[st.node] = st.t_ns
        if len(self.records) >= self.max_records:
            self.dropped += 1
            return True
        self.records.append(st)
        return True

    def write(self, path: Path) -> Path:
        with open(path, "w", encoding="utf-8") as fh:
            for r in self.records:
                d = asdict(r)
                fh.write(json.dumps({k: v for k, v in d.items() if v is not None and v != {}},
                                    separators=(",", ":"), default=str) + "\n")
        return path

    def summary(self) -> dict[str, Any]:
        return {"changes": len(self.records) + self.dropped, "recorded": len(self.records),
                "sampled_away": self.dropped, "polls": self.polls}


class StatePoller:
    """Polls every node's ``status`` until stopped. ``address(node)`` -> (host, port)."""

    def __init__(self, nodes: list[str], address: Callable[[str], tuple[str, int]], origin_ns: int,
                 interval_s: float = INTERVAL_S, timeout_s: float = TIMEOUT_S,
                 log: StateLog | None = None) -> None:
        self.nodes, self.address, self.origin_ns = list(nodes), address, origin_ns
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.log = log or StateLog()
        self.unsupported: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._poll(n)) for n in self.nodes]

    async def stop(self, timeout_s: float = 2.0) -> None:
        """Stop polling, bounded: a flag as well as a cancel, since a cancel that lands while a
        ``wait_for`` completes can be swallowed (Python 3.11) and the task would poll on."""
        self._stopping = True
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout_s)
        self._tasks = []

    def _now(self) -> int:
        return time.monotonic_ns() - self.origin_ns

    async def _poll(self, node: str) -> None:
        from splitbrain.systems.wire import STATUS_OP, ClientConnection

        conn: ClientConnection | None = None
        try:
            while not self._stopping:
                started = time.monotonic()
                t = self._now()
                try:
                    if conn is None:
                        host, port = self.address(node)
                        conn = ClientConnection(host, port)
                    resp = await asyncio.wait_for(conn.request({"op": STATUS_OP}, self.timeout_s), self.timeout_s)
                except (TimeoutError, ConnectionError, OSError):
                    # a hung request may answer after the node resumes: start a fresh connection
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(conn.close(), 0.5)
                    conn = None
                    self.log.observe(NodeState(t_ns=t, node=node, up=False))
                else:
                    if not resp.get("ok") or not isinstance(resp.get("value"), dict):
                        self.unsupported.add(node)  # the system has no status call: stop asking
                        return
                    self.log.observe(state_from_status(t, node, resp["value"]))
                await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 0.5)


def read_states(path: Path) -> list[NodeState]:
    """Records from a ``node-states.jsonl`` (for the report); malformed lines are skipped."""
    out: list[NodeState] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                d = json.loads(line)
                out.append(NodeState(**{k: d[k] for k in d if k in NodeState.__dataclass_fields__}))
            except (ValueError, TypeError):
                continue
    return out
