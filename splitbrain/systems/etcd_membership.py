"""etcd's own member API as the :class:`~splitbrain.api.Membership` capability.

A real third-party check of the membership fault: ``/v3/cluster/member/list``,
``/member/remove`` and ``/member/add`` on etcd's v3 JSON gateway (what
``etcdctl member ...`` calls). etcd's rules shape the fault:

* a removed member stops itself and can never come back with its old data (its
  member ID is gone for good), so the adapter declares
  ``SystemTraits(removed_member_exits=True, rejoin_wiped_only=True)``: the fault
  stops the node before removing it, wipes it, adds it back (``member add`` with
  its peer URL, learned from the member list before it was removed), and only
  then starts it;
* a wiped node must start with ``--initial-cluster-state existing`` (joining the
  running cluster), not ``new``: the node command is a ``sh`` wrapper that picks
  the state from the wiped marker the harness leaves in the data dir;
* a member added but not started yet has no name in the list; its peer URL
  names it.

A change etcd rejects (``unhealthy cluster``, ``not enough started members``),
or one never sent because no member answered the member list (a partition and
a kill at once leave no quorum to list it), is ``refused``; no answer to the
change itself is ``unknown``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from splitbrain.api import WIPED_MARKER, MembershipChange, MembershipView

LIST, ADD, REMOVE = "/v3/cluster/member/list", "/v3/cluster/member/add", "/v3/cluster/member/remove"
#: one member gets this long to answer a change before the next is asked (etcd's own request timeout is
#: 7 s; an election with its 1 s timeout and the commit take well under this)
ATTEMPT_S = 4.0

#: ``sh -c`` script: $1 is the data dir, the rest etcd's argv (without --initial-cluster-state)
WRAPPER = (f'if [ -e "$1/{WIPED_MARKER}" ]; then state=existing; else state=new; fi; shift; '
           'exec "$@" --initial-cluster-state "$state"')


def wrapped(data_dir: str, argv: list[str]) -> list[str]:
    """etcd's argv behind the wrapper that joins an existing cluster when the node was wiped."""
    return ["sh", "-c", WRAPPER, "sh", data_dir, *argv]


