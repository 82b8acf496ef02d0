"""One sentence that reads like a diagnosis: which node gave the wrong answer, as what, under which fault.

For an anomaly the checkers found, it picks the *focus* operation: the read that
cannot be placed (a stale read), else an acknowledged write or add the anomaly
names (a lost write), and the node that served it. Then, from the polled node
states (``node-states.jsonl``) and the messages (``messages.jsonl``), it says in
which role and term that node answered, who led the cluster then, when it last
heard from the leader (or, leaderless, from any peer), and which fault touched it:
a partition whose grudge names it, a kill/pause/clock/disk fault on it, else any
fault active then, else the one that ended just before. For example::

    read by process 7 at n3 returned 91 at 12.31 s while n3 was leader of term 4;
    n1 had been leader of term 5 since 11.80 s; n3 had received nothing from n1
    since 11.62 s (partition #2, 11.60-14.00 s, n3 cut off from n1, n2)

Everything is measured from the run's files; a part with no data (a system with no
status call, a backend that does not capture messages) is left out, never guessed.
"""

from __future__ import annotations

import bisect
from typing import Any

from splitbrain.harness.nodestates import NodeState
from splitbrain.reports.rundata import FaultWindow, RunData

READS = ("read", "txn", "rwtxn")
WRITES = ("write", "cas", "add", "incr", "append", "txn", "rwtxn")
FOLLOW_S = 5.0


def _involved(f: FaultWindow, node: str) -> str | None:
    """How fault ``f`` touches ``node``: a phrase, or None."""
    t = f.targets
    if isinstance(t, dict):
        grudge = t.get("grudge")
        if isinstance(grudge, dict):
            cut_from = sorted({str(s) for s in grudge.get(node) or []} |
                              {str(d) for d, srcs in grudge.items() if isinstance(srcs, list) and node in srcs})
            if cut_from:
                return f"{node} cut off from {', '.join(cut_from)}"
            return None
        nodes = t.get("nodes")
        if (isinstance(nodes, list) and node in nodes) or t.get("node") == node:
            return f"on {node}"
        links = t.get("links")
        if isinstance(links, list) and any(isinstance(lk, list) and node in lk for lk in links):
            return f"on links of {node}"
    elif isinstance(t, list) and node in t:
        return f"on {node}"
    return None


class States:
    """Node states by node, searchable by time."""

    def __init__(self, states: list[NodeState] | None) -> None:
        self.by_node: dict[str, list[NodeState]] = {}
        for st in states or []:
            self.by_node.setdefault(st.node, []).append(st)
        for lst in self.by_node.values():
            lst.sort(key=lambda s: s.t_ns)
        self.times = {n: [s.t_ns for s in lst] for n, lst in self.by_node.items()}

    def at(self, node: str, t_ns: int) -> NodeState | None:
        lst = self.by_node.get(node)
        if not lst:
            return None
        i = bisect.bisect_right(self.times[node], t_ns) - 1
        return lst[i] if i >= 0 else None

    def leader_at(self, t_ns: int) -> tuple[str, NodeState] | None:
        """The node that said it led with the highest term at ``t_ns``."""
        best: tuple[str, NodeState] | None = None
        for n in self.by_node:
            st = self.at(n, t_ns)
            if st is not None and st.up and st.role == "leader" and (best is None or (st.term or -1) > (best[1].term or -1)):
                best = (n, st)
        return best

    def since(self, node: str, t_ns: int, same: Any) -> int | None:
        """Start of the run of states of ``node`` up to ``t_ns`` for which ``same(state)`` holds."""
        lst = self.by_node.get(node) or []
        i = bisect.bisect_right(self.times.get(node, []), t_ns) - 1
        start = None
        while i >= 0 and same(lst[i]):
            start = lst[i].t_ns
            i -= 1
        return start


def _term_name(st: NodeState | None) -> str:
    name = (st.extra or {}).get("term_name") if st is not None else None
    return str(name) if isinstance(name, str) else "term"


def _as(st: NodeState | None) -> str:
    if st is None:
        return ""
    if not st.up:
        return "not answering status polls"
    parts = [st.role or "?"]
    if st.term is not None:
        parts.append(f"{_term_name(st)} {st.term}")
    return ", ".join(parts)


