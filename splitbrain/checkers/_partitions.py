"""Scheduling the partitions' searches: interleaved, and spread over worker processes when it pays.

Partitions (kv keys) are independent, and one may take minutes while another is
illegal in milliseconds, so they are never searched one after another: each
process runs its share *interleaved*, a slice of steps each in turn (the slices
doubling from round to round), and the
first illegal partition ends the whole check (the other workers are terminated).

Worker processes are forked (the searches' inputs are inherited, not pickled) when
there are at least two CPUs this process may run on, at least two partitions left
to search, and at least :data:`PARALLEL_MIN_OPS` ops in them: below that, forking
costs more than the search (the Porcupine corpora's kv files are decided in tens of
milliseconds in one process). Each worker gets an equal share of the memory cap,
measured on its own resident set, and the deadline; partitions are dealt to workers
largest first, to the least loaded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, cast

from splitbrain.checkers._search import Outcome, search
from splitbrain.checkers.memory import rss_mb

__all__ = ["PARALLEL_MIN_OPS", "Job", "Decision", "decide", "usable_cpus"]

#: most slices (of :data:`splitbrain.checkers._search.SLICE` configurations) a partition gets per round
MAX_QUOTA = 8
#: fewest ops (summed over the partitions left to search) for which worker processes pay
PARALLEL_MIN_OPS = 4000


@dataclass
class Job:
    """One partition's search input (see :func:`splitbrain.checkers._search.search`)."""

    call_pos: list[float]
    ret_pos: list[float]
    inputs: list[Any]
    outputs: list[Any]
    step: Callable[[Any, Any, Any], tuple[bool, Any]]
    init: Any
    readonly: list[bool]
    #: reads that name the state they saw (the search's guide), and the model's "on the way to it"
    targets: list[bool] | None = None
    toward: Callable[[Any, Any], bool] | None = None
    #: ops that must come after each op (see :mod:`splitbrain.checkers._appends`)
    after: list[list[int]] | None = None


@dataclass
class Decision:
    #: True (all legal), False (``bad`` is illegal), "unknown" (``limit`` was reached)
    valid: Any
    bad: int | None = None
    outcome: Outcome | None = None
    limit: str = ""
    decided: int = 0
    steps: int = 0
    memo: int = 0
    longest_prefix: int = 0
    undecided_ops: int = 0
    workers: int = 1
    rss_mb: float = 0.0
    seen: list[int] = field(default_factory=list)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _interleave(jobs: list[Job], which: list[int], deadline: float, cap_mb: float | None) -> Decision:
    live: list[tuple[int, Generator[tuple[int, int], None, Outcome]]] = [
        (i, search(j.call_pos, j.ret_pos, j.inputs, j.outputs, j.step, j.init, j.readonly, j.targets, j.toward,
                      j.after))
        for i in which for j in (jobs[i],)]
    d = Decision(valid=True)
    best: dict[int, int] = {}
    quota = 1  # slices per partition per round, doubling: a key that is illegal at once is found at once
    while live:
        still = []
        for i, gen in live:
            try:
                for _ in range(quota):
                    _, best[i] = next(gen)
                still.append((i, gen))
            except StopIteration as done:
                out: Outcome = done.value
                d.steps += out.steps
                d.memo += out.memo
                d.decided += 1
                best.pop(i, None)
                if not out.ok:
                    d.valid, d.bad, d.outcome = False, i, out
                    return d
        live = still
        quota = min(2 * quota, MAX_QUOTA)
        if not live:
            break
        if time.monotonic() > deadline:
            d.limit = "time"
        elif cap_mb is not None:
            now = rss_mb()
            d.rss_mb = max(d.rss_mb, now)
            if now > cap_mb:
                d.limit = "memory"
        if d.limit:
            d.valid = "unknown"
            d.longest_prefix = max(best.values(), default=-1) + 1
            d.undecided_ops = sum(len(jobs[i].inputs) for i, _ in live)
            return d
    return d


#: the jobs of the parallel check in progress, inherited by the forked workers
_JOBS: list[Job] = []


def _worker(send: Any, which: list[int], deadline: float, cap_mb: float | None) -> None:
    """A forked worker: its share's decision (or the error it raised) down its own pipe."""
    try:
        result: Any = _interleave(_JOBS, which, deadline, cap_mb)
    except BaseException as exc:  # noqa: BLE001 - re-raised in the parent
        result = exc
    send.send(result)
    send.close()


def _deal(jobs: list[Job], workers: int) -> list[list[int]]:
    shares: list[list[int]] = [[] for _ in range(workers)]
    load = [0] * workers
    for i in sorted(range(len(jobs)), key=lambda i: -len(jobs[i].inputs)):
        w = load.index(min(load))
        shares[w].append(i)
        load[w] += len(jobs[i].inputs)
    return [s for s in shares if s]


def decide(jobs: list[Job], deadline: float, cap_mb: float | None, workers: int | None = None) -> Decision:
    """Search every job; ``workers`` None picks processes by :func:`usable_cpus` and the size rule above."""
    if workers is None:
        big = sum(len(j.inputs) for j in jobs) >= PARALLEL_MIN_OPS
        workers = min(usable_cpus(), len(jobs)) if big else 1
    if workers <= 1 or len(jobs) <= 1:
        return _interleave(jobs, list(range(len(jobs))), deadline, cap_mb)
    import multiprocessing as mp  # here, not at the top: most checks never fork, and it costs ~20 ms to import

    if "fork" not in mp.get_all_start_methods():
        return _interleave(jobs, list(range(len(jobs))), deadline, cap_mb)
    from multiprocessing.connection import Connection, wait

    global _JOBS
    _JOBS = jobs
    shares = _deal(jobs, workers)
    per_cap = None if cap_mb is None else cap_mb / len(shares)
    total = Decision(valid=True, workers=len(shares))
    ctx = mp.get_context("fork")
    # One process and one pipe per share, not a Pool: a Pool's workers share one result queue
    # behind one lock, and terminating them (on the first illegal share) can kill one while it
    # holds that lock, after which Pool.terminate waits on it for ever (seen: a check hung).
    # A worker killed here takes only its own pipe with it.
    running: dict[Connection, Any] = {}
    try:
        for share in shares:
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker, args=(send, share, deadline, per_cap), daemon=True)
            proc.start()
            send.close()
            running[recv] = proc
        while running:
            for ready in wait(list(running)):
                conn = cast(Connection, ready)
                proc = running.pop(conn)
                d: Any
                try:
                    d = conn.recv()
                except EOFError:
                    proc.join()
                    d = Decision(valid="unknown", limit=f"a checker worker died (exit code {proc.exitcode})")
                if isinstance(d, BaseException):
                    raise d
                total.decided += d.decided
                total.steps += d.steps
                total.memo += d.memo
                total.rss_mb = max(total.rss_mb, d.rss_mb)
                if d.valid is False:
                    d.decided, d.steps, d.memo, d.workers = total.decided, total.steps, total.memo, total.workers
                    return d
                if d.valid != True:  # noqa: E712 - "unknown" is truthy
                    total.valid, total.limit = "unknown", d.limit
                    total.longest_prefix = max(total.longest_prefix, d.longest_prefix)
                    total.undecided_ops += d.undecided_ops
    finally:
        _JOBS = []
        for conn, proc in running.items():
            proc.kill()
            proc.join()
            conn.close()
    return total
