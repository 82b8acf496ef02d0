"""Fencing replica requests by configuration: the ring's quorums stay safe across membership changes.

A coordinator picks a key's replica groups once, when a client op starts
(:meth:`~.node.RingNode.quorum`), and re-sends to them until a quorum answers,
for up to a client deadline. A membership change can complete in between
(joint, handover, commit take milliseconds once every node answers, as after a
partition heals), and then the groups the coordinator is still asking belong to a
ring nobody uses any more:

* a replica that committed a ring in which it no longer holds the key has dropped
  its copy; its empty answer to a ``get`` counted toward a quorum of the old ring,
  and the read missed acknowledged writes (seen as stale set elements after
  removals through a partition's small side, completed at the heal);
* a ``put`` that reaches the old replicas after they handed their data over is
  acknowledged by a quorum of the old ring and never reaches the new one.

So every client ``get``/``put`` carries the coordinator's configuration
(:func:`config`: its committed epoch and the change it is joint for), and a replica
refuses a request whose configuration is behind its own (:func:`refuses`): the
answer does not count, carries the replica's committed ring, and the coordinator
learns it and asks again with fresh groups. Requests without a configuration (the
handover's own pushes) are never refused.
"""

from __future__ import annotations

from typing import Any

#: a request's configuration: [committed epoch, cid of the change the coordinator is joint for, or None]
Config = list[Any]


def config(epoch: int, pending: dict[str, Any] | None) -> Config:
    return [epoch, pending["cid"] if pending is not None else None]


def refuses(cfg: Any, epoch: int, pending: dict[str, Any] | None, write: bool) -> bool:
    """Whether a replica at committed ``epoch``, joint for ``pending``,
    must refuse a request made under ``cfg``.

    * It committed a ring the coordinator does not have: refused, also when the coordinator is joint
      for exactly the change that made it. Its quorum of the new replicas does not help: answers
      add up over re-sends, and that quorum may have answered before the handover (from the small
      side of a partition, say), while a replica removed by the commit, its copies dropped, then
      completes the quorum of the old ring with nothing (a read of a correct ring missed 17
      acknowledged elements so, membership,partition seed 20).
    * A ``put`` from a coordinator that is not joint for the change this replica already handed its
      data over for: refused (the handover has passed; the write would be left behind in the old ring).

    A ``get`` from a coordinator that is not joint yet is answered: nothing is dropped before the
    commit, and every acknowledged write reached a quorum of the old ring."""
    if not isinstance(cfg, list) or len(cfg) != 2 or not isinstance(cfg[0], int):
        return False
    their_epoch, their_change = cfg
    if epoch > their_epoch:
        return True
    handed_over = pending is not None and bool(pending.get("handover"))
    return write and epoch == their_epoch and handed_over and their_change != (pending or {}).get("cid")