def _focus(run: RunData, ops: list[int], prefer: list[int], kind: str = "") -> Any:
    """The call the sentence is about (see the module docs). A *lost* write is about its
    acknowledgement, not the later read that missed it."""
    calls: dict[int, Any] = {}
    for c in run.calls:
        calls[c.invoke_index] = c
        if c.complete_index is not None:
            calls[c.complete_index] = c
    chosen = [calls[i] for i in ops if i in calls]
    if not chosen:
        return None
    pref = [calls[i] for i in prefer if i in calls]
    if "lost" in kind:
        acked = [c for c in chosen if c.type == "ok" and c.f in WRITES and c.f not in READS[1:] and c.node]
        if acked:
            return acked[0]
    for group in (pref, chosen):
        reads = [c for c in group if c.type == "ok" and c.f in READS and c.node]
        if reads:
            return reads[-1]
    writes = [c for c in chosen if c.type in ("ok", "info") and c.f in WRITES and c.node]
    if writes:
        return writes[0]
    served = [c for c in chosen if c.node]
    return served[0] if served else None


def _value(c: Any) -> str:
    import json

    v = c.output if c.f in READS else c.value
    s = json.dumps(v, default=str) if not isinstance(v, str) else v
    return s if len(s) <= 60 else s[:57] + "..."


def _last_heard(run: RunData, node: str, senders: list[str], t_ns: int) -> int | None:
    """When ``node`` last received a message from any of ``senders`` before ``t_ns``; None if never."""
    best = None
    for m in run.messages or []:
        if (m.dest == node and m.src in senders and not m.dropped and m.deliver_ns is not None
                and m.deliver_ns <= t_ns and (best is None or m.deliver_ns > best)):
            best = m.deliver_ns
    return best


def _pick_fault(run: RunData, node: str, t: float, lost: bool = False) -> tuple[int, FaultWindow, str | None, str] | None:
    """The fault to blame: (index, fault, how it touched ``node``, when). Active at ``t`` and touching
    the node first; for a *lost* acknowledged write, next a fault that hit the node after the ack
    (a power loss, a kill: what forgot it); then one that ended in the ``FOLLOW_S`` before; then
    any fault active at ``t``."""
    def stop(f: FaultWindow) -> float:
        return f.stop_s if f.stop_s is not None else run.end_s

    active = [(k, f) for k, f in enumerate(run.faults) if f.start_s <= t <= stop(f)]
    before = sorted(((k, f) for k, f in enumerate(run.faults) if t - FOLLOW_S <= stop(f) < t),
                    key=lambda kf: -stop(kf[1]))
    # what forgets an acknowledged write: a power loss first, then a crash, then the rest, earliest first
    forget = {"disk": 0, "kill": 1, "membership": 2}
    after = sorted(((k, f) for k, f in enumerate(run.faults) if f.start_s > t),
                   key=lambda kf: (forget.get(kf[1].kind.split(":")[0], 3), kf[1].start_s)) if lost else []
    for group, when in ((active, "active"), (after, "after the ack"), (before, "just healed")):
        for k, f in group:
            how = _involved(f, node)
            if how:
                return k, f, how, when
    for group, when in ((active, "active"), (after, "after the ack"), (before, "just healed")):
        if group:
            k, f = group[0]
            return k, f, None, when
    return None


def _missed_write(run: RunData, ops: list[int], read: Any, states: States) -> str | None:
    """For a stale read: the latest acknowledged write of the anomaly completed before the read
    began, and who acknowledged it as what (often the other half of the story: a deposed leader's ack)."""
    seen = {i for i in ops}
    writes = [c for c in run.calls if (c.invoke_index in seen or c.complete_index in seen) and c.type == "ok"
              and c.f in WRITES and c.f not in READS and c.node and c.ret_time < read.call_time]
    if not writes:
        return None
    w = max(writes, key=lambda c: c.ret_time)
    st = states.at(str(w.node), int(w.ret_time))
    return (f"the read missed {w.f} {_value(w)} acknowledged by {w.node} at {w.ret_time / 1e9:.2f} s"
            + (f" as {_as(st)}" if st is not None else ""))


FORWARD_TYPES = ("fwd", "forward")


