"""Generators: small composable pieces that decide which op a client runs next.

Borrowed from Jepsen's ``jepsen.generator``. A generator is asked, by an idle
client worker, for its next op with a :class:`Context` (elapsed time, the
asking process and thread, ops in flight). It answers with

* a :class:`~splitbrain.workloads.base.Request` -- run this now;
* a :class:`Wait` -- nothing yet, ask again at ``until_s`` (rate limits, sleeps,
  phase barriers);
* ``None`` -- exhausted: this worker is done.

Pieces wrap pieces: ``time_limit(stagger(mix(...), 0.05), 30)``. Every random
choice comes from an explicit ``random.Random``, and the answers depend only on
that and on the sequence of contexts, so a seed replays the same schedule for
the same sequence of requests. Generators are called from one asyncio thread:
no locking.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from splitbrain.workloads.base import Request

#: how long an idle worker waits before asking again when told to wait without a deadline
POLL_S = 0.01


@dataclass
class Context:
    """What a generator may look at: when, who is asking, how busy the run is."""

    time_s: float
    process: int = 0
    thread: int = 0
    in_flight: int = 0


@dataclass(frozen=True)
class Wait:
    """Nothing to do now; ask again at ``until_s`` (seconds since the test began)."""

    until_s: float


Answer = Request | Wait | None


class Generator(Protocol):
    def next(self, ctx: Context) -> Answer: ...


class FromIter:
    """Ops from an iterator (typically a workload's endless ``requests(rng)``)."""

    def __init__(self, it: Iterable[Request]) -> None:
        self._it: Iterator[Request] = iter(it)

    def next(self, ctx: Context) -> Answer:
        return next(self._it, None)


class Fn:
    """Ops from a function of the rng, forever: ``Fn(lambda r: Request("read"), rng)``."""

    def __init__(self, fn: Callable[[random.Random], Request], rng: random.Random) -> None:
        self.fn, self.rng = fn, rng

    def next(self, ctx: Context) -> Answer:
        return self.fn(self.rng)


class Once:
    """A single op, then exhausted."""

    def __init__(self, req: Request) -> None:
        self.req: Request | None = req

    def next(self, ctx: Context) -> Answer:
        req, self.req = self.req, None
        return req


class Mix:
    """Each op from a generator picked at random (weighted); exhausted ones drop out."""

    def __init__(self, gens: list[Generator], rng: random.Random, weights: list[float] | None = None) -> None:
        self.gens = list(gens)
        self.weights = list(weights) if weights else [1.0] * len(self.gens)
        self.rng = rng

    def next(self, ctx: Context) -> Answer:
        while self.gens:
            i = self.rng.choices(range(len(self.gens)), weights=self.weights)[0]
            ans = self.gens[i].next(ctx)
            if ans is not None:
                return ans
            del self.gens[i], self.weights[i]
        return None


class Stagger:
    """Jepsen's stagger: ops spaced by random gaps uniform in [0, 2*interval), across all workers.

    The mean gap is ``interval_s``, so ``Stagger(g, 1/rate)`` runs at ``rate`` ops/s
    overall; the randomness avoids lock-step clients that hide races.
    """

    def __init__(self, gen: Generator, interval_s: float, rng: random.Random) -> None:
        self.gen, self.interval_s, self.rng = gen, interval_s, rng
        self._next_s: float | None = None

    def next(self, ctx: Context) -> Answer:
        if self._next_s is None:  # the first op waits too, so clients do not all start at once
            self._next_s = ctx.time_s + self.rng.uniform(0, 2 * self.interval_s)
        if ctx.time_s < self._next_s:
            return Wait(self._next_s)
        ans = self.gen.next(ctx)
        if isinstance(ans, Request):
            # Schedule from the planned time, not the observed one, so a late worker
            # does not lower the rate; but never bank more than one interval of slack.
            base = max(self._next_s, ctx.time_s - self.interval_s)
            self._next_s = base + self.rng.uniform(0, 2 * self.interval_s)
        return ans


def rate(gen: Generator, ops_per_s: float, rng: random.Random) -> Generator:
    """At most about ``ops_per_s`` ops per second overall; 0 or less means unlimited."""
    return Stagger(gen, 1.0 / ops_per_s, rng) if ops_per_s > 0 else gen


class TimeLimit:
    """Exhausted ``seconds`` after it is first asked."""

    def __init__(self, gen: Generator, seconds: float) -> None:
        self.gen, self.seconds = gen, seconds
        self._deadline_s: float | None = None

    def next(self, ctx: Context) -> Answer:
        if self._deadline_s is None:
            self._deadline_s = ctx.time_s + self.seconds
        if ctx.time_s >= self._deadline_s:
            return None
        ans = self.gen.next(ctx)
        if isinstance(ans, Wait) and ans.until_s > self._deadline_s:
            return Wait(self._deadline_s)
        return ans


class Limit:
    """At most ``n`` ops."""

    def __init__(self, gen: Generator, n: int) -> None:
        self.gen, self.left = gen, n

    def next(self, ctx: Context) -> Answer:
        if self.left <= 0:
            return None
        ans = self.gen.next(ctx)
        if isinstance(ans, Request):
            self.left -= 1
        return ans


class Until:
    """Exhausted once ``stop()`` is true (e.g. the run was interrupted)."""

    def __init__(self, gen: Generator, stop: Callable[[], bool]) -> None:
        self.gen, self.stop = gen, stop

    def next(self, ctx: Context) -> Answer:
        return None if self.stop() else self.gen.next(ctx)


class Sleep:
    """Ops from nobody for ``seconds`` after it is first asked, then exhausted."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._until_s: float | None = None

    def next(self, ctx: Context) -> Answer:
        if self._until_s is None:
            self._until_s = ctx.time_s + self.seconds
        return Wait(self._until_s) if ctx.time_s < self._until_s else None


class Phases:
    """One generator after another; the next starts only once every op of the previous completed.

    The barrier (``in_flight == 0``) is what lets a final phase read state that
    no earlier op is still changing.
    """

    def __init__(self, *gens: Generator) -> None:
        self.gens = list(gens)
        self._barrier = False

    def next(self, ctx: Context) -> Answer:
        while self.gens:
            if self._barrier:
                if ctx.in_flight > 0:
                    return Wait(ctx.time_s + POLL_S)
                self._barrier = False
            ans = self.gens[0].next(ctx)
            if ans is not None:
                return ans
            self.gens.pop(0)
            self._barrier = True
        return None


class EachProcess:
    """A generator per process, made on first use by ``factory(process)``.

    A retired process's generator is dropped with it; its replacement starts a
    fresh one, as in Jepsen's ``each-thread`` after a crash.
    """

    def __init__(self, factory: Callable[[int], Generator]) -> None:
        self.factory = factory
        self._gens: dict[int, Generator] = {}

    def next(self, ctx: Context) -> Answer:
        gen = self._gens.get(ctx.process)
        if gen is None:
            gen = self._gens[ctx.process] = self.factory(ctx.process)
        return gen.next(ctx)


def drain(gen: Generator, ctx_times: Iterable[float], process: int = 0) -> list[Answer]:
    """The answers a generator gives at the given times (tests and debugging)."""
    return [gen.next(Context(time_s=t, process=process)) for t in ctx_times]
