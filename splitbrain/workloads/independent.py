"""Independent keys: Jepsen's ``independent/concurrent-generator`` for register-shaped workloads.

Linearizability checking is exponential in the concurrency of one object and
grows fast with its length, so a long, fast run on *one* register is a history
nobody can check (a 20-second run at 1,900 ops/s: 39,000 ops on one key, and
the checker gives up). Here the client threads are split into groups of
``clients_per_key``; each group works on one key, then moves to a fresh key
nobody used before. Every key's history stays small (bounded ops, bounded
concurrency) and is checked on its own (the ``kv`` model partitions by key),
while the run is as long and as fast as the user wants, and each key still
sees all of its group's contention, which is what exposes bugs.

When a group moves on. Jepsen moves on after a count of ops. At the default
rate that is two seconds a key, shorter than one fault window and its heal:
the key a fault struck was abandoned before the heal, so what the fault broke
there (a write a deposed leader acknowledged, a slot two leaders both filled,
a replica left behind) was read again by nobody but the final reads, and
detection fell below a run on one key. So a key also has a *minimum
lifetime* ``min_s`` (in a run with faults, :func:`min_lifetime_s`: two
nemesis intervals, a fault window and its heal): a group leaves its key once
it has issued ``ops_per_key`` ops there *and* the key has lived ``min_s``
seconds -- or, whatever its age, once it has issued ``MAX_OPS_FACTOR`` times
``ops_per_key`` (the bound that keeps a key checkable at any rate).

Lingering reads (not in Jepsen). A fault can still strike just before a key
ends. For ``min_s`` seconds after its group left it, a key *lingers*: one op
in ``LINGER_EVERY`` of any group is a read of a lingering key instead, at
most ``LINGER_READS`` reads per key. Those reads come after the heal, from
clients on every node, which is exactly what shows a lost write or a
diverged replica. Writes still go only to a group's live key, each key's ops
stay bounded (at most ``MAX_OPS_FACTOR * ops_per_key + LINGER_READS``), and
the extra concurrency a lingering key sees is reads on a key nobody writes
any more. Without faults (``min_s == 0``) the rule is Jepsen's alone.

Key names. A run numbers its keys from a start drawn from its seed (:func:`first_key`), not
from 0: a store that places a key by hashing its name gave keys 0, 1, 2, ... the same replicas
in every run, so every seed tested the same few replica sets.

Writes stay unique per key (each key gets its own fresh stream from
:func:`~splitbrain.workloads.register.register_stream`). After the main
phase, :meth:`IndependentKeys.final_requests` reads the keys used last (up to
:data:`FINAL_KEYS`, not only each group's live one) and the run reads each of
them on every node.
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
#: a key is left after at most this many times ``ops_per_key`` ops, however young (keeps it checkable)
MAX_OPS_FACTOR = 5
#: one op in this many is a read of a lingering key (when one lingers)
LINGER_EVERY = 10
#: at most this many lingering reads per key
LINGER_READS = 40

#: a key's minimum lifetime in nemesis intervals: a fault window (0.5-1.5 intervals) and its heal
LIFETIME_INTERVALS = 2.0

#: a fresh op stream for one key: ``stream(rng, key)``
StreamForKey = Callable[[random.Random, str], Iterator[Request]]


@dataclass(frozen=True)
class KeySpec:
    """How ops are spread over keys. ``ops_per_key == 0`` means one key for the whole run.

    ``min_s``: a key's minimum lifetime in seconds (see the module docstring); 0 = count only."""

    ops_per_key: int = 200
    clients_per_key: int = 10
    #: key names: prefix + a counter
    prefix: str = "k"
    min_s: float = 0.0

    def validate(self) -> KeySpec:
        if self.ops_per_key < 0 or self.clients_per_key < 1:
            raise UsageError(f"--ops-per-key must be >= 0 and --clients-per-key >= 1, got "
                             f"{self.ops_per_key} and {self.clients_per_key}")
        return self

    def full(self, issued: int, age_s: float) -> bool:
        """Does a group that issued ``issued`` ops on a key ``age_s`` seconds old move on?"""
        if not self.ops_per_key:
            return False
        return issued >= self.ops_per_key * MAX_OPS_FACTOR or (issued >= self.ops_per_key and age_s >= self.min_s)


def min_lifetime_s(nemesis_interval_s: float) -> float:
    """A key's minimum lifetime in a run with faults drawn at this interval (``--nemesis-interval``)."""
    return LIFETIME_INTERVALS * nemesis_interval_s