class EtcdMembers:
    """The member API client; remembers each member's peer URLs (to add a removed one back)."""

    def __init__(self) -> None:
        self.peer_urls: dict[str, list[str]] = {}

    def _name(self, m: dict[str, Any]) -> str:
        if m.get("name"):
            return str(m["name"])
        urls = set(m.get("peerURLs") or [])
        return next((n for n, u in self.peer_urls.items() if urls & set(u)), "?")

    async def _list(self, nodes: Mapping[str, tuple[str, int]], timeout_s: float) -> tuple[str, list[dict[str, Any]]]:
        from splitbrain.systems.etcd import http_post_json

        async def one(name: str) -> tuple[str, Any]:
            try:
                return name, await http_post_json(*nodes[name], LIST, {}, timeout_s)
            except Exception as e:  # noqa: BLE001 - a silent member simply has no view
                return name, e

        answers = [(n, d) for n, d in await asyncio.gather(*(one(n) for n in sorted(nodes))) if isinstance(d, dict)]
        if not answers:
            raise ConnectionError("no etcd member answered member/list")
        # the view most members agree on (a member cut off may still list the old membership)
        by_set: dict[tuple[str, ...], tuple[str, list[dict[str, Any]]]] = {}
        counts: dict[tuple[str, ...], int] = {}
        for name, data in answers:
            members = list(data.get("members") or [])
            for m in members:
                if m.get("name"):
                    self.peer_urls[str(m["name"])] = list(m.get("peerURLs") or [])
            key = tuple(sorted(self._name(m) for m in members))
            by_set.setdefault(key, (name, members))
            counts[key] = counts.get(key, 0) + 1
        return by_set[max(counts, key=lambda k: counts[k])]

    async def members(self, nodes: Mapping[str, tuple[str, int]], timeout_s: float) -> MembershipView:
        asked, members = await self._list(nodes, timeout_s)
        return MembershipView(tuple(sorted(self._name(m) for m in members)), asked)

    async def _change(self, path: str, body: dict[str, Any], nodes: Mapping[str, tuple[str, int]],
                      timeout_s: float, skip: str) -> tuple[str, Any, bool]:
        """POST to the members (not ``skip``) in turn, each for at most :data:`ATTEMPT_S`, until one
        answers at all or ``timeout_s`` is spent: (node, reply or exception, whether an earlier
        attempt went unanswered). A member that lost its leader (the removed node was it, killed
        first) forwards the proposal to the dead leader and waits out etcd's 7 s request timeout;
        the next member, once an election is over, commits it."""
        from splitbrain.systems.etcd import EtcdError, http_post_json

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        names = [n for n in sorted(nodes) if n != skip]
        last: tuple[str, Any] = ("", ConnectionError("no member to ask"))
        silent = False
        for i in range(len(names) * 8):
            left = deadline - loop.time()
            if not names or left <= 0.05:
                break
            name = names[i % len(names)]
            try:
                return name, await http_post_json(*nodes[name], path, body, min(ATTEMPT_S, left)), silent
            except EtcdError as e:
                return name, e, silent
            except (OSError, TimeoutError) as e:
                last, silent = (name, e), silent or isinstance(e, TimeoutError)
                if not isinstance(e, TimeoutError):
                    await asyncio.sleep(min(0.2, max(0.0, deadline - loop.time())))
        return (*last, silent)

    async def remove_member(self, node: str, nodes: Mapping[str, tuple[str, int]],
                            timeout_s: float) -> MembershipChange:
        from splitbrain.systems.etcd import EtcdError

        deadline = asyncio.get_running_loop().time() + timeout_s  # the list and the change share it
        try:
            asked, members = await self._list(nodes, timeout_s)
        except ConnectionError as e:  # nothing was sent: it certainly did not happen
            return MembershipChange("refused", "", reason=str(e))
        timeout_s = max(0.5, deadline - asyncio.get_running_loop().time())
        ids = [m.get("ID") for m in members if self._name(m) == node]
        if not ids:
            return MembershipChange("applied", asked, tuple(sorted(self._name(m) for m in members)),
                                    reason="not a member")
        asked, out, silent = await self._change(REMOVE, {"ID": ids[0]}, nodes, timeout_s, node)
        if isinstance(out, EtcdError) and silent:  # an unanswered attempt may have landed: "member not found"
            try:
                _, members = await self._list(nodes, ATTEMPT_S)
            except ConnectionError:
                return MembershipChange("unknown", asked, reason=f"{out} after an unanswered attempt")
            if not any(self._name(m) == node for m in members):
                return MembershipChange("applied", asked, tuple(sorted(self._name(m) for m in members)),
                                        reason="landed from an earlier, unanswered attempt")
        if isinstance(out, EtcdError):
            return MembershipChange("refused", asked, reason=str(out))
        if isinstance(out, Exception):
            return MembershipChange("unknown", asked, reason=f"{type(out).__name__}: no answer")
        return MembershipChange("applied", asked, tuple(sorted(self._name(m) for m in out.get("members") or [])))

    async def add_member(self, node: str, nodes: Mapping[str, tuple[str, int]], timeout_s: float,
                         wiped: bool) -> MembershipChange:
        from splitbrain.systems.etcd import EtcdError

        deadline = asyncio.get_running_loop().time() + timeout_s  # the list and the change share it
        try:
            asked, members = await self._list(nodes, timeout_s)
        except ConnectionError as e:  # nothing was sent: it certainly did not happen
            return MembershipChange("refused", "", reason=str(e))
        timeout_s = max(0.5, deadline - asyncio.get_running_loop().time())
        if any(self._name(m) == node for m in members):
            return MembershipChange("applied", asked, tuple(sorted(self._name(m) for m in members)),
                                    reason="already a member")
        urls = self.peer_urls.get(node)
        if not urls:
            return MembershipChange("refused", asked, reason=f"peer URL of {node} never seen in a member list")
        asked, out, _ = await self._change(ADD, {"peerURLs": urls}, nodes, timeout_s, node)
        if isinstance(out, EtcdError):
            return MembershipChange("refused", asked, reason=str(out))
        if isinstance(out, Exception):
            return MembershipChange("unknown", asked, reason=f"{type(out).__name__}: no answer")
        return MembershipChange("applied", asked, tuple(sorted(self._name(m) for m in out.get("members") or [])))
