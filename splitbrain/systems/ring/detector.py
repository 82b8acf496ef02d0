"""A heartbeat failure detector: who do we suspect, right now.

Every node sends a heartbeat to every peer each ``interval_s``; a peer not
heard from for ``timeout_s`` is suspected, and trusted again the moment one of
its heartbeats arrives (a SIGSTOPped node is suspected while stopped and comes
back on SIGCONT). Suspicion is only a hint: coordinators ask unsuspected
replicas first, but never count a suspected replica out of a quorum, so a
wrong suspicion costs latency, never safety. Time is passed in, so the
detector is tested without sleeping.
"""

from __future__ import annotations


class FailureDetector:
    def __init__(self, peers: list[str], timeout_s: float, now: float) -> None:
        self.timeout_s = timeout_s
        # Everyone starts trusted: a node must earn suspicion by going quiet.
        self.last_heard = {p: now for p in peers}

    def heard(self, peer: str, now: float) -> None:
        self.last_heard[peer] = max(self.last_heard.get(peer, now), now)

    def suspected(self, peer: str, now: float) -> bool:
        last = self.last_heard.get(peer)
        return last is not None and now - last > self.timeout_s

    def order(self, nodes: list[str], now: float, me: str | None = None) -> list[str]:
        """The same nodes, unsuspected first (stable otherwise); ``me`` is never suspected."""
        return sorted(nodes, key=lambda n: n != me and self.suspected(n, now))
