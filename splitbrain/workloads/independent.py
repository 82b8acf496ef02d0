"""Independent keys: Jepsen's ``independent/concurrent-generator`` for register-shaped workloads.

Linearizability checking is exponential in the concurrency of one object and
grows fast with its length, so a long, fast run on *one* register is a history
nobody can check (a 20-second run at 1,900 ops/s: 39,000 ops on one key, and
the checker gives up). Here the client threads are split into groups of
``clients_per_key``; each group works on one key until it has issued
``ops_per_key`` ops there, then moves to a fresh key nobody used before. Every
key's history stays small (bounded ops, bounded concurrency) and is checked on
its own (the ``kv`` model partitions by key), while the run is as long and as
fast as the user wants, and each key still sees all of its group's contention,
which is what exposes bugs.

Writes stay unique per key (each key gets its own fresh stream from
:func:`~splitbrain.workloads.register.register_stream`). After the main
phase, :meth:`IndependentKeys.final_requests` reads the keys used last (up to
:data:`FINAL_KEYS`, not only each group's live one) and the run reads each of
them on every node: a fault often strikes while a group is on one key and
the group has moved on by the time the cluster heals, so replicas that
diverged there (a write acknowledged by a deposed leader, a slot two leaders
both filled, a value left on one replica) show it only if someone reads that
key again, from the node that diverged.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from splitbrain.errors import UsageError
from splitbrain.harness.generator import Answer, Context
from splitbrain.workloads.base import Request

#: final reads cover at most this many keys, the most recently started (each is read on every node)
FINAL_KEYS = 32

#: a fresh op stream for one key: ``stream(rng, key)``
StreamForKey = Callable[[random.Random, str], Iterator[Request]]


@dataclass(frozen=True)
class KeySpec:
    """How ops are spread over keys. ``ops_per_key == 0`` means one key for the whole run."""

    ops_per_key: int = 200
    clients_per_key: int = 10
    #: key names: prefix + a counter
    prefix: str = "k"

    def validate(self) -> KeySpec:
        if self.ops_per_key < 0 or self.clients_per_key < 1:
            raise UsageError(f"--ops-per-key must be >= 0 and --clients-per-key >= 1, got "
                             f"{self.ops_per_key} and {self.clients_per_key}")
        return self


def key_spec_for(workload: object, ops_per_key: int | None, clients_per_key: int | None) -> KeySpec | None:
    """The workload's key spec with the user's overrides; None if it has no independent keys."""
    spec = getattr(workload, "key_spec", None)
    if not isinstance(spec, KeySpec) or not callable(getattr(workload, "key_stream", None)):
        return None
    return KeySpec(spec.ops_per_key if ops_per_key is None else ops_per_key,
                   spec.clients_per_key if clients_per_key is None else clients_per_key, spec.prefix).validate()


class IndependentKeys:
    """A generator (:class:`splitbrain.harness.generator.Generator`): groups of threads, one key each."""

    def __init__(self, stream: StreamForKey, rng: random.Random, concurrency: int, spec: KeySpec) -> None:
        self.stream, self.rng, self.spec = stream, rng, spec.validate()
        self.group_size = max(1, min(spec.clients_per_key, concurrency))
        self._next_key = 0
        #: group -> (key, its op stream, ops issued on it)
        self._groups: dict[int, tuple[str, Iterator[Request], int]] = {}

    def _fresh(self) -> tuple[str, Iterator[Request], int]:
        key = f"{self.spec.prefix}{self._next_key}"
        self._next_key += 1
        return key, self.stream(random.Random(self.rng.random()), key), 0

    def next(self, ctx: Context) -> Answer:
        group = ctx.thread // self.group_size
        cur = self._groups.get(group)
        if cur is None or (self.spec.ops_per_key and cur[2] >= self.spec.ops_per_key):
            cur = self._fresh()
        key, stream, issued = cur
        req = next(stream, None)
        if req is None:
            return None
        self._groups[group] = (key, stream, issued + 1)
        return req

    @property
    def keys_used(self) -> int:
        return self._next_key

    def live_keys(self) -> list[str]:
        """Each group's current key (where a final read still tells something)."""
        return sorted({key for key, _, _ in self._groups.values()}, key=lambda k: (len(k), k))

    def final_keys(self) -> list[str]:
        """The keys the final phase reads: the live ones and those used just before them."""
        first = max(0, self._next_key - FINAL_KEYS)
        recent = [f"{self.spec.prefix}{i}" for i in range(first, self._next_key)]
        return sorted(dict.fromkeys([*self.live_keys(), *recent]), key=lambda k: (len(k), k))

    def final_requests(self) -> list[Request]:
        return [Request("read", None, key) for key in self.final_keys()]
