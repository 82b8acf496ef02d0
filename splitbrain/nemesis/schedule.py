"""The nemesis runner: carries out a :class:`~splitbrain.nemesis.plan.Schedule`, decides nothing.

The schedule was made before the run (:mod:`splitbrain.nemesis.compose`, or
read from a file with ``run --schedule``); the runner waits for each
operation's offset on the run's clock (history time) and starts or stops that
fault window (different fault groups concurrently, one group in order). Before a start, ``ctx.params`` holds the window's drawn
parameters and ``ctx.rng`` is seeded with the window's own seed, so symbolic
targets are resolved, and anything still drawn is drawn, the same way on
replay. Each start and stop is recorded (``record("info", "start-<fault>",
details)``) the moment it happens, with the window number and the planned
offset; :attr:`NemesisRunner.applied` keeps what each symbolic target resolved
to, for ``schedule.json``.

A fault whose effect the backend cannot measure is recorded with its error
and logged loudly, and the schedule stops: carrying on would make a run look
tested under faults it never had. A fault that raises anything else is
recorded and skipped (its stop too). :meth:`NemesisRunner.heal` is the final
word: it stops whatever is active, then asks the backend to undo everything.

A start can take a second on a loaded machine (finding the leader from link
counters, verifying the cut): its stop then waits out the window's planned
length counted from when the start was done, so a late start keeps its whole
window (a 1.3 s leader cut applied 1.2 s late had lasted 0.1 s, too short for
the majority to elect a leader, let alone to write), unless the start says it
changed nothing its window must keep (``"held": False`` in its dict: a
membership change the cluster refused); that stop comes when planned. A stop that restarts
nodes (a kill's, a power loss's) can take seconds on a
loaded machine; the next start of that group then waits out the gap the
schedule planned after that stop, counted from when the stop finished: that
gap is the cluster's recovery window, and starting the next fault the moment
the nodes answer left a whole-cluster power loss following another with no
time to elect a leader (runs that acknowledged 1-3 writes in 30 s). A start
that this pushes past its own planned stop is skipped, as any late start is,
except a fault's essential window, which is applied late instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from splitbrain.nemesis.base import (
    Fault,
    FaultNotEffective,
    Healing,
    NemesisContext,
    group_of,
    holds_essential,
)
from splitbrain.nemesis.plan import FaultOp, Schedule
from splitbrain.registry import FAULTS

log = logging.getLogger(__name__)


class NemesisRunner:
    def __init__(self, schedule: Schedule, backend: Any, nodes: list[str],
                 record: Callable[[str, str, Any], None], clock: Callable[[], float] | None = None) -> None:
        self.schedule = schedule
        self.faults: dict[str, Fault] = {name: FAULTS.get(name) for name in schedule.faults}
        self.backend = backend
        self.record = record
        t0 = time.monotonic()
        #: seconds on the run's clock (history time); the schedule's offsets are on it
        self.clock = clock or (lambda: time.monotonic() - t0)
        self.ctx = NemesisContext(backend=backend, nodes=list(nodes), rng=random.Random(0))
        #: faults currently in effect, for the progress display
        self.active: list[str] = []
        self._windows: dict[str, int] = {}
        self.errors: list[str] = []
        #: per applied start: window, planned and actual offsets, and what it did (targets resolved)
        self.applied: list[dict[str, Any]] = []
        self._broken: FaultNotEffective | None = None
        #: window -> its planned stop; a start reached only after it is skipped, not applied late
        self._stop_at = {w.window: w.stop_s for w in schedule.windows()}
        #: windows skipped because applying the previous ones took longer than planned
        self.skipped: list[int] = []
        #: per fault group: (planned offset, run clock when done) of its last op, for recovery gaps
        self._done: dict[str, tuple[float, float]] = {}
        #: windows whose start changed nothing to keep (``"held": False``): no whole window after it
        self._nothing_held: set[int] = set()
        #: faults whose final heal succeeded: the teardown's heal (a safety net for a run that ended
        #: before its final phase) does not heal them again (each ``heal-membership`` was recorded twice)
        self._healed: set[str] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Apply each op at its offset. Faults of different groups act concurrently (a kill's restart
        must not delay a partition's heal); ops of one group run in order, each after the previous."""
        chains: dict[str, asyncio.Task[None]] = {}
        tasks: list[asyncio.Task[None]] = []
        try:
            for op in self.schedule.ops:
                if self._broken is not None or await self._sleep(stop, op.at_s - self.clock()):
                    break
                group = group_of(self.faults[op.fault])
                task = asyncio.create_task(self._apply(op, chains.get(group), stop))
                chains[group] = task
                tasks.append(task)
        finally:
            await asyncio.gather(*tasks, return_exceptions=True)  # heal must see every applied fault
        if self._broken is not None:
            raise self._broken

    async def _apply(self, op: FaultOp, after: asyncio.Task[None] | None, stop: asyncio.Event) -> None:
        if after is not None:
            with contextlib.suppress(BaseException):
                await after
        group = group_of(self.faults[op.fault])
        try:
            if op.action == "start" and await self._recovering(group, op, stop):
                return
            if (op.action == "start" and self.clock() >= self._stop_at.get(op.window, float("inf")) - 0.05
                    and not holds_essential(self.faults[op.fault], op.params)):
                # a loaded machine made the same fault's earlier windows overrun: applying this one
                # now would push every later fault further behind its time (the window every run
                # must have, base.Essential, is applied late instead: a run whose only
                # whole-cluster power loss was skipped missed its bug)
                self.skipped.append(op.window)
                log.warning("nemesis: window %d (%s) skipped: reached %.2f s after its planned stop",
                            op.window, op.fault, self.clock() - self._stop_at[op.window])
            elif op.action == "start":
                await self._start(op)
            elif self._windows.get(op.fault) == op.window:
                # the window lasts what was planned, counted from when its start was done: a start
                # that ran late (finding the leader, verifying the cut) must not eat the window
                if op.window not in self._nothing_held:
                    await self._recovering(group, op, stop)
                await self._stop(op.fault)
        except FaultNotEffective as e:
            self._broken = self._broken or e
        finally:
            self._done[group] = (op.at_s, self.clock())

    async def _recovering(self, group: str, op: FaultOp, stop: asyncio.Event) -> bool:
        """Hold an op until the gap planned since its group's previous op has passed since that op
        finished (a slow restart must not eat the recovery window, nor a slow start its window);
        True when the run ended meanwhile."""
        if group not in self._done:
            return False
        planned, finished = self._done[group]
        return await self._sleep(stop, finished + max(0.0, op.at_s - planned) - self.clock())

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when ``stop`` was set meanwhile."""
        if seconds > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)
        return stop.is_set()

    async def _start(self, op: FaultOp) -> None:
        name = op.fault
        if name in self.active:  # a hand-edited schedule may overlap a fault with itself
            await self._stop(name)
        fault = self.faults[name]
        self.active.append(name)  # even half-applied, it must be stopped
        self._windows[name] = op.window
        # its own context (shared ``state``): concurrent starts must not see each other's params
        ctx = dataclasses.replace(self.ctx, rng=random.Random(op.seed), params=dict(op.params))
        at = round(self.clock(), 3)
        try:
            details = await fault.start(ctx)
        except FaultNotEffective as e:
            self._fail(name, f"start-{name}", e, {**e.details, "window": op.window})
            raise
        except Exception as e:  # noqa: BLE001 - one failed fault must not end the run silently
            self.active.remove(name)
            self._fail(name, f"start-{name}", e, {"window": op.window})
            return
        if details.get("held") is False:
            self._nothing_held.add(op.window)
        details = {**details, "window": op.window, "scheduled_s": op.at_s}
        self.applied.append({"window": op.window, "fault": name, "scheduled_s": op.at_s, "at_s": at,
                             "details": details})
        self.record("info", f"start-{name}", details)

    async def _stop(self, name: str) -> None:
        if name not in self.active:
            return
        self.active.remove(name)
        window = self._windows.pop(name, None)
        try:
            details = await self.faults[name].stop(self.ctx)
        except FaultNotEffective as e:
            self._fail(name, f"stop-{name}", e, {**e.details, "window": window})
            raise
        except Exception as e:  # noqa: BLE001
            self._fail(name, f"stop-{name}", e, {"window": window})
            return
        self.record("info", f"stop-{name}", {**details, "window": window})

    def _fail(self, name: str, f: str, err: Exception, details: dict[str, Any]) -> None:
        text = f"{type(err).__name__}: {err}"
        self.errors.append(f"{f}: {text}")
        log.error("nemesis %s failed: %s", f, text)
        self.record("info", f, {**details, "error": text})

    async def _final(self, name: str, fault: Healing) -> None:
        """A fault's own final heal (see :class:`~splitbrain.nemesis.base.Healing`), recorded as
        ``heal-<fault>``; a failure is a lost run (recorded in ``errors``)."""
        try:
            details = await fault.heal(self.ctx)
        except asyncio.CancelledError:
            self.errors.append(f"heal-{name}: cut short")
            raise
        except Exception as e:  # noqa: BLE001 - whatever it was, the fault is not healed
            details = {**getattr(e, "details", {}), "error": f"{type(e).__name__}: {e}"}
            self.errors.append(f"heal-{name}: {type(e).__name__}: {e}")
            log.error("nemesis heal-%s failed: %s", name, e)
        else:
            self._healed.add(name)
        self.record("info", f"heal-{name}", details)

    async def heal(self) -> None:
        """Stop every active fault (recording each stop), give each fault with a final heal not yet
        healed its word, then heal the backend. Never raises."""
        for name in list(self.active):
            with contextlib.suppress(Exception):
                await self._stop(name)
        for name, fault in self.faults.items():
            if isinstance(fault, Healing) and name not in self._healed:
                await self._final(name, fault)
        try:
            await self.backend.heal()
        except Exception as e:  # noqa: BLE001 - healing is best effort and must finish
            self.errors.append(f"heal: {type(e).__name__}: {e}")
            log.error("backend heal failed: %s: %s", type(e).__name__, e)


