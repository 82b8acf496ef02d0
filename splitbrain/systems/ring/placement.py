"""Consistent hashing with virtual nodes: which N nodes hold a key.

Each member owns ``vnodes`` points on a 64-bit ring (hashes of ``name#i``);
a key's replicas are the first N *distinct* members met walking clockwise
from the key's hash. Many points per member spread load evenly and, more
importantly, make membership changes cheap: a joining node takes over only
the arcs just before its own points, so about 1/members of the keys change
hands and the rest stay where they were.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable

DEFAULT_VNODES = 64


def point(text: str) -> int:
    """A stable 64-bit ring position (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big")


class HashRing:
    def __init__(self, members: Iterable[str], vnodes: int = DEFAULT_VNODES) -> None:
        self.members = tuple(sorted(set(members)))
        self.vnodes = vnodes
        pts = sorted((point(f"{m}#{i}"), m) for m in self.members for i in range(vnodes))
        self._hashes = [h for h, _ in pts]
        self._owners = [m for _, m in pts]

    def walk(self, key: str) -> list[str]:
        """Every member, in clockwise order of first appearance from the key's position."""
        if not self.members:
            return []
        start = bisect.bisect_right(self._hashes, point(key))
        seen: list[str] = []
        n = len(self._owners)
        for i in range(n):
            m = self._owners[(start + i) % n]
            if m not in seen:
                seen.append(m)
                if len(seen) == len(self.members):
                    break
        return seen

    def replicas(self, key: str, n: int) -> list[str]:
        """The key's N replicas (fewer when the ring has fewer members)."""
        return self.walk(key)[:n]

    def with_member(self, name: str) -> HashRing:
        return HashRing((*self.members, name), self.vnodes)

    def without_member(self, name: str) -> HashRing:
        return HashRing((m for m in self.members if m != name), self.vnodes)
