"""The nemesis schedule: one fault at a time, started and stopped at seeded intervals.

Like Jepsen's ``nemesis/compose`` + a stagger generator: wait, start a random
fault among those chosen, let it act, stop it, repeat until told to stop.
Every choice (which fault, how long, which nodes) comes from the one
``random.Random`` the harness hands in, so ``--seed`` replays the schedule.

Each start and stop is recorded (``record("info", "start-<fault>", details)``)
the moment it happens, so the history shows what the nemesis did and when.
A fault whose effect the backend cannot measure is recorded with its error
and logged loudly, and the schedule stops: carrying on would make a run look
tested under faults it never had. :meth:`NemesisRunner.heal` is the final
word: it stops whatever is active, then asks the backend to undo everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

from splitbrain.nemesis.base import Fault, FaultNotEffective, NemesisContext
from splitbrain.registry import FAULTS

log = logging.getLogger(__name__)


class NemesisRunner:
    def __init__(self, faults: list[str], backend: Any, nodes: list[str], rng: random.Random,
                 record: Callable[[str, str, Any], None], interval_s: float = 5.0) -> None:
        self.faults: dict[str, Fault] = {name: FAULTS.get(name) for name in faults}
        self.names = sorted(self.faults)
        self.backend = backend
        self.rng = rng
        self.record = record
        self.interval_s = interval_s
        self.ctx = NemesisContext(backend=backend, nodes=list(nodes), rng=rng)
        #: faults currently in effect, for the progress display
        self.active: list[str] = []
        self.errors: list[str] = []

    async def run(self, stop: asyncio.Event) -> None:
        if not self.names:
            return
        while not stop.is_set():
            if await self._sleep(stop, self.interval_s * self.rng.uniform(0.5, 1.5)):
                return
            name = self.rng.choice(self.names)
            await self._start(name)
            await self._sleep(stop, self.interval_s * self.rng.uniform(0.5, 1.5))
            await self._stop(name)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when ``stop`` was set meanwhile."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        return stop.is_set()

    async def _start(self, name: str) -> None:
        fault = self.faults[name]
        self.active.append(name)  # even half-applied, it must be stopped
        try:
            details = await fault.start(self.ctx)
        except FaultNotEffective as e:
            self._fail(name, f"start-{name}", e, e.details)
            raise
        except Exception as e:  # noqa: BLE001 - one failed fault must not end the run silently
            self._fail(name, f"start-{name}", e, {})
            return
        self.record("info", f"start-{name}", details)

    async def _stop(self, name: str) -> None:
        if name not in self.active:
            return
        self.active.remove(name)
        try:
            details = await self.faults[name].stop(self.ctx)
        except FaultNotEffective as e:
            self._fail(name, f"stop-{name}", e, e.details)
            raise
        except Exception as e:  # noqa: BLE001
            self._fail(name, f"stop-{name}", e, {})
            return
        self.record("info", f"stop-{name}", details)

    def _fail(self, name: str, f: str, err: Exception, details: dict[str, Any]) -> None:
        text = f"{type(err).__name__}: {err}"
        self.errors.append(f"{f}: {text}")
        log.error("nemesis %s failed: %s", f, text)
        self.record("info", f, {**details, "error": text})

    async def heal(self) -> None:
        """Stop every active fault (recording each stop), then heal the backend. Never raises."""
        for name in list(self.active):
            with contextlib.suppress(Exception):
                await self._stop(name)
        try:
            await self.backend.heal()
        except Exception as e:  # noqa: BLE001 - healing is best effort and must finish
            self.errors.append(f"heal: {type(e).__name__}: {e}")
            log.error("backend heal failed: %s: %s", type(e).__name__, e)