def _forwarded_to(run: RunData, node: str, t_call: int, t_ret: int) -> str | None:
    """The node ``node`` forwarded a client request to during [t_call, t_ret], read from its messages."""
    for m in run.messages or []:
        if (m.src == node and m.type in FORWARD_TYPES and m.send_ns is not None
                and t_call <= m.send_ns <= t_ret and not m.dropped):
            return m.dest
    return None


def _max_term_at(states: States, t_ns: int) -> tuple[str, NodeState] | None:
    best: tuple[str, NodeState] | None = None
    for n in states.by_node:
        st = states.at(n, t_ns)
        if st is not None and st.up and st.term is not None and (best is None or st.term > (best[1].term or -1)):
            best = (n, st)
    return best


def sentence(run: RunData, ops: list[int], prefer: list[int] | None = None, kind: str = "") -> str | None:
    """The diagnosis of one anomaly (its history indices, the checker's kind), or None when no op
    of it names a node."""
    c = _focus(run, ops, prefer or [], kind)
    if c is None:
        return None
    node = str(c.node)
    states = States(run.states)
    done = c.type == "ok" and c.ret_time != float("inf")
    t_ns = int(c.ret_time) if done else int(c.call_time)
    t = t_ns / 1e9
    st = states.at(node, t_ns)
    if c.f in READS:
        head = f"{c.f} by process {c.process} at {node} returned {_value(c)} at {t:.2f} s"
    else:
        head = f"{c.f} {_value(c)} by process {c.process} acknowledged by {node} at {t:.2f} s"
    if st is not None:
        since = states.since(node, t_ns, lambda s: s.up == st.up and s.role == st.role and s.term == st.term)
        head += f" while {node} was {_as(st)}" + (f" (since {since / 1e9:.2f} s)" if since is not None else "")
        if st.members is not None and set(st.members) != set(run.node_names):
            head += f" with members {', '.join(st.members)}"
    else:
        head += " (no status of the node recorded)"
    parts = [head]
    # who really answered: a node that forwarded the request passes the blame on
    via = _forwarded_to(run, node, int(c.call_time), t_ns) if done else None
    if via is not None and via != node:
        node, st = via, states.at(via, t_ns)
        parts.append(f"{c.node} forwarded it to {node}" + (f", then {_as(st)}" if st is not None else ""))
    top = _max_term_at(states, t_ns)
    lead = states.leader_at(t_ns)
    peers: list[str] = []
    if lead is not None and lead[0] != node:
        ln, lst = lead
        since = states.since(ln, t_ns, lambda s: s.up and s.role == "leader" and s.term == lst.term)
        parts.append(f"{ln} had been leader of {_term_name(lst)} {lst.term}"
                     + (f" since {since / 1e9:.2f} s" if since is not None else ""))
        peers = [ln]
    elif top is not None and st is not None and st.term is not None and top[1].term is not None \
            and top[1].term > st.term and top[0] != node:
        tn, tst = top
        parts.append(f"{node} was behind: {tn} was already in {_term_name(tst)} {tst.term} ({_as(tst)})")
        peers = [n for n in run.node_names if n != node]
    else:
        peers = [n for n in run.node_names if n != node]
    if run.messages is not None and peers:
        heard = _last_heard(run, node, peers, t_ns)
        who = peers[0] if len(peers) == 1 else "any peer"
        if heard is None:
            parts.append(f"{node} had received nothing from {who} in the recorded messages")
        elif t_ns - heard > 300_000_000:  # a healthy link carries a heartbeat every ~0.1 s
            parts.append(f"{node} had received nothing from {who} since {heard / 1e9:.2f} s")
    if c.f in READS:
        missed = _missed_write(run, ops, c, states)
        if missed:
            parts.append(missed)
    picked = _pick_fault(run, node, t, lost="lost" in kind)
    if picked is None:
        parts.append("no fault was active then or in the 5 s before")
    else:
        k, f, how, when = picked
        stop = f"{f.stop_s:.2f}" if f.stop_s is not None else "end"
        parts.append(f"{f.kind} #{k} ({f.start_s:.2f}-{stop} s, {when}" + (f", {how}" if how else "") + ")")
    return "; ".join(parts)