#: runs number their keys from one of this many starting points (see :func:`first_key`)
KEY_STARTS = 10_000


def first_key(rng: random.Random) -> int:
    """The number in a run's first key name, drawn from the run's ``keys`` stream
    (``Test.rng("keys")``): a store that places keys by their hash (the ring: each key on three
    replicas of five) puts keys numbered from 0 on the same replica sets in every run -- the ring's
    first six keys all had n2 as a replica and five of them n1, so a cut or a kill that spared those
    two tested little in any run. From a seeded start, each seed tests other placements; the same
    seed, the same keys."""
    return rng.randrange(KEY_STARTS)


def key_spec_for(workload: object, ops_per_key: int | None, clients_per_key: int | None,
                 min_s: float = 0.0) -> KeySpec | None:
    """The workload's key spec with the user's overrides; None if it has no independent keys."""
    spec = getattr(workload, "key_spec", None)
    if not isinstance(spec, KeySpec) or not callable(getattr(workload, "key_stream", None)):
        return None
    return KeySpec(spec.ops_per_key if ops_per_key is None else ops_per_key,
                   spec.clients_per_key if clients_per_key is None else clients_per_key, spec.prefix,
                   min_s).validate()


@dataclass
class _Live:
    """A group's key: its op stream, ops issued on it, when it started (seconds into the test)."""

    key: str
    stream: Iterator[Request]
    issued: int
    since_s: float


@dataclass
class _Lingering:
    """A key its group left: read by anyone until ``until_s``, ``reads_left`` more times."""

    key: str
    until_s: float
    reads_left: int


class IndependentKeys:
    """A generator (:class:`splitbrain.harness.generator.Generator`): groups of threads, one key each."""

    def __init__(self, stream: StreamForKey, rng: random.Random, concurrency: int, spec: KeySpec,
                 first: int = 0) -> None:
        self.stream, self.rng, self.spec = stream, rng, spec.validate()
        self.group_size = max(1, min(spec.clients_per_key, concurrency))
        #: the number in the first key's name (see :func:`first_key`)
        self.first = first
        self._next_key = 0
        self._groups: dict[int, _Live] = {}
        self._lingering: list[_Lingering] = []
        self._asked = 0

    def _name(self, i: int) -> str:
        return f"{self.spec.prefix}{self.first + i}"

    def _fresh(self, now_s: float) -> _Live:
        key = self._name(self._next_key)
        self._next_key += 1
        return _Live(key, self.stream(random.Random(self.rng.random()), key), 0, now_s)

    def next(self, ctx: Context) -> Answer:
        linger = self._linger_read(ctx.time_s)
        if linger is not None:
            return linger
        group = ctx.thread // self.group_size
        cur = self._groups.get(group)
        if cur is None or self.spec.full(cur.issued, ctx.time_s - cur.since_s):
            if cur is not None and self.spec.min_s > 0:
                self._lingering.append(_Lingering(cur.key, ctx.time_s + self.spec.min_s, LINGER_READS))
            cur = self._groups[group] = self._fresh(ctx.time_s)
        req = next(cur.stream, None)
        if req is None:
            return None
        cur.issued += 1
        return req

    def _linger_read(self, now_s: float) -> Request | None:
        """Every ``LINGER_EVERY``-th op, a read of a key left less than ``min_s`` ago (if any)."""
        self._asked += 1
        if self._asked % LINGER_EVERY:
            return None
        self._lingering = [k for k in self._lingering if k.until_s > now_s and k.reads_left > 0]
        if not self._lingering:
            return None
        pick = self.rng.choice(self._lingering)
        pick.reads_left -= 1
        return Request("read", None, pick.key)

    @property
    def keys_used(self) -> int:
        return self._next_key

    def live_keys(self) -> list[str]:
        """Each group's current key (where a final read still tells something)."""
        return sorted({g.key for g in self._groups.values()}, key=lambda k: (len(k), k))

    def final_keys(self) -> list[str]:
        """The keys the final phase reads: the live ones and those used just before them."""
        first = max(0, self._next_key - FINAL_KEYS)
        recent = [self._name(i) for i in range(first, self._next_key)]
        return sorted(dict.fromkeys([*self.live_keys(), *recent]), key=lambda k: (len(k), k))

    def final_requests(self) -> list[Request]:
        return [Request("read", None, key) for key in self.final_keys()]
